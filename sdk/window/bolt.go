package window

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"
)

// EndOfEventTime is the punctuated watermark a finite source sends when
// its input is exhausted: every window fires.
const EndOfEventTime int64 = math.MaxInt64

// Config keys of the runtime that Prepare reads to check the timeout.
const (
	keyAckers      = spec.KeyAckers
	keyTimeout     = spec.KeyMessageTimeout
	keyTickFreq    = spec.KeyTickFreq
	defaultTimeout = 30 * time.Second
)

// Window describes a window as the window function sees it.
type Window struct {
	Kind Kind
	// Key is the text of the key field ("" without KeyField).
	Key string
	// Start and End, in event-time ms: for sessions the times of the first
	// and the last event (both inclusive); for time windows the bounds
	// [Start, End); for count windows the first and last event time (0
	// without TimeField).
	Start, End int64
}

// Func is a window function: it is called once per window that fires,
// with the window's events sorted by event time, ties in arrival order.
// The events are Clones, valid after the call; the function must not ack
// or fail them (the bolt does) nor keep the slice. It emits through out.
// It runs on the bolt's goroutine.
type Func func(w Window, events []*sdk.Tuple, out *Output)

// Output is what a window function emits through: in AckOnFire mode its
// emits are anchored to all events of the window, in AckOnReceipt mode
// they are unanchored.
type Output struct {
	c       *sdk.BoltCollector
	anchors []*sdk.Tuple
}

// Emit emits on the default stream (Config.OutputFields).
func (o *Output) Emit(values ...sdk.Value) { o.c.EmitAnchored(sdk.DefaultStream, o.anchors, values...) }

// EmitTo emits on a stream declared in Config.Streams.
func (o *Output) EmitTo(stream string, values ...sdk.Value) {
	o.c.EmitAnchored(stream, o.anchors, values...)
}

// ReportError records an error in the task's status.
func (o *Output) ReportError(err error) { o.c.ReportError(err) }

// Option adds an ability to a windowed bolt.
type Option func(*Bolt)

// WithPrepare runs f in Prepare before the configuration is validated, so
// that it can read the task's config (sdk.TaskContext.Config) into cfg or
// open resources. An error fails Prepare.
func WithPrepare(f func(ctx context.Context, tc *sdk.TaskContext, cfg *Config) error) Option {
	return func(b *Bolt) { b.onPrepare = f }
}

// WithFinish runs f at end of input, after every open window fired.
func WithFinish(f func() error) Option { return func(b *Bolt) { b.onFinish = f } }

// WithCleanup runs f in Cleanup.
func WithCleanup(f func() error) Option { return func(b *Bolt) { b.onCleanup = f } }

// WithLate runs f for every late event, before it is emitted on the late
// stream (if any) and acked; for counting or logging.
func WithLate(f func(key string, ts int64, t *sdk.Tuple)) Option {
	return func(b *Bolt) { b.onLate = f }
}

// WithFilter leaves out the inputs for which keep returns false: they are
// acked at once and counted in Stats.Filtered, and no window sees them
// (a bolt that recognises a replayed event, say). With AckOnFire, an input
// left out is acked although an earlier copy of it may be held in a window
// whose tree failed: if the task then dies before that window fires, the
// event is lost; filter duplicates with AckOnReceipt only.
func WithFilter(keep func(t *sdk.Tuple) bool) Option {
	return func(b *Bolt) { b.keep = keep }
}

// Stats are a task's counters, for tests and tools.
type Stats struct {
	Events, Late, Invalid, Fired int64
	// Filtered counts the inputs WithFilter left out.
	Filtered int64
	// Touches counts the rounds in which held events (AckOnFire) had
	// their message timeout reset.
	Touches int64
	// OpenWindows and HeldEvents are what is buffered now: the open
	// windows (keys, for count windows) and the inputs they retain (0
	// with an Aggregate in AckOnReceipt mode).
	OpenWindows, HeldEvents int
	Watermark               int64
}

