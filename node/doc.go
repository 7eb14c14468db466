// Package node is Gale's task runtime: the executors that run spout and
// bolt tasks, the XOR acker, and (in later issues) the peer process with
// membership, etcd registration and the gRPC server.
//
// # Data path
//
// Each task runs on its own goroutine. An emit is routed by the
// subscription's grouper (package router) to destination tasks and
// appended to a per-destination batch in the task's Outbox; values are
// copied into the batch's arena, so a warm emit allocates nothing. A batch
// is delivered to the destination's bounded queue when it is full (size
// bound) or when its first tuple has waited for the linger bound; a task
// whose input runs dry sleeps until then instead of flushing tiny batches
// at once, which keeps an idle topology nearly free. A full queue blocks
// the emitter: backpressure slows the spouts and nothing is dropped.
//
// # Reliability
//
// Storm's model: a spout's reliable emit starts a tuple tree with a random
// root id; every tuple carries (root, edge id) anchors; bolts anchor their
// emits to inputs and ack or fail inputs; acker tasks, chosen by root id,
// xor the edge ids and report completion or failure to the spout task,
// which calls the spout's Ack or Fail. The acker holds about 20 bytes per
// in-flight tree in an open-addressing table. Timeouts are progress-aware
// (see acker.go): a tree that waits behind older queued work is not
// replayed. With topology.acker.executors = 0 acking is off (at-most-once):
// tuples are unanchored and reliable emits are acked at once.
//
// # End of input
//
// A finite spout declares end of input (SpoutCollector.End). Once none of
// its trees is pending and it emits nothing more, the task sends an
// end-of-input marker after its last batch to every downstream task; a bolt
// that has the markers of all its upstream tasks has executed everything
// they sent, calls its Finish (sdk.Finisher), and passes the marker on.
// Runtime.Run returns nil when every task has ended. A task counts each
// upstream task's marker once (markers from other nodes are sent again on
// every new Transfer stream, since one may be lost with a broken stream).
//
// # Distributed runs
//
// A Peer runs the tasks its node's assignment gives it; tuples, acker
// operations and markers for tasks elsewhere go over one Transfer stream
// per pair of nodes (package transfer). Flow control is per destination
// task, by credit: an emitter waits only while its destination task has no
// credit, and a node never stops reading a stream, so acks and markers
// never wait behind tuples and flows crossing between two nodes cannot
// deadlock. What arrives while a task's queue is full waits in the task's
// overflow lane (receiver.go), bounded by the credit its senders hold.
// Queues and credit windows count bytes as well as tuples (the string and
// bytes values: Settings.QueueBytes, BatchBytes), so large tuples cannot
// fill a node's memory while the counts allow thousands of them.
//
// When the assignment changes while a run goes on (a node joined, left or
// died, or a rebalance), each node moves only the tasks that move
// (Runtime.Reassign): it starts the tasks it gains and stops the ones it
// loses, failing the trees of tuples still queued for them so they replay
// at once, and every other task keeps running with its state and its
// in-flight trees. Tuples on their way to a task that left are refused by
// its old node and replayed (transfer.ErrTaskNotHere). An acker task that
// moves hands the state of its trees over to its new node, and acker
// operations that reach the old node later are passed on (once).
//
// As each local spout and bolt runs to its end of input, the node reports
// it in etcd. A node given a task that ended elsewhere does not run it
// again: it only sends the task's end-of-input markers again. The elected
// leader marks the topology FINISHED once the reports cover every task,
// and from then on no node runs it, whatever nodes join or leave (package
// coordinator).
//
// # Settings
//
// The topology.* config keys the runtime reads are listed in
// sdk/CONFIG.md and in Settings.
package node
