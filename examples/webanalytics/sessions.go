package webanalytics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/window"
)

// ClassSessions is the sessionizer of the web-analytics topology.
const ClassSessions = "webanalytics.Sessions"

// Config keys of the sessionizer.
const (
	KeySessionGapMS    = "webanalytics.session_gap_ms"    // default 30000
	KeyOutOfOrderMS    = "webanalytics.out_of_order_ms"   // default 2000
	KeySessionIdleMS   = "webanalytics.session_idle_ms"   // default: the gap
	KeyIdleThresholdMS = "webanalytics.idle_threshold_ms" // default 5000
	KeyCTA             = "webanalytics.cta"               // default "#cta"
	KeyActiveMS        = "webanalytics.active_ms"         // default 30000
	KeyMaxPages        = "webanalytics.max_pages"         // default 1000 per page-stats task
)

// SessionMetrics are what the sessionizer emits per closed session (as
// JSON on the "session" field).
type SessionMetrics struct {
	Visitor    string `json:"visitor"`
	Start      int64  `json:"start"`
	End        int64  `json:"end"`
	DurationMS int64  `json:"duration_ms"`
	Events     int    `json:"events"`
	Pages      int    `json:"pages"`
	Clicks     int    `json:"clicks"`
	Converted  bool   `json:"converted"`
	// ScrollDepth is the deepest scroll reached, 0..1.
	ScrollDepth float64 `json:"scroll_depth"`
	// CursorPx is the distance the cursor travelled, in pixels.
	CursorPx float64 `json:"cursor_px"`
	// IdleMS is the time spent in gaps between events longer than the
	// idle threshold (webanalytics.idle_threshold_ms).
	IdleMS int64 `json:"idle_ms"`
	// DwellMS is the time the cursor spent in each region of the page:
	// above the fold (the first viewport height), the second viewport
	// height, and further down; from each cursor event to the next event.
	DwellMS [3]int64 `json:"dwell_ms"`
}

// CursorPx, IdleMS and DwellMS depend on the order of the events; the
// sessionizer computes them incrementally, in arrival order (see
// sessionAcc), so they are exact when a visitor's events arrive in time
// order (one browser, batches sent in order) and approximate otherwise;
// the other metrics are exact whatever the order.

// OpenStream is the sessionizer's stream of open-session counts: on each
// tick, one tuple [open] with the number of sessions the task holds open.
const OpenStream = "open"

func init() {
	sdk.MustRegisterBolt(ClassSessions, func() sdk.Bolt { return &sessionsBolt{Bolt: NewSessions()} })
	sdk.DeclareConfigKeys(KeySessionGapMS, KeyOutOfOrderMS, KeySessionIdleMS, KeyIdleThresholdMS)
}

// sessionsBolt is the sessionizer that also reports, on each tick, how
// many sessions it holds open (stream OpenStream), for the dashboard.
type sessionsBolt struct {
	*window.Bolt
	out *sdk.BoltCollector
}

func (b *sessionsBolt) DeclareOutputFields(d *sdk.OutputDeclarer) {
	b.Bolt.DeclareOutputFields(d)
	d.DeclareStream(OpenStream, "open")
}

func (b *sessionsBolt) Prepare(ctx context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return b.Bolt.Prepare(ctx, tc, out)
}

func (b *sessionsBolt) Execute(t *sdk.Tuple) {
	b.Bolt.Execute(t)
	if t.IsTick() {
		// On every tick, not only on a change: the dashboard drops a
		// count that is not renewed (its task's node died).
		b.out.EmitTo(OpenStream, nil, sdk.Int(int64(b.Stats().OpenWindows)))
	}
}