// Bolt is a windowed bolt: an sdk.Bolt and sdk.Finisher that buffers its
// inputs in windows and calls a Func when a window fires, or folds them
// into an Aggregate. Make one with New or NewAggregate, one per task (in
// the registered factory).
type Bolt struct {
	cfg       Config
	fn        Func
	agg       aggOps
	onPrepare func(context.Context, *sdk.TaskContext, *Config) error
	onFinish  func() error
	onCleanup func() error
	onLate    func(string, int64, *sdk.Tuple)
	keep      func(*sdk.Tuple) bool

	out  *sdk.BoltCollector
	log  *slog.Logger
	tc   *sdk.TaskContext
	eng  engine
	hold bool // AckOnFire with acking on
	now  func() time.Time
	// touchEvery is how often held events get their message timeout reset
	// (a third of it); lastTouch is when they last did.
	touchEvery time.Duration
	lastTouch  time.Time
	keyIx      map[*sdk.Source][2]int // field positions by input source

	// Event-time clock.
	maxTs       int64
	haveTs      bool
	wm          int64 // the watermark; math.MinInt64 before any
	lastEventAt time.Time
	punct       map[string]map[int32]int64 // component -> source task -> watermark
	punctWM     int64
	seq         uint64

	stats    Stats
	failed   map[*sdk.Tuple]bool // held events failed by a window function's panic
	scratch  []*sdk.Tuple
	output   Output
	finished bool
}

// New returns a windowed bolt that calls fn for every window; cfg is
// validated in Prepare (after WithPrepare), or call cfg.Validate first.
func New(cfg Config, fn Func, opts ...Option) *Bolt {
	b := &Bolt{cfg: cfg, fn: fn, now: time.Now}
	for _, o := range opts {
		o(b)
	}
	return b
}

// DeclareOutputFields declares OutputFields (default stream), Streams and
// the late stream, as given to New.
func (b *Bolt) DeclareOutputFields(d *sdk.OutputDeclarer) {
	if b.cfg.OutputFields != nil {
		d.Declare(b.cfg.OutputFields...)
	}
	for id, fields := range b.cfg.Streams {
		d.DeclareStream(id, fields...)
	}
	if b.cfg.LateStream != "" && b.cfg.Window.Kind.timeBased() && len(b.cfg.LateFields) > 0 {
		d.DeclareStream(b.cfg.LateStream, b.cfg.LateFields...)
	}
	// Deterministic order for the map above.
	slices.SortStableFunc(d.Streams, func(a, b sdk.StreamDecl) int {
		switch {
		case a.ID == sdk.DefaultStream && b.ID != sdk.DefaultStream:
			return -1
		case b.ID == sdk.DefaultStream && a.ID != sdk.DefaultStream:
			return 1
		}
		return 0
	})
}

// Config returns the configuration in effect (after Prepare).
func (b *Bolt) Config() Config { return b.cfg }

