package webanalytics

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

func ev(ts int64, typ, page string, x, y int64, target string, value sdk.Value) *sdk.Tuple {
	src := sdk.NewSource("ingest", sdk.DefaultStream, []string{"visitor", "ts", "type", "page", "x", "y", "vw", "vh", "target", "value"})
	tgt := sdk.Null()
	if target != "" {
		tgt = sdk.String(target)
	}
	return &sdk.Tuple{Source: src, Values: []sdk.Value{sdk.String("v"), sdk.Int(ts), sdk.String(typ), sdk.String(page),
		sdk.Int(x), sdk.Int(y), sdk.Int(1000), sdk.Int(500), tgt, value}}
}

func TestSessionMetrics(t *testing.T) {
	events := []*sdk.Tuple{
		ev(1000, "pageview", "/", 0, 0, "", sdk.Null()),
		ev(1100, "move", "/", 0, 0, "", sdk.Null()),     // above the fold
		ev(1600, "move", "/", 300, 400, "", sdk.Null()), // 500 px away; still above the fold
		ev(9600, "move", "/", 300, 700, "", sdk.Null()), // after 8 s idle; second screen
		ev(9700, "click", "/", 300, 700, "#cta", sdk.Null()),
		ev(9800, "scroll", "/pricing", 0, 0, "", sdk.Double(0.75)),
	}
	m := Metrics("v", events, 5000, "#cta")
	want := SessionMetrics{
		Visitor: "v", Start: 1000, End: 9800, DurationMS: 8800, Events: 6, Pages: 2, Clicks: 1,
		Converted: true, ScrollDepth: 0.75, CursorPx: 800, IdleMS: 8000,
		// pageview->move: no cursor yet; 1100->1600 and 1600->9600 above
		// the fold; 9600->9700 and 9700->9800 on the second screen.
		DwellMS: [3]int64{8500, 200, 0},
	}
	if m != want {
		t.Fatalf("metrics\n got %+v\nwant %+v", m, want)
	}
	if m := Metrics("v", events, 5000, "#other"); m.Converted {
		t.Fatal("converted without a click on the call-to-action")
	}
}

// randomSession makes n events of one visitor, in time order, of every
// type, on a few pages.
func randomSession(rng *rand.Rand, n int, t0 int64) []*sdk.Tuple {
	var evs []*sdk.Tuple
	ts := t0
	for range n {
		ts += rng.Int64N(8000)
		page := []string{"/", "/pricing", "/docs"}[rng.IntN(3)]
		x, y := rng.Int64N(1000), rng.Int64N(1600)-50
		switch rng.IntN(5) {
		case 0:
			evs = append(evs, ev(ts, "pageview", page, 0, 0, "", sdk.Null()))
		case 1:
			evs = append(evs, ev(ts, "click", page, x, y, []string{"#cta", "#nav"}[rng.IntN(2)], sdk.Null()))
		case 2:
			evs = append(evs, ev(ts, "scroll", page, 0, 0, "", sdk.Double(rng.Float64())))
		default:
			evs = append(evs, ev(ts, "move", page, x, y, "", sdk.Null()))
		}
	}
	return evs
}

func fold(s *sessionizer, evs []*sdk.Tuple) *sessionAcc {
	a := s.New()
	for _, e := range evs {
		a = s.Add(a, e.Int(fTS), e)
	}
	return a
}

func closeEnough(a, b SessionMetrics) bool {
	if math.Abs(a.CursorPx-b.CursorPx) > 1e-6*math.Max(1, a.CursorPx) {
		return false
	}
	a.CursorPx = b.CursorPx
	return a == b
}

// Merging two sessions (all of b after a) gives the metrics of the
// concatenation: what the window engine relies on when an event bridges
// two sessions.
func TestSessionMergeIsConcatenation(t *testing.T) {
	s := &sessionizer{idleThreshold: 5000, cta: "#cta"}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		a := randomSession(rng, 1+rng.IntN(20), 0)
		b := randomSession(rng, 1+rng.IntN(20), a[len(a)-1].Int(fTS)+1+rng.Int64N(40000))
		if seed%2 == 0 { // arrival order within each half does not matter to the identity
			rng.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
			rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		}
		got := s.Merge(fold(s, a), fold(s, b)).metrics("v")
		want := fold(s, append(slices.Clone(a), b...)).metrics("v")
		if !closeEnough(got, want) {
			t.Fatalf("seed %d: merge\n got %+v\nwant %+v", seed, got, want)
		}
	}
}

