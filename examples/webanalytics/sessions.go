package webanalytics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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

// OpenStream is the sessionizer's stream of open-session counts: on each
// tick, one tuple [open] with the number of sessions the task holds open.
const OpenStream = "open"

func init() {
	sdk.MustRegisterBolt(ClassSessions, func() sdk.Bolt { return &sessionsBolt{Bolt: NewSessions()} })
}

// sessionsBolt is the sessionizer that also reports, on each tick, how
// many sessions it holds open (stream OpenStream), for the dashboard.
type sessionsBolt struct {
	*window.Bolt
	out  *sdk.BoltCollector
	last int64
}

func (b *sessionsBolt) DeclareOutputFields(d *sdk.OutputDeclarer) {
	b.Bolt.DeclareOutputFields(d)
	d.DeclareStream(OpenStream, "open")
}

func (b *sessionsBolt) Prepare(ctx context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out, b.last = out, -1
	return b.Bolt.Prepare(ctx, tc, out)
}

func (b *sessionsBolt) Execute(t *sdk.Tuple) {
	b.Bolt.Execute(t)
	if t.IsTick() {
		if n := int64(b.Stats().OpenWindows); n != b.last {
			b.last = n
			b.out.EmitTo(OpenStream, nil, sdk.Int(n))
		}
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
// feed a live dashboard, sessions may last far longer than any message
// timeout, and holding every input until its session closes would replay
// long sessions spuriously; so a node failure loses its open sessions (the
// dashboard's counts dip), and nothing is counted twice.
func NewSessions() *window.Bolt {
	cfg := window.DefaultConfig()
	cfg.Window = window.Session(30 * time.Second)
	cfg.KeyField, cfg.TimeField = "visitor", "ts"
	cfg.OutputFields = []string{"visitor", "session"}
	cfg.Ack = window.AckOnReceipt
	cfg.TimeoutCheck = window.CheckOff // nothing is held: acked on receipt
	cfg.LateStream = ""                // late events only count
	s := &sessionizer{}
	return window.New(cfg, s.session, window.WithPrepare(s.prepare))
}

type sessionizer struct {
	idleThreshold int64
	cta           string
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
	return err
}

// session computes a closed session's metrics and emits them.
func (s *sessionizer) session(w window.Window, events []*sdk.Tuple, out *window.Output) {
	m := Metrics(w.Key, events, s.idleThreshold, s.cta)
	data, err := json.Marshal(m)
	if err != nil {
		out.ReportError(fmt.Errorf("session of %s: %w", w.Key, err))
		return
	}
	out.Emit(sdk.String(w.Key), sdk.String(string(data)))
}

// Metrics computes a session's metrics from its events (sorted by time,
// with the fields of EVENTS.md); cta is the call-to-action's selector.
func Metrics(visitor string, events []*sdk.Tuple, idleThreshold int64, cta string) SessionMetrics {
	m := SessionMetrics{Visitor: visitor, Events: len(events)}
	if len(events) == 0 {
		return m
	}
	m.Start, m.End = events[0].Int(fTS), events[len(events)-1].Int(fTS)
	m.DurationMS = m.End - m.Start
	pages := map[string]bool{}
	var lastX, lastY int64
	haveCursor := false
	dwellRegion := -1 // region of the last move, -1: none
	for i, e := range events {
		ts := e.Int(fTS)
		if i > 0 {
			d := ts - events[i-1].Int(fTS)
			if d > idleThreshold {
				m.IdleMS += d
			}
			if dwellRegion >= 0 {
				m.DwellMS[dwellRegion] += d
			}
		}
		pages[e.Str(fPage)] = true
		switch e.Str(fType) {
		case "move", "click":
			x, y := e.Int(fX), e.Int(fY)
			if haveCursor {
				m.CursorPx += math.Hypot(float64(x-lastX), float64(y-lastY))
			}
			lastX, lastY, haveCursor = x, y, true
			if vh := e.Int(fVH); vh > 0 && y >= 0 {
				dwellRegion = int(min(y/vh, 2))
			}
			if e.Str(fType) == "click" {
				m.Clicks++
				if e.Str(fTarget) == cta {
					m.Converted = true
				}
			}
		case "scroll":
			if v := e.Value(fValue); v.Kind() == sdk.KindDouble {
				m.ScrollDepth = math.Max(m.ScrollDepth, v.Double())
			}
		}
	}
	m.Pages = len(pages)
	return m
}