// Prepare runs the WithPrepare hook, validates the configuration and
// checks the message timeout against what AckOnFire may hold (see the
// package documentation).
func (b *Bolt) Prepare(ctx context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out, b.tc, b.log = out, tc, tc.Log
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.fn == nil && b.agg == nil {
		return fmt.Errorf("%w: nil window function", ErrConfig)
	}
	if b.onPrepare != nil {
		if err := b.onPrepare(ctx, tc, &b.cfg); err != nil {
			return err
		}
	}
	if err := b.cfg.Validate(); err != nil {
		return err
	}
	if err := b.checkInputFields(tc.Inputs); err != nil {
		return err
	}
	ackers, err := tc.Config.Int(keyAckers, 1)
	if err != nil {
		return err
	}
	b.hold = b.cfg.Ack == AckOnFire && ackers > 0
	if b.hold && b.cfg.IdleTimeout == 0 && len(tc.Inputs) > 0 && !slices.ContainsFunc(tc.Inputs, func(in sdk.Input) bool { return in.Stream == b.cfg.PunctuationStream }) {
		b.log.Warn(fmt.Sprintf("window: no input on stream %q and no IdleTimeout: the windows still open when a finite input ends never fire, "+
			"their events are never acked, and the run does not end; subscribe to the spout's %q stream (all grouping) or set IdleTimeout",
			b.cfg.PunctuationStream, b.cfg.PunctuationStream))
	}
	if err := b.checkTimeout(tc.Config); err != nil {
		return err
	}
	if b.hold {
		timeout, err := tc.Config.Duration(keyTimeout, time.Second, defaultTimeout)
		if err != nil {
			return err
		}
		b.touchEvery, b.lastTouch = timeout/3, b.now()
	}
	w := b.cfg.Window
	if b.agg != nil && !w.Kind.timeBased() {
		return configErr("Window", "%s windows take a Func (New), not an Aggregate", w.Kind)
	}
	s := sinks{fire: b.fire, release: b.release, agg: b.agg, keep: b.agg == nil || b.hold}
	lateness := b.cfg.AllowedLateness.Milliseconds()
	switch w.Kind {
	case KindSession:
		b.eng = newSessionEngine(w.Gap.Milliseconds(), lateness, s)
	case KindTumblingTime, KindSlidingTime:
		b.eng = newTimeEngine(w.Size.Milliseconds(), w.Slide.Milliseconds(), lateness, s)
	default:
		b.eng = newCountEngine(w.Count, w.Every, s)
	}
	b.keyIx = map[*sdk.Source][2]int{}
	b.wm, b.punctWM = math.MinInt64, math.MinInt64
	b.punct = map[string]map[int32]int64{}
	b.output.c = out
	return nil
}

// checkTimeout validates that the message timeout exceeds the longest
// AckOnFire holds the last event of a window: the event-time span after
// it (gap or size, plus out-of-orderness and lateness, or the idle
// timeout if longer) plus one tick interval. This assumes event time
// advances like the wall clock (live traffic).
func (b *Bolt) checkTimeout(conf sdk.Config) error {
	if !b.hold || b.cfg.TimeoutCheck == CheckOff {
		return nil
	}
	timeout, err := conf.Duration(keyTimeout, time.Second, defaultTimeout)
	if err != nil {
		return err
	}
	tick, err := conf.Duration(keyTickFreq, time.Second, 0)
	if err != nil {
		return err
	}
	if b.cfg.IdleTimeout > 0 && tick <= 0 {
		return configErr("IdleTimeout", "%v needs tick tuples: set %s on the component", b.cfg.IdleTimeout, keyTickFreq)
	}
	bound := b.cfg.holdBound()
	if bound == 0 { // count windows: the hold depends on traffic
		return nil
	}
	need := bound + tick
	if b.cfg.IdleTimeout == 0 {
		b.log.Info("window: no IdleTimeout: on a quiet input, open windows and their unacked inputs wait for the next event",
			"message_timeout", timeout)
	}
	if timeout > need {
		return nil
	}
	err = fmt.Errorf("%w: %s=%v must exceed what %s holds an input: %v (span %v + tick %v); "+
		"raise the timeout, shorten the window, use AckOnReceipt, or (replaying a file, where event time runs far ahead of the wall clock) set TimeoutCheck to CheckOff",
		ErrTimeout, keyTimeout, timeout, AckOnFire, need, bound, tick)
	if b.cfg.TimeoutCheck == CheckError {
		return err
	}
	b.log.Warn("window: "+err.Error(), "component", b.tc.Component, "task", b.tc.TaskID)
	b.out.ReportError(err)
	return nil
}

// Execute routes ticks, punctuations and events.
func (b *Bolt) Execute(t *sdk.Tuple) {
	switch {
	case t.IsTick():
		b.tick()
		b.out.Ack(t)
	case t.Stream() == b.cfg.PunctuationStream:
		b.punctuate(t) // acks t
	default:
		b.event(t)
	}
	b.touch()
}

