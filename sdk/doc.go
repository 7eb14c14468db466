// Package sdk is Gale's Go SDK: the interfaces a spout or bolt implements,
// the collectors it emits, acks and fails through, the value and tuple
// types, topology config, the registry of Go components by class name, and
// the TopologyBuilder and YAML loader that produce a gale.v1.TopologySpec.
//
// # Components
//
// A spout implements Spout (Open, NextTuple, Ack, Fail, Close); a bolt
// implements Bolt (Prepare, Execute, Cleanup). Both declare their output
// streams in DeclareOutputFields. Optional abilities are extra interfaces
// the runtime checks for: Finisher (a bolt's end of input) and Activator (a
// spout's activation). The runtime calls a task's methods from one goroutine,
// so components need no locking.
//
// # Reliability
//
// A spout's Emit with a message id starts a tuple tree; a bolt's Emit
// anchored to its input adds to the tree; Ack and Fail settle inputs. The
// spout's Ack(msgID) runs when the whole tree completed, Fail(msgID) when a
// tuple failed or the tree made no progress for the message timeout; the
// spout replays by emitting again. EmitUnreliable, unanchored emits, and
// topologies with topology.acker.executors = 0 are at-most-once.
//
// # Values without boxing
//
// Tuple fields are Value, a 32-byte tagged union (string, int, double,
// bool, bytes, null) passed by value: emitting a tuple of scalars allocates
// nothing. A *Tuple given to Execute is valid until Execute returns; keep
// t.Clone() to hold it longer.
//
// # Topologies
//
// Register Go components in an init function (RegisterSpout,
// RegisterBolt), then describe the topology in YAML (LoadTopology; the
// format is sdk/spec/FORMAT.md) or with NewTopologyBuilder. Both validate
// the same way. Run it with `gale local FILE.yaml` or, from Go, with
// node.New(spec, ...).Run(ctx). Config keys the runtime reads are listed in
// sdk/CONFIG.md.
package sdk
