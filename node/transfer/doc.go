// Package transfer is the node-to-node data plane: one bidirectional gRPC
// Transfer stream per ordered pair of nodes and topology run, carrying
// batches of tuples, acker operations and end-of-input markers.
//
// A Sender turns the runtime's batches into TransferRequest frames, one
// frame per batch (never one message per tuple), and keeps the stream
// open, reopening it after a failure; a send that fails reports an error so
// that the caller can fail the affected tuple trees at once (they replay)
// instead of losing them silently. The Server decodes frames and hands
// them to the Receiver registered for the topology run. A Receiver blocks
// while the destination task's queue is full; the stream then stops being
// read, HTTP/2 flow control stops the sender, and backpressure crosses the
// network. Tuples for a task the receiving node does not run are answered
// with a TaskMoved frame naming their trees, so the sender fails them fast.
package transfer