// touch resets the message timeout of every held event (AckOnFire) once
// a third of the timeout has passed since the last time, so that an
// event held for longer than the timeout (the first of a long session)
// is not replayed while its window is open. It runs on every input and
// tick: on an input quiet for longer than the timeout, only tick tuples
// keep held events alive (see checkTimeout).
func (b *Bolt) touch() {
	if !b.hold || b.touchEvery <= 0 || b.eng == nil {
		return
	}
	if now := b.now(); now.Sub(b.lastTouch) >= b.touchEvery {
		b.lastTouch = now
		b.eng.each(b.out.ResetTimeout)
		b.stats.Touches++
	}
}

func (b *Bolt) fields(src *sdk.Source) [2]int {
	ix, ok := b.keyIx[src]
	if !ok {
		ix = [2]int{-1, -1}
		if b.cfg.KeyField != "" {
			ix[0] = src.FieldIndex(b.cfg.KeyField)
		}
		if b.cfg.TimeField != "" {
			ix[1] = src.FieldIndex(b.cfg.TimeField)
		}
		b.keyIx[src] = ix
	}
	return ix
}

// invalid acks an input that cannot be windowed and reports it; the first
// ten and then every thousandth are reported, all are counted.
func (b *Bolt) invalid(t *sdk.Tuple, err error) {
	b.stats.Invalid++
	if n := b.stats.Invalid; n <= 10 || n%1000 == 0 {
		b.out.ReportError(fmt.Errorf("window: skipping input %d from %s/%s: %w", n, t.Component(), t.Stream(), err))
	}
	b.out.Ack(t)
}

// checkInputFields fails the task at start when an input stream it knows
// the fields of (other than the watermark stream) lacks the key or the
// time field: every event of that stream would be skipped as invalid, one
// at a time, and a run with a misspelt field would produce nothing.
func (b *Bolt) checkInputFields(inputs []sdk.Input) error {
	for _, in := range inputs {
		if in.Fields == nil || in.Stream == b.cfg.PunctuationStream || in.Stream == sdk.TickStream {
			continue
		}
		for _, f := range [...]struct{ setting, name string }{{"KeyField", b.cfg.KeyField}, {"TimeField", b.cfg.TimeField}} {
			if f.name != "" && !slices.Contains(in.Fields, f.name) {
				return configErr(f.setting, "%q is not a field of input %s/%s (its fields: %s)",
					f.name, in.Component, in.Stream, strings.Join(in.Fields, ", "))
			}
		}
	}
	return nil
}

// errInvalid wraps every reason an input is skipped.
var errInvalid = errors.New("not a windowable event")

func (b *Bolt) event(t *sdk.Tuple) {
	if b.keep != nil && !b.keep(t) {
		b.stats.Filtered++
		b.out.Ack(t)
		return
	}
	ix := b.fields(t.Source)
	key := ""
	if b.cfg.KeyField != "" {
		if ix[0] < 0 || ix[0] >= len(t.Values) {
			b.invalid(t, fmt.Errorf("%w: no key field %q (fields %v)", errInvalid, b.cfg.KeyField, t.Source.Fields))
			return
		}
		key = t.Values[ix[0]].String()
	}
	var ts int64
	if b.cfg.TimeField != "" {
		if ix[1] < 0 || ix[1] >= len(t.Values) {
			b.invalid(t, fmt.Errorf("%w: no time field %q (fields %v)", errInvalid, b.cfg.TimeField, t.Source.Fields))
			return
		}
		v := t.Values[ix[1]]
		switch {
		case v.Kind() == sdk.KindInt:
			ts = v.Int()
		case v.Kind() == sdk.KindDouble && v.Double() == math.Trunc(v.Double()) && math.Abs(v.Double()) < 1<<62:
			ts = int64(v.Double())
		default:
			b.invalid(t, fmt.Errorf("%w: time field %q is %s %q, want integer milliseconds", errInvalid, b.cfg.TimeField, v.Kind(), v.String()))
			return
		}
	}
	b.stats.Events++
	if b.cfg.Window.Kind.timeBased() {
		if b.cfg.IdleTimeout > 0 { // only the idle advance reads it: no clock read per event otherwise
			b.lastEventAt = b.now()
		}
		if ts < satSub(b.wm, b.cfg.AllowedLateness.Milliseconds()) {
			b.late(key, ts, t)
			return
		}
	}
	b.seq++
	ev := event{ts: ts, seq: b.seq}
	if b.agg == nil {
		ev.t = t.Clone()
		if !b.hold {
			b.out.Ack(t)
		}
		b.eng.add(key, ev, nil)
	} else {
		if b.hold {
			ev.t = t.Clone()
		}
		if !b.addAgg(key, ev, t) {
			return
		}
		if !b.hold {
			b.out.Ack(t) // after Add, which reads t
		}
	}
	if b.cfg.Window.Kind.timeBased() {
		if !b.haveTs || ts > b.maxTs {
			b.maxTs, b.haveTs = ts, true
		}
		b.advance(satSub(b.maxTs, b.cfg.OutOfOrderness.Milliseconds()))
	}
}

