// Package attach runs a Go spout or bolt as an external process that speaks
// Gale's Attach protocol (sdk/ATTACH.md) to a node, the way the Python and
// TypeScript SDKs do. Most Go components run inside the node (registered
// with sdk.RegisterBolt); this is for Go components that must live in a
// process of their own: their own binary, release cycle or resources.
//
//	func main() { attach.Main(&MyBolt{}) }
//
// and in the topology:
//
//	bolts:
//	  - id: enrich
//	    run: [./enrich]
//	    outputs: {default: [user, country]}
//
// The process reads its identity from the environment the node gives a
// managed process (GALE_ATTACH_ADDR, GALE_TOPOLOGY, GALE_COMPONENT,
// GALE_TASK_ID, GALE_TOKEN); an attached process started by hand sets the
// first three (and GALE_TOKEN if the component has one) and leaves the task
// to the node. A node with mutual TLS also sets GALE_TLS_CA, GALE_TLS_CERT
// and GALE_TLS_KEY, and the process connects with them (Options.TLS;
// package security).
//
// Component methods are called from one goroutine, as in the node. Emits
// are checked against the declared outputs from the welcome: an emit to an
// undeclared stream or with the wrong number of values panics inside
// Execute, which fails that input and reports the error to the node; the
// error, as that of any panic in a component's method, ends with the line
// it happened at, "(at dir/file.go:N)".
//
// A spout's message ids are what they are in the node, 0 included: the
// wire keeps 0 for unreliable emits, so the SDK sends each id plus one and
// takes the one off the ids of acks and fails (only math.MaxUint64 cannot
// be used).
//
// Outgoing emits and acks go in one ordered buffer (an anchored emit must
// reach the node before its input's ack), sent as one frame per run of the
// same kind at the end of each input batch.
//
// Main stops gracefully on SIGTERM or SIGINT (sdk/ATTACH.md, "Ending"): the
// hook that runs finishes and no other starts, its acks and emits are sent,
// the stream is half-closed, and once the node has ended it Close or
// Cleanup runs; the process exits 0 after SIGTERM, 130 after SIGINT. Run
// does the same when its context is cancelled.
package attach