// NewSessions returns the sessionizer: event-time session windows (package
// sdk/window) keyed by visitor (subscribe it with fields grouping on
// "visitor"), gap webanalytics.session_gap_ms, watermark out-of-orderness
// webanalytics.out_of_order_ms, and idle keys closed by tick tuples after
// webanalytics.session_idle_ms of wall-clock quiet (so sessions close on
// a live stream that goes silent). Each closed session is emitted as
// [visitor, session] with the session's metrics as JSON.
//
// Delivery: inputs are acked on receipt (window.AckOnReceipt). The results
// feed a live dashboard, and holding every input until its session closes
// (AckOnFire, which resets their timeouts while sessions last) would keep
// every cursor event of every open session in memory and in the spouts'
// pending limit, where the aggregate keeps a small accumulator; so a node
// failure loses its open sessions (the dashboard's counts dip). An event
// replayed after a failure elsewhere (the same ingest event id) is acked
// and left out (seenEvents, as in PageStats).
//
// Memory: the metrics are aggregated incrementally (window.NewAggregate),
// so an open session costs a small accumulator (plus its distinct pages),
// not its events: the heap depends on the number of open sessions, not on
// the event rate times the gap.
func NewSessions() *window.Bolt {
	cfg := window.DefaultConfig()
	cfg.Window = window.Session(30 * time.Second)
	cfg.KeyField, cfg.TimeField = "visitor", "ts"
	cfg.OutputFields = []string{"visitor", "session"}
	cfg.Ack = window.AckOnReceipt
	cfg.TimeoutCheck = window.CheckOff // nothing is held: acked on receipt
	cfg.LateStream = ""                // late events only count
	s := &sessionizer{}
	return window.NewAggregate[*sessionAcc](cfg, s, window.WithPrepare(s.prepare), window.WithFilter(s.seen.firstTuple))
}

type sessionizer struct {
	idleThreshold int64
	cta           string
	seen          seenEvents
}

func (s *sessionizer) prepare(_ context.Context, tc *sdk.TaskContext, cfg *window.Config) error {
	ms := func(key string, def int64) (time.Duration, error) {
		v, err := tc.Config.Int(key, def)
		if err == nil && (v < 0 || v > 24*3600*1000) {
			err = fmt.Errorf("config %s: must be between 0 and 86400000 ms, got %d", key, v)
		}
		return time.Duration(v) * time.Millisecond, err
	}
	gap, err := ms(KeySessionGapMS, 30000)
	if err != nil {
		return err
	}
	if gap <= 0 {
		return fmt.Errorf("config %s: must be positive", KeySessionGapMS)
	}
	cfg.Window = window.Session(gap)
	if cfg.OutOfOrderness, err = ms(KeyOutOfOrderMS, 2000); err != nil {
		return err
	}
	if cfg.IdleTimeout, err = ms(KeySessionIdleMS, gap.Milliseconds()); err != nil {
		return err
	}
	idle, err := ms(KeyIdleThresholdMS, 5000)
	s.idleThreshold = idle.Milliseconds()
	s.cta = tc.Config.String(KeyCTA, "#cta")
	s.seen.sizeFor(tc)
	return err
}

// sessionAcc is a session's metrics in the making. The events are folded
// in arrival order; the order-dependent metrics (idle, dwell, cursor
// distance) follow the sequence of events as they arrive, with time
// advancing to each event that is newer than every earlier one: an event
// that arrives after a newer one (out of order) counts in Events, Pages,
// Clicks, Converted and ScrollDepth, moves the cursor (CursorPx, dwell
// region) but adds no time (idle or dwell). When events arrive in time
// order this is exactly the definition over the sorted events. Merging two
// sessions concatenates them as if b's events arrived after a's (the
// window engine merges in time order, so that is the time order):
// Merge(fold(A), fold(B)) = fold(A then B).
type sessionAcc struct {
	events         int
	minTS, maxTS   int64 // event times seen; maxTS is where time is
	firstTS        int64 // the time of the first event to arrive
	pages          []string
	clicks         int
	converted      bool
	scroll         float64
	cursorPx       float64
	idle           int64
	dwell          [3]int64
	firstX, firstY int64 // the first cursor position (for merges)
	lastX, lastY   int64
	haveCursor     bool
	region         int   // region of the last cursor event, -1: none yet
	preDwell       int64 // time advanced before the first region (credited on merge)
}

func (s *sessionizer) New() *sessionAcc { return &sessionAcc{region: -1} }