// addAgg adds an event to the engine with an aggregate. A panic in Add or
// Merge is reported and drops the event, which is failed in AckOnFire
// mode (it replays) and acked otherwise; the window keeps what it had
// (but an accumulator updated in place may be partly updated).
func (b *Bolt) addAgg(key string, ev event, t *sdk.Tuple) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			b.stats.Invalid++
			if n := b.stats.Invalid; n <= 10 || n%1000 == 0 {
				b.out.ReportError(aggPanic(r, key, ev.ts))
			}
			if b.hold {
				b.out.Fail(t)
			} else {
				b.out.Ack(t)
			}
			ok = false
		}
	}()
	b.eng.add(key, ev, t)
	return true
}

func (b *Bolt) late(key string, ts int64, t *sdk.Tuple) {
	b.stats.Late++
	if n := b.stats.Late; isPowerOf10(n) { // 1, 10, 100...
		// Late events leave silently otherwise (the late stream is
		// dropped unless subscribed): say so at the 1st, 10th, 100th...
		b.log.Warn(fmt.Sprintf("window: %d late events so far; the last, at %d (key %q, from %s/%s), came after the watermark %d%s: "+
			"late events go to the late stream or are dropped; they come from a watermark punctuation that reached this bolt before events still on their way "+
			"(through another bolt: send the watermark stream along the events' path), from inputs more out of order than OutOfOrderness, "+
			"from replays of inputs whose trees timed out while a window held them (an input quiet for longer than the message timeout without tick tuples), "+
			"or from replays and resends after a failure (a node died: the events in flight replay to this task's new copy after newer events moved its watermark on; a client sent a batch again)",
			n, ts, key, t.Component(), t.Stream(), b.wm, lateBy(b.cfg.AllowedLateness)))
	}
	if b.onLate != nil {
		b.onLate(key, ts, t)
	}
	if b.cfg.LateStream != "" {
		b.out.EmitTo(b.cfg.LateStream, t, t.Values...)
	}
	b.out.Ack(t)
}