// Out of order, the order-insensitive metrics stay exact; the time-based
// ones skip the time an out-of-order event would have split.
func TestSessionMetricsOutOfOrder(t *testing.T) {
	s := &sessionizer{idleThreshold: 5000, cta: "#cta"}
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 2))
		sorted := randomSession(rng, 2+rng.IntN(30), 1000)
		shuffled := slices.Clone(sorted)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		want := fold(s, sorted).metrics("v")
		got := fold(s, shuffled).metrics("v")
		if got.Start != want.Start || got.End != want.End || got.DurationMS != want.DurationMS || got.Events != want.Events ||
			got.Pages != want.Pages || got.Clicks != want.Clicks || got.Converted != want.Converted || got.ScrollDepth != want.ScrollDepth {
			t.Fatalf("seed %d: out of order\n got %+v\nwant %+v", seed, got, want)
		}
		if got.IdleMS > want.DurationMS || got.DwellMS[0]+got.DwellMS[1]+got.DwellMS[2] > want.DurationMS {
			t.Fatalf("seed %d: idle %d, dwell %v exceed the duration %d", seed, got.IdleMS, got.DwellMS, want.DurationMS)
		}
	}
	// A move that arrives after a newer event moves the cursor but adds no
	// time: idle and dwell count from the newest event.
	events := []*sdk.Tuple{
		ev(1000, "move", "/", 0, 0, "", sdk.Null()),
		ev(9000, "pageview", "/", 0, 0, "", sdk.Null()),
		ev(4000, "move", "/", 300, 400, "", sdk.Null()), // late by 5 s
	}
	m := Metrics("v", events, 5000, "#cta")
	want := SessionMetrics{Visitor: "v", Start: 1000, End: 9000, DurationMS: 8000, Events: 3, Pages: 1,
		CursorPx: 500, IdleMS: 8000, DwellMS: [3]int64{8000, 0, 0}}
	if m != want {
		t.Fatalf("metrics\n got %+v\nwant %+v", m, want)
	}
}

type emits struct{ values [][]sdk.Value }

func (e *emits) EmitBolt(_ string, _ []*sdk.Tuple, v []sdk.Value, _ int32) {
	e.values = append(e.values, slices.Clone(v))
}
func (*emits) EmitSpout(string, uint64, bool, []sdk.Value, int32) {}
func (*emits) Ack(*sdk.Tuple)                                     {}
func (*emits) Fail(*sdk.Tuple)                                    {}
func (*emits) ReportError(error)                                  {}
func (*emits) EndOfInput()                                        {}

// The sessionizer bolt emits, per session, the metrics of its events
// (exactly, when they arrive in order), holding no event meanwhile; an
// event that bridges two sessions merges them as if they had come in one.
func TestSessionizerBolt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	a := randomSession(rng, 40, 1_000_000)
	b := randomSession(rng, 40, a[len(a)-1].Int(fTS)+50_000) // a separate session: gap 30 s
	bridge := ev(a[len(a)-1].Int(fTS)+25_000, "move", "/", 10, 10, "", sdk.Null())
	later := randomSession(rng, 3, b[len(b)-1].Int(fTS)+100_000)

	bolt := NewSessions()
	out := &emits{}
	tc := &sdk.TaskContext{Component: "sessions", Config: sdk.Config{KeyOutOfOrderMS: sdk.Int(600_000)},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := bolt.Prepare(t.Context(), tc, sdk.NewBoltCollector(out)); err != nil {
		t.Fatal(err)
	}
	for _, e := range slices.Concat(a, b) {
		bolt.Execute(e)
	}
	if st := bolt.Stats(); st.OpenWindows != 2 || st.HeldEvents != 0 {
		t.Fatalf("stats %+v, want 2 open sessions and no held event", st)
	}
	bolt.Execute(bridge) // out of order, within the bound: merges a and b
	for _, e := range later {
		bolt.Execute(e)
	}
	if err := bolt.Finish(); err != nil {
		t.Fatal(err)
	}
	s := &sessionizer{idleThreshold: 5000, cta: "#cta"}
	var got []SessionMetrics
	for _, v := range out.values {
		var m SessionMetrics
		if err := json.Unmarshal([]byte(v[1].Str()), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	want := []SessionMetrics{
		fold(s, slices.Concat(a, []*sdk.Tuple{bridge}, b)).metrics("v"),
		fold(s, later).metrics("v"),
	}
	if len(got) != 2 || !closeEnough(got[0], want[0]) || !closeEnough(got[1], want[1]) {
		t.Fatalf("sessions\n got %+v\nwant %+v", got, want)
	}
}
