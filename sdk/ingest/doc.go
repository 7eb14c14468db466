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
//
// # HTTP
//
//	POST /events     a JSON array of events, or {"events": [...]}; Content-Type
//	                 application/json, text/plain (navigator.sendBeacon) or none.
//	                 202 {"accepted": N}; 400 {"error": "...", "index": I} for the first
//	                 bad event (index absent when the body as a whole is wrong); 413 for a
//	                 body over ingest.max_body; 415 for another Content-Type; 503 with
//	                 Retry-After when ingest.max_pending would be exceeded or the task is
//	                 closing. A batch is accepted whole or not at all.
//	OPTIONS /events  CORS preflight: 204 with Allow-Methods POST, OPTIONS, the requested
//	                 headers allowed, Max-Age one day.
//	GET /healthz     200 {"status": "ok", "pending": N, "accepted": N} (503 when closing).
//	GET /PATH        the configured assets, if any.
//
// Every answer carries the CORS headers; Retry-After is exposed to scripts.
//
// # Reliability
//
// Each accepted event gets the next message id of its task (1, 2, ...)
// when it is first emitted, and stays in the task's memory until its tuple
// tree is acked. A failed or timed-out event is emitted again, with the same
// message id, before any new event, until it is acked: no accepted event is
// dropped while the task lives. Since events live in memory only, the events
// accepted but not yet acked when a task stops (killed, rebalanced, its node
// lost) are lost: the guarantee is at-least-once from the 202 onwards for the
// life of the task, not across task restarts. Clients that need more must
// resend what they cannot confirm was processed. Replays mean the same event
// can reach the bolts twice.
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
