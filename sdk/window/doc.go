// Package window turns a small function into a windowed Gale bolt:
// event-time session windows keyed by a field, tumbling and sliding
// windows by event time or by count.
//
//	cfg := window.DefaultConfig()
//	cfg.Window = window.Session(30 * time.Minute)
//	cfg.KeyField, cfg.TimeField = "visitor", "ts"
//	cfg.OutOfOrderness = 5 * time.Second
//	cfg.OutputFields = []string{"visitor", "start", "end", "events"}
//	cfg.LateFields = []string{"visitor", "ts", "page"}
//	sdk.MustRegisterBolt("web.Sessionize", func() sdk.Bolt {
//		return window.New(cfg, func(w window.Window, events []*sdk.Tuple, out *window.Output) {
//			out.Emit(sdk.String(w.Key), sdk.Int(w.Start), sdk.Int(w.End), sdk.Int(int64(len(events))))
//		})
//	})
//
// For large windows aggregate incrementally instead (NewAggregate, see
// "Incremental aggregation"): the bolt then keeps an accumulator per
// window, not its events.
//
// Subscribe the bolt with fields grouping on the key field, so that each
// key lives in one task. Config.Validate names the bad field of a bad
// configuration; Prepare runs it (after the WithPrepare hook, which may
// fill the configuration from the task's config keys), and refuses a
// KeyField or TimeField that an input stream does not declare
// (sdk.TaskContext.Inputs; the watermark stream is not checked).
//
// # Event time and watermarks
//
// Event time is an integer number of milliseconds in TimeField. Each task
// keeps a watermark: the largest event time it has seen minus
// OutOfOrderness (bounded out-of-orderness, as Flink's
// forBoundedOutOfOrderness), never moving back. An event is late when its
// time is before watermark - AllowedLateness: it is emitted unchanged on
// the late stream (LateStream, fields LateFields; anchored to it) and acked,
// and it joins and opens nothing.
//
// Besides events, three things move the watermark:
//
//   - Punctuations: a tuple on PunctuationStream ("watermark") whose field
//     0 is a watermark from its source task. The bolt uses the least over
//     every task of each component that has sent one (tasks not heard from
//     yet hold it back), as a Flink operator does with its input channels.
//     EndOfEventTime (math.MaxInt64) fires every open window: a finite
//     spout sends it, with all grouping, when its input is exhausted (see
//     "Finite inputs" below).
//   - Ticks, with IdleTimeout > 0: a tick tuple (topology.tick.tuple.freq.secs
//     on the component) arriving when no event came for IdleTimeout of
//     wall-clock time raises the watermark to largest time -
//     OutOfOrderness + the wall time since the last event: a quiet input
//     still closes its sessions. Without IdleTimeout ticks move nothing.
//   - The end of input (sdk.Finisher): every open window fires, in the
//     order below, before the WithFinish hook runs.
//
// Windows fire as soon as the watermark passes their deadline, whatever
// moved it (an event, a punctuation, a tick), so idle keys close on other
// keys' events too. Several windows due at once fire ordered by deadline,
// then key (byte order), then start; the end of input and EndOfEventTime
// use the same order. The function gets the window's events sorted by
// event time, equal times in arrival order.
//
// # Session windows
//
// Two consecutive events of a key (in time order) are in one session when
// the later is at most Gap after the earlier. "Touching" counts: events
// exactly Gap apart are in one session, as in Flink, whose per-event
// windows [t, t+gap) merge when they intersect or touch. An event at t
// joins a session [start, end] (the times of its first and last event)
// when start - Gap <= t <= end + Gap; an out-of-order event within Gap of
// two sessions merges them. A session fires when
//
//	watermark > end + Gap + AllowedLateness
//
// the first moment no event that is not late can reach it, so each
// session fires exactly once, with all its events; allowed lateness
// delays results instead of updating them (Flink fires early and again
// per late event; one final result per session suits downstream
// aggregates that cannot retract). The cases in testdata/sessions pin all
// of this down as data for every SDK.
//
// # Time windows
//
// Tumbling(size) windows are [k*size, (k+1)*size); Sliding(size, slide)
// windows are [k*slide, k*slide+size), size a multiple of slide, aligned
// to the epoch (times before it included). Window.Start and End are those
// bounds. A window fires when watermark > End - 1 + AllowedLateness, with
// its events; empty windows do not fire. An event is stored once, in its
// slide-sized pane, whatever the number of windows containing it.
//
// # Count windows
//
// TumblingCount(n) fires every n events of a key with those events;
// SlidingCount(n, every) fires every `every` events of a key with its last
// n (fewer at the start), in arrival order, as Storm's count windows. They
// ignore watermarks and lateness; TimeField, if set, only fills
// Window.Start and End with the first and last event time. An event is
// released (acked) as soon as no later window can contain it. At the end
// of input (or EndOfEventTime) a key with arrivals since its last window
// fires it early with the events it holds.
//
// # Incremental aggregation
//
// NewAggregate takes an Aggregate (New, Add, Merge, Result; as Flink's
// AggregateFunction with its merge for session windows) instead of a
// Func. Each event is folded into its window's accumulator on arrival
// (for time windows, into its pane's: a sliding window's accumulator is
// the Merge of its panes', in time order, computed when it fires), and
// Result gets the accumulator when the window fires. Everything else is
// as with New: the same windows fire at the same moment in the same
// order, with the same lateness, late stream, merging and acking
// (TestAggregateSessionCases runs the shared cases; a random test compares
// sessions, tumbling and sliding windows with the event-holding engine).
// Count windows take a Func only.
//
// Order: Add sees events in arrival order, not sorted; within the
// out-of-orderness bound (and AllowedLateness) they may come out of time
// order. An aggregate that depends on the order of events (the distance
// between consecutive positions, the time between consecutive events) is
// then exact only for events that arrive in time order: make it
// order-insensitive, or document its approximation. Merges, however,
// are in time order: Merge(a, b) gets a's events all earlier than b's; an
// event that bridges two sessions is added to the earlier first.
//
// Memory: in AckOnReceipt mode (or with acking off) the bolt retains no
// input: t passed to Add is valid during the call only, and an open
// window costs its accumulator plus about 100 bytes (TestAggregateRetainsNoInput).
// In AckOnFire mode the bolt must still hold every input (a Clone) until
// its window fires, to anchor the result to it and then ack it, so memory
// is that of New plus the accumulators: incremental aggregation saves
// memory only with AckOnReceipt (it still saves the window function's pass
// over the events).
//
// A panic in Add or Merge is reported and drops the event (failed in
// AckOnFire mode, so it replays; acked otherwise); an accumulator updated
// in place may then be partly updated. A panic in Result is handled as
// one in a Func.
//
// # Delivery guarantee
//
// AckOnFire (the default) is at-least-once for the windows' results, with
// Storm's acking:
//
//   - An input is held (a Clone) until the last window containing it has
//     fired. The function's emits (Output.Emit) are anchored to every input
//     of the window, and the inputs are acked after the function returns,
//     so a result that fails downstream fails the inputs' trees and they
//     replay. A panic in the function is reported and fails the window's
//     inputs.
//
//   - A node failure loses the task's open windows, but not their inputs:
//     none of them was acked, so their trees time out and the spouts replay
//     them to the task's new home, which rebuilds the windows from them.
//     Replays arrive at least a message timeout later; they rebuild their
//     sessions if they are not late there, i.e. if AllowedLateness covers
//     the replay delay (in event time); otherwise they are delivered on the
//     late stream. Either way every input ends up in a result or on the
//     late stream: none is lost (TestAckOnFireReplay*).
//
//   - Duplicates: a window whose result was emitted but whose inputs were
//     then replayed (the result failed downstream, or the node died after
//     emitting and before the acks reached the acker) is produced again.
//     Make downstream writes idempotent by (key, start).
//
//   - The message timeout must exceed the time an input is held, or its
//     tree times out while the window is merely open, and it replays as a
//     duplicate. For the last event of a window that is the event-time span
//     after it (Gap, or Size, plus OutOfOrderness and AllowedLateness; or
//     IdleTimeout if longer) plus one tick interval, assuming event time
//     runs at the pace of the wall clock (live traffic). Prepare checks
//
//     topology.message.timeout.secs > span + topology.tick.tuple.freq.secs
//
//     and fails with ErrTimeout (TimeoutCheck: CheckWarn only reports it,
//     CheckOff skips it, e.g. for replays of recorded data, where event
//     time runs far ahead of the wall clock).
//
//   - Earlier events of a session are held for the session's duration on
//     top of that, longer than any timeout for a long session. So every
//     held event has its tree's timeout reset (BoltCollector.ResetTimeout,
//     Storm's resetTimeout) once a third of the timeout has passed since
//     the last reset, checked on every input and tick tuple
//     (Stats.Touches counts the rounds): a session stays open as long as
//     its events keep coming, without its first events replaying. A round
//     costs an acker operation per held event. An Emitter that cannot
//     reset timeouts (a test harness) ignores the resets; there, sessions
//     that last longer than the timeout in wall-clock time replay their
//     first events (late: sent to the late stream, or dropped without
//     one).
//
//   - Without IdleTimeout, a quiet input holds open windows (and their
//     inputs) until the next event: set IdleTimeout for live sources.
//
//   - The spouts' topology.max.spout.pending must exceed the events held in
//     open windows, or the spouts stop before the watermark can advance.
//
// AckOnReceipt acks each input as soon as it is buffered and emits results
// unanchored: at-most-once results, no constraint on the message timeout,
// and a node failure loses the open windows of its tasks
// (TestAckOnReceiptLosesOpenSessions). With topology.acker.executors = 0
// both modes are at-most-once.
//
// # Finite inputs
//
// In AckOnFire mode a finite topology must end event time before it can
// end: a spout declares end of input only when all its trees completed,
// and the trees of held events complete only when their windows fire. So
// a finite spout emits EndOfEventTime on the punctuation stream (all
// grouping to the windowed bolt) after its last event, as
// examples/sessions does; the windows fire, the trees complete, and end of
// input follows. Events replayed after that are late. Prepare warns when
// the bolt holds its inputs, has no input on the punctuation stream
// (sdk.TaskContext.Inputs) and no IdleTimeout: such a run never ends.
//
// A punctuation must take the events' path. When the events reach the
// windowed bolt through another bolt (spout -> parse -> window), a
// punctuation sent by the spout straight to the window overtakes the
// events still queued in parse, and they all arrive late: subscribe
// parse to the spout's punctuation stream (all grouping) and have it
// emit each punctuation on a punctuation stream of its own, which the
// window subscribes to instead; a task's punctuation then follows its
// events, and the window takes the least over parse's tasks. The
// watermark that events raise (largest time - OutOfOrderness) is one for
// all inputs: tasks in between that run unevenly deliver events further
// out of order than a source does, so raise OutOfOrderness for them. The
// bolt logs a warning at the 1st, 10th, 100th... late event.
//
// # Memory
//
// With an Aggregate in AckOnReceipt mode, per open window the bolt holds
// its accumulator (per pane for time windows) and the bookkeeping below,
// no events. Otherwise, per open window the bolt holds its events: a Clone per event (the
// tuple's values, 32 bytes each plus their strings, and its anchors) and
// 24 bytes of bookkeeping, plus about 100 bytes per session or per (key,
// window) and map entries per key with open windows. Nothing is kept for
// keys without open windows or for fired windows; late events are not
// kept. Memory is thus bounded by the events of the windows open at once:
// for sessions, by the traffic of Gap + OutOfOrderness + AllowedLateness
// of event time plus the duration of the sessions themselves.
//
// Bolts run on one goroutine each; a Bolt is not safe for concurrent use.
package window