func isPowerOf10(n int64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

func lateBy(allowed time.Duration) string {
	if allowed == 0 {
		return ""
	}
	return " less its allowed lateness " + allowed.String()
}

// advance raises the watermark to wm (it never goes back) and fires what
// became due.
func (b *Bolt) advance(wm int64) {
	if wm > b.wm {
		b.wm = wm
		b.eng.fireDue(wm)
	}
}

// tick advances the watermark with the wall clock once the input has been
// quiet for IdleTimeout.
func (b *Bolt) tick() {
	if b.cfg.IdleTimeout <= 0 || !b.haveTs || !b.cfg.Window.Kind.timeBased() {
		return
	}
	quiet := b.now().Sub(b.lastEventAt)
	if quiet < b.cfg.IdleTimeout {
		return
	}
	base := satSub(b.maxTs, b.cfg.OutOfOrderness.Milliseconds())
	b.advance(satAdd(base, quiet.Milliseconds()))
}

// punctuate records a source task's watermark. The punctuated watermark is
// the least over every task of every component that has sent one (tasks
// not heard from yet count as minus infinity), as in Flink, where a
// channel's watermark holds back the operator's.
func (b *Bolt) punctuate(t *sdk.Tuple) {
	v := t.Value(0)
	if v.Kind() != sdk.KindInt {
		b.invalid(t, fmt.Errorf("%w: punctuation on stream %q: field 0 is %s %q, want integer milliseconds", errInvalid, t.Stream(), v.Kind(), v.String()))
		return
	}
	comp := t.Component()
	m := b.punct[comp]
	if m == nil {
		m = map[int32]int64{}
		b.punct[comp] = m
	}
	if old, ok := m[t.SourceTask]; !ok || v.Int() > old {
		m[t.SourceTask] = v.Int()
	}
	least := int64(math.MaxInt64)
	for c, seen := range b.punct {
		// A task table lists the component's tasks; without one (tests,
		// tools) the tasks heard from are all there are.
		if n := len(b.tc.ComponentTasks[c]); len(seen) < n {
			least = math.MinInt64
			break
		}
		for _, w := range seen {
			least = min(least, w)
		}
	}
	b.punctWM = least
	if least == EndOfEventTime {
		b.wm = EndOfEventTime
		b.eng.flush()
	} else {
		b.advance(least)
	}
	b.out.Ack(t)
}

// fire calls the window function (or the aggregate's Result with acc),
// then (AckOnFire) the engine releases the events, which acks them.
func (b *Bolt) fire(w Window, evs []event, acc any) {
	b.stats.Fired++
	b.scratch = b.scratch[:0]
	for _, ev := range evs {
		b.scratch = append(b.scratch, ev.t)
	}
	b.output.anchors = nil
	if b.hold {
		b.output.anchors = b.scratch
	}
	if err := b.call(w, b.scratch, acc); err != nil {
		b.out.ReportError(err)
		if b.hold {
			// The events replay; a deterministic bug replays forever, so
			// report loudly.
			if b.failed == nil {
				b.failed = map[*sdk.Tuple]bool{}
			}
			for _, ev := range evs {
				if !b.failed[ev.t] {
					b.failed[ev.t] = true
					b.out.Fail(ev.t)
				}
			}
		}
	}
	b.output.anchors = nil
}

func (b *Bolt) call(w Window, events []*sdk.Tuple, acc any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("window: panic in the window function for key %q [%d, %d] (%d events): %v", w.Key, w.Start, w.End, len(events), r)
		}
	}()
	if b.agg != nil {
		b.agg.result(w, acc, &b.output)
		return nil
	}
	b.fn(w, events, &b.output)
	return nil
}

// release acks events that no later window contains.
func (b *Bolt) release(evs []event) {
	if !b.hold {
		return
	}
	for _, ev := range evs {
		if len(b.failed) > 0 && b.failed[ev.t] {
			delete(b.failed, ev.t) // failed when its window's function failed
			continue
		}
		b.out.Ack(ev.t)
	}
}

// Finish fires every open window (the end of input is the end of event
// time), then runs the WithFinish hook.
func (b *Bolt) Finish() error {
	if b.finished {
		return errors.New("window: Finish called twice")
	}
	b.finished = true
	if b.eng != nil {
		b.wm = EndOfEventTime
		b.eng.flush()
	}
	if b.onFinish != nil {
		return b.onFinish()
	}
	return nil
}

// Cleanup runs the WithCleanup hook.
func (b *Bolt) Cleanup() error {
	if b.onCleanup != nil {
		return b.onCleanup()
	}
	return nil
}

// Stats returns the task's counters.
func (b *Bolt) Stats() Stats {
	s := b.stats
	if b.eng != nil {
		s.OpenWindows, s.HeldEvents = b.eng.open()
	}
	s.Watermark = b.wm
	return s
}

// The bolt implements the SDK abilities the runtime checks for.
var (
	_ sdk.Bolt     = (*Bolt)(nil)
	_ sdk.Finisher = (*Bolt)(nil)
)
