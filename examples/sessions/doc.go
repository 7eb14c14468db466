// Package sessions is Gale's session-window example: visitors' events
// (cursor moves, clicks, ...) from a JSON-lines file are grouped into
// event-time sessions per visitor with sdk/window, and the sessions are
// written to one file sorted by visitor, then start. Importing the package
// (as the gale binary does) registers:
//
//	sessions.JSONLinesSpout  spout: emits visitor, ts, type, page, x, y;
//	                         and the end of event time on stream "watermark"
//	sessions.Sessionize      bolt (sdk/window sessions keyed by visitor):
//	                         emits visitor, start, end, events; late
//	                         events on stream "late"; writes the output
//
// # Input
//
// One JSON object a line:
//
//	{"visitor":"v1","ts":1700000000000,"type":"move","page":"/","x":10,"y":20}
//
// visitor (a non-empty string without tab or newline), ts (an integer,
// epoch milliseconds) and type (a string) are required; page (a string)
// and x, y (numbers) are optional; other keys are ignored. Empty lines
// are skipped silently. A line that is not a JSON object, lacks a
// required field or has one of the wrong type is skipped: the spout
// reports "PATH:LINE: what is wrong" as a task error (the first 100, then
// a count) and logs it, and the run goes on.
//
// # Configuration
//
//	sessions.input                 the JSON-lines file (required)
//	sessions.output                the sessions file; empty: each task
//	                               logs its session count instead
//	sessions.gap_ms                session gap in ms (default 1800000, 30 min)
//	sessions.out_of_orderness_ms   how far behind the latest event an event
//	                               may come and still be on time (default
//	                               10000); further behind it is late
//	sessions.allowed_lateness_ms   allowed lateness (default 0)
//	sessions.timeout_check         error, warn or off (default off): the
//	                               window's message-timeout check, which
//	                               assumes live traffic; a recorded file
//	                               replays event time far faster than the
//	                               wall clock, so it is off here
//	sessions.batch                 most lines a NextTuple call emits (64)
//
// # Output
//
// visitor<TAB>start_ts<TAB>end_ts<TAB>events lines, sorted by visitor (byte
// order) then start, where start_ts and end_ts are the times of the
// session's first and last event and events their number. Two consecutive
// events of a visitor (in time order) are in one session when the later is
// at most gap_ms after the earlier. When the input ends, each Sessionize
// task merges its sorted sessions into the output under a flock
// (examples/internal/mergefile, as word count does). Late events are not
// in any session; their number is logged as a warning.
//
// # Reliability
//
// Each line is a reliable emit with its line number as message id. The
// Sessionize bolt acks on fire (sdk/window.AckOnFire): a line's tree
// completes when its session was written, so a failure replays it. After
// the last line the spout emits the end of event time on stream
// "watermark", to every Sessionize task (all grouping): the open sessions
// fire, their trees complete, and the spout's end of input follows. The
// topology sets topology.max.spout.pending to 0 (unbounded), since the
// events of open sessions stay pending until their sessions close.
package sessions

// Class names under which init registers the components.
const (
	ClassSpout      = "sessions.JSONLinesSpout"
	ClassSessionize = "sessions.Sessionize"
)

// Config keys; see the package documentation.
const (
	KeyInput          = "sessions.input"
	KeyOutput         = "sessions.output"
	KeyGapMS          = "sessions.gap_ms"
	KeyOutOfOrderness = "sessions.out_of_orderness_ms"
	KeyLateness       = "sessions.allowed_lateness_ms"
	KeyTimeoutCheck   = "sessions.timeout_check"
	KeyBatch          = "sessions.batch"
)

// Defaults of the keys.
const (
	DefaultGapMS          = 30 * 60 * 1000
	DefaultOutOfOrderness = 10_000
)

// EventFields are the fields of the spout's default stream.
var EventFields = []string{"visitor", "ts", "type", "page", "x", "y"}
