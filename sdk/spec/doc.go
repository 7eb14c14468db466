// Package spec reads, checks and explains Gale topology specs.
//
// A topology reaches Gale as a *galev1.TopologySpec, whether it was written
// in YAML (a Storm Flux-like format, described in FORMAT.md beside this
// file) or built in code with a builder (sdk.TopologyBuilder). Both end in
// the same checks, so a topology is valid or not regardless of how it was
// written, and the coordinator can re-check a submitted spec with the very
// same code.
//
// # Entry points
//
//   - Parse and Load read YAML into a spec.
//   - Check fills in the outputs of Go component classes through a
//     Resolver and validates; builders call it.
//   - Validate checks a complete spec without a registry; the coordinator
//     calls it on submitted specs.
//   - ParseConfFlag reads a --conf key=value flag into a config value.
//
// # Errors
//
// A bad spec never panics and never produces a stack trace: every problem
// is an *Error, and all problems found (up to MaxErrors) come back together
// as an ErrorList, sorted by line, so one run shows everything to fix.
// From YAML each error reads like a compiler's:
//
//	topo.yaml:14:18: bolt 'count': fields grouping on 'split': stream 'default' has no field 'wrd' (its fields: word)
//
// # How errors find their line
//
// Validation runs on the proto, which has no positions. Each error instead
// carries a Path into the spec, such as components[2].inputs[0].grouping
// .fields[1] or config["topology.workers"]. While reading YAML, the loader
// records, for the path of every value it stores in the proto, the
// yaml.Node it came from; it then gives each validation error the line and
// column of the node recorded for the error's path, or for the longest
// prefix of the path that has one (a missing field is reported at the map
// that lacks it). Inputs wired through Flux's top-level streams: list map
// to the streams entry, because that is where they were written. Specs
// built in code have no positions, so every message also names the
// component and field in words ("bolt 'count': ...").
//
// The loader also suppresses follow-on errors: where it has already
// reported a problem (a misspelled grouping name), errors that validation
// finds at or below the same path (grouping not set) are dropped, and
// inputs from a component whose outputs could not be read or resolved are
// not checked against its streams.
package spec
