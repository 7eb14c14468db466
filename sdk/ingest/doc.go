// Package ingest is Gale's built-in HTTP ingest spout, class
// gale.HTTPIngest: web pages (examples/webanalytics/tracker.js) and other
// clients POST batches of JSON events, and each accepted event becomes one
// reliable tuple. The event contract, on the wire and in the topology, is
// examples/webanalytics/EVENTS.md. The gale binary links this package, so
// a topology only names the class:
//
//	spouts:
//	  - id: ingest
//	    class: gale.HTTPIngest
//	    config: {ingest.addr: "127.0.0.1:8080", ingest.assets: webanalytics}
//
// # Configuration
//
//	key                 default          meaning
//	ingest.addr         127.0.0.1:8080   HOST:PORT of task 0; task i listens on PORT+i
//	                                     (with parallelism p, ports PORT..PORT+p-1 must be
//	                                     free); port 0: every task picks a free port and
//	                                     logs it (level info)
//	ingest.max_body     1048576          largest request body in bytes (413 above)
//	ingest.max_pending  65536            accepted events a task holds until acked; a request
//	                                     that would exceed it gets 503 with Retry-After: 1,
//	                                     a batch larger than it 413
//	ingest.cors_origin  *                Access-Control-Allow-Origin: "*", or a comma-separated
//	                                     list of origins (the request's Origin is echoed when
//	                                     listed, with Vary: Origin)
//	ingest.assets       (none)           name of a set of static files registered with
//	                                     RegisterAssets, served at GET / (index.html) and
//	                                     GET /PATH; examples/webanalytics registers
//	                                     "webanalytics" (tracker.js, the demo page)
//	ingest.confirm      processed        when a POST is answered: "processed", 200 once
//	                                     every event of it went through the topology (its
//	                                     tuple tree was acked); "received", 202 as soon as
//	                                     its events are validated and queued (see Reliability)
//	ingest.confirm_timeout_ms  30000     with confirm: processed, the longest a request
//	                                     waits before it is answered 503 (1 to 600000)
//	ingest.tls_cert     (none)           PEM file of the certificate (chain, leaf first) to
//	ingest.tls_key      (none)           serve HTTPS with, and of its private key: both or
//	                                     neither (see HTTPS)
//
// # HTTP
//
//	POST /events     a JSON array of events, or {"events": [...]}; Content-Type
//	                 application/json, text/plain (navigator.sendBeacon) or none.
//	                 200 {"processed": N} once all N events were processed (confirm:
//	                 processed), or 202 {"accepted": N} once they are queued (confirm:
//	                 received); 400 {"error": "...", "index": I} for the first
//	                 bad event (index absent when the body as a whole is wrong); 413 for a
//	                 body over ingest.max_body; 415 for another Content-Type; 503 with
//	                 Retry-After when ingest.max_pending would be exceeded, the task is
//	                 closing, or (confirm: processed) the events were queued but not
//	                 processed within ingest.confirm_timeout_ms or before the task
//	                 stopped: send them again. A batch is accepted whole or not at all.
//	OPTIONS /events  CORS preflight: 204 with Allow-Methods POST, OPTIONS, the requested
//	                 headers allowed, Max-Age one day.
//	GET /healthz     200 {"status": "ok", "pending": N, "accepted": N} (503 when closing).
//	GET /PATH        the configured assets, if any.
//
// Every answer carries the CORS headers; Retry-After is exposed to scripts.
//
// # HTTPS
//
// A page served over HTTPS cannot send to an http:// address (browsers
// block mixed content), so a tracker on such a page needs the ingest to
// serve HTTPS: set ingest.tls_cert and ingest.tls_key. The task then
// serves TLS 1.2 or later, HTTP/2 and HTTP/1.1, on the same address, and
// answers plain HTTP with 400. The files are paths on the machine that
// runs the task (relative ones from its working directory); they are read
// at Open, where a missing file or a key that is not the certificate's
// fails with the keys and files, and read again when they change (looked
// at, at most once a second, at a handshake), so a renewed certificate is
// served to new connections without a restart. A renewal caught half
// written keeps the previous pair and logs a warning. Spout.URL gives the
// scheme a task serves.
//
// # Reliability
//
// Each queued event gets the next message id of its task (1, 2, ...)
// when it is first emitted, and stays in the task's memory until its tuple
// tree is acked. A failed or timed-out event is emitted again, with the same
// message id, before any new event, until it is acked: no queued event is
// dropped while the task lives. Events live in memory only, so those not yet
// acked when a task stops (killed, rebalanced, its node lost) go with it.
//
// With ingest.confirm: processed (the default) that loses nothing: a
// request is answered 200 only after every one of its events was processed,
// so an event whose task stops first was never confirmed, and its client
// sends it again. A waiting request is answered 503 with Retry-After when
// its task closes (gale kill, a rebalance, a node draining) or
// ingest.confirm_timeout_ms passes; a node that dies (kill -9) breaks the
// connection instead. tracker.js and `gale demo traffic` resend
// on both. The guarantee is at-least-once from the client: an event whose
// request was answered 503 (or lost its connection) may have been processed
// anyway and then arrives twice; while a topology is stalled (deactivated,
// or its queues full), a client that resends after each timeout adds
// copies up to ingest.max_pending. A client that closes its sending side
// while it waits gets 503 too: net/http cannot tell it from one that left.
// The price is latency, not throughput: the answer waits for the
// topology's complete latency (milliseconds), so a client sends its
// batches one after another or keeps several in flight.
//
// With ingest.confirm: received, the 202 only says the events were
// queued; those not processed when their task stops are lost (and counted
// in a warning). Use it for clients that cannot resend, such as
// navigator.sendBeacon, whose answer nobody reads anyway.
//
// Replays and resends mean the same event can reach the bolts twice.
//
// # Performance
//
// Bodies are decoded by a hand-written, reflection-free JSON reader (Decode)
// that validates while it reads; the strings of a batch are copied into one
// small arena (a visitor id or page shared by consecutive events is stored
// once), so the request buffer is reused at once and a pending event pins
// only its batch's strings. HTTP handlers hand whole batches to the
// spout's goroutine through a mutex-guarded slice swap; NextTuple emits at
// most 256 tuples a call and never waits. BenchmarkIngest measures events/s
// from HTTP requests to emitted tuples.
//
// # Life cycle
//
// Open binds the listener (a taken port fails Open, naming the address and
// key) and starts the server; Close shuts it down gracefully (requests in
// progress get 3 s) and waits for its goroutines. The runtime calls the
// sdk.Spout methods from one goroutine; handlers run concurrently and only
// touch the inbox and atomic counters.
package ingest
