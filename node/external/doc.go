// Package external hosts spout and bolt tasks whose code runs in another
// process: the server side of the Attach protocol (sdk/ATTACH.md).
//
// A Hub is the gRPC AttachService. A task that runs externally registers a
// Slot with the hub; a process that attaches with a hello naming that task
// (managed processes, started by a Supervisor with the task's identity in
// their environment) or naming only its component (attached processes,
// started by anyone) is welcomed and handed to the slot as a Session. The
// node's executor (package node) then drives the session: it is the only
// goroutine that reads the session's frames and sends on it.
//
// Sessions never block their sender: outgoing frames queue without bound and
// a writer goroutine sends them. The executor bounds what it queues (the
// in-flight window, one outstanding next request), so the queue stays small,
// and a process that writes while the node writes cannot deadlock the pair
// (each side of a bidirectional stream must read while it is blocked
// writing). Incoming frames are read by the stream's goroutine into a small
// channel: when the executor stops taking them (its downstream is full),
// HTTP/2 flow control stops the process.
package external