// Add folds an event (the fields of EVENTS.md) into the session.
func (s *sessionizer) Add(a *sessionAcc, ts int64, e *sdk.Tuple) *sessionAcc {
	if a.events == 0 {
		a.minTS, a.maxTS, a.firstTS = ts, ts, ts
	} else {
		a.minTS = min(a.minTS, ts)
		if d := ts - a.maxTS; d > 0 {
			a.advance(d, s.idleThreshold)
			a.maxTS = ts
		}
	}
	a.events++
	if p := e.Str(fPage); !slices.Contains(a.pages, p) {
		a.pages = append(a.pages, strings.Clone(p)) // the tuple's strings may alias its batch
	}
	switch typ := e.Str(fType); typ {
	case "move", "click":
		x, y := e.Int(fX), e.Int(fY)
		if a.haveCursor {
			a.cursorPx += math.Hypot(float64(x-a.lastX), float64(y-a.lastY))
		} else {
			a.firstX, a.firstY = x, y
		}
		a.lastX, a.lastY, a.haveCursor = x, y, true
		if vh := e.Int(fVH); vh > 0 && y >= 0 {
			a.region = int(min(y/vh, 2))
		}
		if typ == "click" {
			a.clicks++
			if e.Str(fTarget) == s.cta {
				a.converted = true
			}
		}
	case "scroll":
		if v := e.Value(fValue); v.Kind() == sdk.KindDouble {
			a.scroll = math.Max(a.scroll, v.Double())
		}
	}
	return a
}

// advance accounts d ms of time passing before the next event.
func (a *sessionAcc) advance(d, idleThreshold int64) {
	if d > idleThreshold {
		a.idle += d
	}
	if a.region >= 0 {
		a.dwell[a.region] += d
	} else {
		a.preDwell += d
	}
}

// Merge appends session b, all of whose events are later than a's.
func (s *sessionizer) Merge(a, b *sessionAcc) *sessionAcc {
	if b.events == 0 {
		return a
	}
	if a.events == 0 {
		c := *b
		c.pages = slices.Clone(b.pages)
		return &c
	}
	// As if b's events arrived after a's: time advances to b's first
	// arrival, then b's time before its first cursor region is spent in
	// a's last region.
	a.advance(b.firstTS-a.maxTS, s.idleThreshold)
	if a.region >= 0 {
		a.dwell[a.region] += b.preDwell
	} else {
		a.preDwell += b.preDwell
	}
	a.idle += b.idle
	for i := range a.dwell {
		a.dwell[i] += b.dwell[i]
	}
	if b.haveCursor {
		if a.haveCursor {
			a.cursorPx += math.Hypot(float64(b.firstX-a.lastX), float64(b.firstY-a.lastY))
		} else {
			a.firstX, a.firstY = b.firstX, b.firstY
		}
		a.lastX, a.lastY, a.haveCursor = b.lastX, b.lastY, true
		a.cursorPx += b.cursorPx
	}
	if b.region >= 0 {
		a.region = b.region
	}
	a.events += b.events
	a.minTS, a.maxTS = min(a.minTS, b.minTS), max(a.maxTS, b.maxTS)
	for _, p := range b.pages {
		if !slices.Contains(a.pages, p) {
			a.pages = append(a.pages, p)
		}
	}
	a.clicks += b.clicks
	a.converted = a.converted || b.converted
	a.scroll = math.Max(a.scroll, b.scroll)
	return a
}

// Result emits a closed session's metrics.
func (s *sessionizer) Result(w window.Window, a *sessionAcc, out *window.Output) {
	data, err := json.Marshal(a.metrics(w.Key))
	if err != nil {
		out.ReportError(fmt.Errorf("session of %s: %w", w.Key, err))
		return
	}
	out.Emit(sdk.String(w.Key), sdk.String(string(data)))
}

func (a *sessionAcc) metrics(visitor string) SessionMetrics {
	m := SessionMetrics{Visitor: visitor, Events: a.events}
	if a.events == 0 {
		return m
	}
	m.Start, m.End, m.DurationMS = a.minTS, a.maxTS, a.maxTS-a.minTS
	m.Pages, m.Clicks, m.Converted = len(a.pages), a.clicks, a.converted
	m.ScrollDepth, m.CursorPx, m.IdleMS, m.DwellMS = a.scroll, a.cursorPx, a.idle, a.dwell
	return m
}

// Metrics computes a session's metrics from its events (with the fields
// of EVENTS.md), folded in the given order as the sessionizer folds them
// in arrival order: exact for events sorted by time (see sessionAcc for
// events out of order); cta is the call-to-action's selector.
func Metrics(visitor string, events []*sdk.Tuple, idleThreshold int64, cta string) SessionMetrics {
	s := &sessionizer{idleThreshold: idleThreshold, cta: cta}
	a := s.New()
	for _, e := range events {
		a = s.Add(a, e.Int(fTS), e)
	}
	return a.metrics(visitor)
}
