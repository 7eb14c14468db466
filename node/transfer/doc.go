// Package transfer is the node-to-node data plane: one bidirectional gRPC
// Transfer stream per ordered pair of nodes and topology run, carrying
// batches of tuples, acker operations and end-of-input markers.
//
// A Sender turns the runtime's batches into frames, one frame per batch
// (never one message per tuple), and keeps the stream open, reopening it
// after a failure; a send that fails reports an error so
// that the caller can fail the affected tuple trees at once (they replay)
// instead of losing them silently. The Server decodes frames and hands
// them to the Receiver registered for the topology run. Frames travel as
// galev1.TransferFrame, TransferRequest's twin on the wire whose tuples
// and acks stay bytes: wire.go encodes batches straight into those bytes
// and decodes them straight back, byte for byte what protobuf would write.
// Anchor ids and acker roots and xor values, random 53-bit numbers, travel
// as fixed64 columns (PackedTuples.fixed_roots, AckBatch.fixed_roots):
// as varints they took eight bytes too, and writing and reading them byte
// by byte was about a sixth of a node's CPU. The decoder still reads the
// varint columns that nodes wrote before; a node from before then cannot
// read the new frames, so a cluster's nodes are upgraded together. The
// byte credit window (credit.go) is negotiated instead: a receiver says
// that it grants bytes before any tuple, and a sender waits on bytes only
// where one did, so nodes from before it and after it work together.
//
// Flow control is per destination task, by credit (credit.go): the
// receiver never stops reading a stream, so one full task queue cannot
// hold up the other tasks' tuples, the acker operations and the markers on
// the same stream (which, with flows crossing between two nodes, used to
// deadlock them). Each sender has a window of tuples per destination task;
// SendTuples waits while its task has no credit left, and the receiver
// grants tuples back once they are in the task's queue. So a slow task
// slows exactly the emitters of its tuples, across the network, and
// nothing is dropped. Acker operations and markers take no credit. Tuples
// for a task the receiving node does not run are answered with a TaskMoved
// frame naming their trees, so the sender fails them fast.
package transfer
