package window

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

type fired struct {
	w   Window
	idx []int64
}

// harness is a bolt with a fake emitter that records fired windows; input
// tuples carry key, ts and a unique index.
type harness struct {
	t     *testing.T
	b     *Bolt
	fe    *fakeEmitter
	fired []fired
	n     int64
}

func newHarness(t *testing.T, cfg Config, conf map[string]any) *harness {
	t.Helper()
	h := &harness{t: t, fe: &fakeEmitter{}}
	if cfg.LateFields == nil {
		cfg.LateFields = []string{"key", "ts", "index"}
	}
	if cfg.OutputFields == nil {
		cfg.OutputFields = []string{"n"}
	}
	if cfg.KeyField == "" {
		cfg.KeyField = "key"
	}
	h.b = New(cfg, func(w Window, events []*sdk.Tuple, out *Output) {
		f := fired{w: w}
		for _, e := range events {
			f.idx = append(f.idx, e.Int(2))
		}
		h.fired = append(h.fired, f)
		out.Emit(sdk.Int(int64(len(events))))
	})
	if conf == nil {
		conf = map[string]any{}
	}
	if err := h.b.Prepare(t.Context(), testTC(conf), sdk.NewBoltCollector(h.fe)); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) event(key string, ts int64) int64 {
	h.n++
	h.b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String(key), sdk.Int(ts), sdk.Int(h.n)},
		Anchors: []sdk.Anchor{{Root: uint64(h.n), ID: uint64(h.n)}}, Source: caseEvents, SourceTask: 1})
	return h.n
}

func (h *harness) finish() {
	h.t.Helper()
	if err := h.b.Finish(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) take() []fired {
	f := h.fired
	h.fired = nil
	return f
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Window, ok.TimeField, ok.LateFields = Session(time.Second), "ts", []string{"ts"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no window", func(c *Config) { c.Window = Spec{} }, "Window"},
		{"negative gap", func(c *Config) { c.Window = Session(-time.Millisecond) }, "Window.Gap"},
		{"sub-ms gap", func(c *Config) { c.Window = Session(1500 * time.Microsecond) }, "whole milliseconds"},
		{"no time field", func(c *Config) { c.TimeField = "" }, "TimeField"},
		{"zero size", func(c *Config) { c.Window = Tumbling(0) }, "Window.Size"},
		{"slide not dividing", func(c *Config) { c.Window = Sliding(10*time.Second, 3*time.Second) }, "multiple of slide"},
		{"slide above size", func(c *Config) { c.Window = Sliding(time.Second, 2*time.Second) }, "Window.Slide"},
		{"zero count", func(c *Config) { c.Window = TumblingCount(0) }, "Window.Count"},
		{"zero every", func(c *Config) { c.Window = SlidingCount(3, 0) }, "Window.Every"},
		{"negative ooo", func(c *Config) { c.OutOfOrderness = -time.Second }, "OutOfOrderness"},
		{"negative lateness", func(c *Config) { c.AllowedLateness = -time.Second }, "AllowedLateness"},
		{"late without fields", func(c *Config) { c.LateFields = nil }, "LateFields"},
		{"empty punctuation", func(c *Config) { c.PunctuationStream = "" }, "PunctuationStream"},
		{"late stream clash", func(c *Config) { c.Streams = map[string][]string{"late": {"x"}} }, "LateStream"},
		{"bad ack mode", func(c *Config) { c.Ack = 9 }, "Ack"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want ErrConfig naming %q", err, tc.field)
			}
		})
	}
	// Count windows need no time field and no late fields.
	c := DefaultConfig()
	c.Window = SlidingCount(5, 2)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Prepare validates the message timeout against what AckOnFire holds.
func TestPrepareChecksTimeout(t *testing.T) {
	base := DefaultConfig()
	base.Window, base.TimeField, base.KeyField, base.LateFields = Session(20*time.Second), "ts", "key", []string{"key", "ts", "index"}
	base.OutOfOrderness = 5 * time.Second
	base.AllowedLateness = 2 * time.Second
	prepare := func(cfg Config, conf map[string]any) (error, *fakeEmitter) {
		fe := &fakeEmitter{}
		b := New(cfg, func(Window, []*sdk.Tuple, *Output) {})
		return b.Prepare(t.Context(), testTC(conf), sdk.NewBoltCollector(fe)), fe
	}
	// 20 + 5 + 2 + tick 1 = 28s: a 30s timeout is enough, 28s is not.
	if err, _ := prepare(base, map[string]any{keyTickFreq: 1}); err != nil {
		t.Fatalf("30s default timeout > 28s hold: %v", err)
	}
	err, _ := prepare(base, map[string]any{keyTickFreq: 1, keyTimeout: 28})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "28s") || !strings.Contains(err.Error(), keyTimeout) {
		t.Fatalf("error %v, want ErrTimeout naming the key and the 28s hold", err)
	}
	// The idle timeout counts when it is longer than the span.
	idle := base
	idle.IdleTimeout = 40 * time.Second
	if err, _ := prepare(idle, map[string]any{keyTickFreq: 1, keyTimeout: 35}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("idle 40s + tick vs timeout 35s: %v, want ErrTimeout", err)
	}
	if err, _ := prepare(idle, nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), keyTickFreq) {
		t.Fatalf("idle timeout without ticks: %v, want ErrConfig naming %s", err, keyTickFreq)
	}
	// Warn: Prepare succeeds and reports.
	warn := base
	warn.TimeoutCheck = CheckWarn
	if err, fe := prepare(warn, map[string]any{keyTimeout: 10}); err != nil || len(fe.errs) != 1 || !errors.Is(fe.errs[0], ErrTimeout) {
		t.Fatalf("warn: err %v reported %v, want success and one ErrTimeout report", err, fe.errs)
	}
	// No hold, no check: acking off, or AckOnReceipt.
	if err, _ := prepare(base, map[string]any{keyTimeout: 10, keyAckers: 0}); err != nil {
		t.Fatalf("acking off: %v", err)
	}
	rec := base
	rec.Ack = AckOnReceipt
	if err, _ := prepare(rec, map[string]any{keyTimeout: 10}); err != nil {
		t.Fatalf("ack on receipt: %v", err)
	}
	// Time windows hold for their size.
	tw := base
	tw.Window = Sliding(60*time.Second, 10*time.Second)
	if err, _ := prepare(tw, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("60s window, 30s timeout: %v, want ErrTimeout", err)
	}
	// A bad setting is named.
	if err, _ := prepare(base, map[string]any{keyTimeout: "soon"}); err == nil || !strings.Contains(err.Error(), keyTimeout) {
		t.Fatalf("bad timeout: %v", err)
	}
	// Config errors surface from Prepare too, after WithPrepare.
	b := New(base, func(Window, []*sdk.Tuple, *Output) {}, WithPrepare(func(_ context.Context, _ *sdk.TaskContext, c *Config) error {
		c.Window = Session(-time.Second)
		return nil
	}))
	if err := b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(&fakeEmitter{})); !errors.Is(err, ErrConfig) {
		t.Fatalf("WithPrepare's config: %v, want ErrConfig", err)
	}
}

func TestTumblingTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Tumbling(10*time.Millisecond), "ts"
	cfg.OutOfOrderness = 5 * time.Millisecond
	h := newHarness(t, cfg, nil)
	a0 := h.event("a", 0)
	a9 := h.event("a", 9)
	b3 := h.event("b", 4)   // wm 4: not late
	a12 := h.event("a", 12) // wm 7
	if f := h.take(); len(f) != 0 {
		t.Fatalf("fired %v before the watermark passed 9", f)
	}
	h.event("a", 6)         // late: behind watermark 7
	a15 := h.event("a", 15) // wm 10: [0,10) fires for a and b, key order
	want := []fired{
		{Window{KindTumblingTime, "a", 0, 10}, []int64{a0, a9}},
		{Window{KindTumblingTime, "b", 0, 10}, []int64{b3}},
	}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
	if st := h.b.Stats(); st.Late != 1 {
		t.Fatalf("late %d, want 1 (6 is behind watermark 7)", st.Late)
	}
	h.finish()
	want = []fired{{Window{KindTumblingTime, "a", 10, 20}, []int64{a12, a15}}}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("at the end fired %+v, want %+v", f, want)
	}
	checkAllAckedOnce(t, h)
}

func TestTumblingTimeNegativeTimes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Tumbling(10*time.Millisecond), "ts"
	cfg.OutOfOrderness = 100 * time.Millisecond
	h := newHarness(t, cfg, nil)
	x := h.event("a", -1)
	y := h.event("a", -10)
	z := h.event("a", -11)
	h.finish()
	want := []fired{
		{Window{KindTumblingTime, "a", -20, -10}, []int64{z}},
		{Window{KindTumblingTime, "a", -10, 0}, []int64{y, x}},
	}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
}

func TestSlidingTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Sliding(30*time.Millisecond, 10*time.Millisecond), "ts"
	h := newHarness(t, cfg, nil)
	e5 := h.event("a", 5)
	e25 := h.event("a", 25)
	// Windows containing 5: [-20,10) [-10,20) [0,30); the watermark 25
	// passed 9 and 19, so the first two fired already.
	want := []fired{
		{Window{KindSlidingTime, "a", -20, 10}, []int64{e5}},
		{Window{KindSlidingTime, "a", -10, 20}, []int64{e5}},
	}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
	if acked(h, e5) {
		t.Fatal("event 5 acked while window [0,30) still holds it")
	}
	e31 := h.event("a", 31) // wm 31: [0,30) fires
	want = []fired{{Window{KindSlidingTime, "a", 0, 30}, []int64{e5, e25}}}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
	if !acked(h, e5) || acked(h, e25) {
		t.Fatal("after [0,30) fired, event 5 must be acked and 25 still held")
	}
	h.finish()
	want = []fired{
		{Window{KindSlidingTime, "a", 10, 40}, []int64{e25, e31}},
		{Window{KindSlidingTime, "a", 20, 50}, []int64{e25, e31}},
		{Window{KindSlidingTime, "a", 30, 60}, []int64{e31}},
	}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("at the end fired %+v, want %+v", f, want)
	}
	checkAllAckedOnce(t, h)
}

func TestTumblingCount(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = TumblingCount(3), "ts"
	h := newHarness(t, cfg, nil)
	var a, b []int64
	for i := range 7 {
		a = append(a, h.event("a", int64(10-i)))
		if i < 2 {
			b = append(b, h.event("b", 0))
		}
	}
	want := []fired{
		{Window{KindTumblingCount, "a", 8, 10}, a[0:3]},
		{Window{KindTumblingCount, "a", 5, 7}, a[3:6]},
	}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
	if !acked(h, a[5]) || acked(h, a[6]) {
		t.Fatal("a's first six events must be acked, the seventh held")
	}
	h.finish()
	want = []fired{
		{Window{KindTumblingCount, "a", 4, 4}, a[6:]},
		{Window{KindTumblingCount, "b", 0, 0}, b},
	}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("at the end fired %+v, want %+v", f, want)
	}
	checkAllAckedOnce(t, h)
}

func TestSlidingCount(t *testing.T) {
	for _, tc := range []struct{ n, every int }{{3, 1}, {3, 2}, {2, 5}, {4, 4}} {
		t.Run(fmt.Sprintf("%d-every-%d", tc.n, tc.every), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Window, cfg.TimeField = SlidingCount(tc.n, tc.every), "ts"
			h := newHarness(t, cfg, nil)
			var ids []int64
			var want []fired
			for i := range 11 {
				ids = append(ids, h.event("k", int64(i)))
				if (i+1)%tc.every == 0 {
					w := ids[max(0, len(ids)-tc.n):]
					want = append(want, fired{Window{Kind: KindSlidingCount, Key: "k", Start: int64(i + 1 - len(w)), End: int64(i)}, slices.Clone(w)})
				}
				// Every event no future window contains is acked.
				nextFire := i + tc.every - (i+1)%tc.every
				for j, id := range ids {
					needed := j > nextFire-tc.n
					if acked(h, id) == needed {
						t.Fatalf("after event %d: event %d acked=%v, want %v", i, j, !needed, !needed)
					}
				}
			}
			if tc.n == tc.every {
				for i := range want {
					want[i].w.Kind = KindTumblingCount
				}
			}
			// At the end the next window fires early with what it would
			// hold; events no full window would hold were released.
			if held := min(tc.n, max(0, tc.n-tc.every+11%tc.every)); 11%tc.every != 0 && held > 0 {
				w := ids[len(ids)-held:]
				want = append(want, fired{Window{Kind: want[0].w.Kind, Key: "k", Start: int64(11 - len(w)), End: 10}, slices.Clone(w)})
			}
			h.finish()
			if f := h.take(); !reflect.DeepEqual(f, want) {
				t.Fatalf("fired\n%+v\nwant\n%+v", f, want)
			}
			checkAllAckedOnce(t, h)
		})
	}
}

// Inputs that cannot be windowed are acked, counted and reported, not
// crashed on.
func TestInvalidInputs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Session(time.Second), "ts"
	h := newHarness(t, cfg, nil)
	noTime := sdk.NewSource("other", sdk.DefaultStream, []string{"key"})
	bad := []*sdk.Tuple{
		{Values: []sdk.Value{sdk.String("a")}, Source: noTime},
		{Values: []sdk.Value{sdk.String("a"), sdk.String("yesterday"), sdk.Int(0)}, Source: caseEvents},
		{Values: []sdk.Value{sdk.String("a"), sdk.Double(1.5), sdk.Int(0)}, Source: caseEvents},
		{Values: []sdk.Value{sdk.String("a")}, Source: caseEvents}, // short tuple
		{Values: []sdk.Value{sdk.String("x")}, Source: casePunct},
	}
	for _, tu := range bad {
		h.b.Execute(tu)
	}
	if st := h.b.Stats(); st.Invalid != 5 || st.Events != 0 || len(h.fe.acks) != 5 || len(h.fe.errs) != 5 {
		t.Fatalf("stats %+v acks %d errs %v: want 5 invalid, all acked and reported", st, len(h.fe.acks), h.fe.errs)
	}
	for _, want := range []string{`no time field "ts"`, `"yesterday"`, "1.5", "punctuation"} {
		found := false
		for _, e := range h.fe.errs {
			found = found || strings.Contains(e.Error(), want)
		}
		if !found {
			t.Errorf("no report mentions %q: %v", want, h.fe.errs)
		}
	}
	// An integral double is a fine time.
	h.b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String("a"), sdk.Double(7), sdk.Int(99)}, Source: caseEvents})
	h.finish()
	if f := h.take(); len(f) != 1 || f[0].w.Start != 7 {
		t.Fatalf("fired %+v", f)
	}
}

// A panicking window function fails the window's held events (they
// replay) and the task goes on.
func TestWindowFunctionPanic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField, cfg.KeyField, cfg.LateFields = Session(time.Millisecond), "ts", "key", []string{"a", "b", "c"}
	fe := &fakeEmitter{}
	b := New(cfg, func(w Window, _ []*sdk.Tuple, _ *Output) {
		if w.Key == "boom" {
			panic("bad data")
		}
	})
	if err := b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(fe)); err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"boom", "boom", "ok"} {
		b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String(k), sdk.Int(int64(i / 2)), sdk.Int(int64(i))}, Source: caseEvents})
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(fe.fails) != 2 || len(fe.acks) != 1 || len(fe.errs) != 1 || !strings.Contains(fe.errs[0].Error(), "bad data") {
		t.Fatalf("fails %d acks %d errs %v: want boom's 2 events failed, ok's acked, one report", len(fe.fails), len(fe.acks), fe.errs)
	}
}

// Punctuations: the bolt takes the least watermark over every task of a
// component, so one task's end of event time does not close what another
// task may still extend.
func TestPunctuationFromSeveralTasks(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Session(10*time.Millisecond), "ts"
	h := newHarness(t, cfg, nil)
	h.b.tc.ComponentTasks = map[string][]int32{"events": {1, 2}}
	punct := func(task int32, wm int64) {
		h.b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.Int(wm)}, Source: casePunct, SourceTask: task})
	}
	a := h.event("a", 0)
	punct(1, EndOfEventTime)
	if f := h.take(); len(f) != 0 {
		t.Fatalf("fired %v with task 2 not heard from", f)
	}
	punct(2, 50)
	want := []fired{{Window{KindSession, "a", 0, 0}, []int64{a}}}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
	b := h.event("b", 60)
	punct(2, EndOfEventTime)
	want = []fired{{Window{KindSession, "b", 60, 60}, []int64{b}}}
	if f := h.take(); !reflect.DeepEqual(f, want) {
		t.Fatalf("fired %+v, want %+v", f, want)
	}
	if h.b.Stats().Watermark != EndOfEventTime {
		t.Fatal("watermark is not the end of event time")
	}
	// Everything after the end of event time is late.
	h.event("c", 1<<50)
	if st := h.b.Stats(); st.Late != 1 || st.HeldEvents != 0 {
		t.Fatalf("stats %+v, want the event after the end late", st)
	}
}

// referenceSessions is the contract the plain way: sort each key's events
// by time and cut where consecutive times are more than gap apart.
func referenceSessions(events map[string][]int64, gap int64) []string {
	var out []string
	for k, ts := range events {
		ts = slices.Clone(ts)
		slices.Sort(ts)
		start, n := ts[0], 1
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i]-ts[i-1] > gap {
				out = append(out, fmt.Sprintf("%s %d %d %d", k, start, ts[i-1], n))
				if i < len(ts) {
					start, n = ts[i], 0
				}
			}
			n++
		}
	}
	slices.Sort(out)
	return out
}

// With random events out of order by at most the out-of-orderness, no
// event is late and the sessions equal the reference, whatever the
// arrival order, in both ack modes.
func TestSessionsRandomAgainstReference(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 99))
		gap := rng.Int64N(50)
		bound := rng.Int64N(40)
		cfg := DefaultConfig()
		cfg.Window, cfg.TimeField = Session(time.Duration(gap)*time.Millisecond), "ts"
		cfg.OutOfOrderness = time.Duration(bound) * time.Millisecond
		cfg.Ack = []AckMode{AckOnFire, AckOnReceipt}[seed%2]
		h := newHarness(t, cfg, nil)
		// Events in time order, then each moved back by up to bound.
		type ev struct {
			key string
			ts  int64
			at  int64
		}
		var evs []ev
		tsNow := int64(0)
		for range 2000 {
			tsNow += rng.Int64N(2 * (gap + 1))
			evs = append(evs, ev{fmt.Sprintf("k%d", rng.IntN(7)), tsNow, tsNow + rng.Int64N(bound+1)})
		}
		slices.SortStableFunc(evs, func(a, b ev) int { return cmp.Compare(a.at, b.at) })
		byKey := map[string][]int64{}
		for _, e := range evs {
			h.event(e.key, e.ts)
			byKey[e.key] = append(byKey[e.key], e.ts)
		}
		h.finish()
		var got []string
		for _, f := range h.take() {
			got = append(got, fmt.Sprintf("%s %d %d %d", f.w.Key, f.w.Start, f.w.End, len(f.idx)))
		}
		slices.Sort(got)
		if want := referenceSessions(byKey, gap); !slices.Equal(got, want) {
			t.Fatalf("seed %d (gap %d, bound %d): %d sessions, reference %d", seed, gap, bound, len(got), len(want))
		}
		if st := h.b.Stats(); st.Late != 0 {
			t.Fatalf("seed %d: %d late events within the bound", seed, st.Late)
		}
		checkAllAckedOnce(t, h)
	}
}

func acked(h *harness, idx int64) bool {
	for _, a := range h.fe.acks {
		if a.Source == caseEvents && a.Int(2) == idx {
			return true
		}
	}
	return false
}

func checkAllAckedOnce(t *testing.T, h *harness) {
	t.Helper()
	n := map[int64]int{}
	for _, a := range h.fe.acks {
		if a.Source == caseEvents {
			n[a.Int(2)]++
		}
	}
	for i := int64(1); i <= h.n; i++ {
		if n[i] != 1 {
			t.Fatalf("event %d acked %d times, want once", i, n[i])
		}
	}
	if len(h.fe.fails) != 0 {
		t.Fatalf("%d fails", len(h.fe.fails))
	}
}

// A bolt holding its inputs (AckOnFire) with no input on the punctuation
// stream and no IdleTimeout is warned of at Prepare: a finite run then
// never ends (it hung in silence).
func TestPrepareWarnsOfNoWatermarkInput(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField, cfg.KeyField, cfg.LateStream = Session(10*time.Second), "ts", "key", ""
	cfg.TimeoutCheck = CheckOff
	for _, tc := range []struct {
		inputs []sdk.Input
		warned bool
	}{
		{[]sdk.Input{{Component: "events", Stream: "default"}}, true},
		{[]sdk.Input{{Component: "events", Stream: "default"}, {Component: "events", Stream: DefaultPunctuationStream}}, false},
		{nil, false}, // the runtime did not say
	} {
		var log bytes.Buffer
		ctx := testTC(nil)
		ctx.Inputs = tc.inputs
		ctx.Log = slog.New(slog.NewTextHandler(&log, nil))
		if err := New(cfg, func(Window, []*sdk.Tuple, *Output) {}).Prepare(t.Context(), ctx, sdk.NewBoltCollector(&fakeEmitter{})); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(log.String(), `no input on stream \"watermark\" and no IdleTimeout`); got != tc.warned {
			t.Errorf("inputs %v: warned %v, want %v; log:\n%s", tc.inputs, got, tc.warned, log.String())
		}
	}
}

// A key or time field that an input stream does not declare fails the
// task at Prepare, naming the stream and its fields: every event would
// otherwise be skipped one at a time and the run would produce nothing.
func TestPrepareRefusesAFieldTheInputLacks(t *testing.T) {
	events := sdk.Input{Component: "events", Stream: "default", Fields: []string{"visitor", "ts", "x"}}
	watermark := sdk.Input{Component: "events", Stream: DefaultPunctuationStream, Fields: []string{"ts"}}
	for _, tc := range []struct {
		name           string
		key, timeField string
		inputs         []sdk.Input
		wantErr        string
	}{
		{"both declared", "visitor", "ts", []sdk.Input{events, watermark}, ""},
		{"misspelt time field", "visitor", "time", []sdk.Input{events, watermark}, `TimeField: "time" is not a field of input events/default (its fields: visitor, ts, x)`},
		{"misspelt key field", "user", "ts", []sdk.Input{events}, `KeyField: "user" is not a field of input events/default`},
		{"the watermark stream is not checked", "visitor", "ts", []sdk.Input{events, {Component: "events", Stream: DefaultPunctuationStream, Fields: []string{"wm"}}}, ""},
		{"fields not known", "user", "time", []sdk.Input{{Component: "events", Stream: "default"}}, ""},
		{"a second stream without the key", "visitor", "ts", []sdk.Input{events, {Component: "clicks", Stream: "default", Fields: []string{"ts"}}}, `KeyField: "visitor" is not a field of input clicks/default`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Window, cfg.TimeField, cfg.KeyField, cfg.LateStream = Session(10*time.Second), tc.timeField, tc.key, ""
			cfg.TimeoutCheck = CheckOff
			ctx := testTC(nil)
			ctx.Inputs = tc.inputs
			ctx.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
			err := New(cfg, func(Window, []*sdk.Tuple, *Output) {}).Prepare(t.Context(), ctx, sdk.NewBoltCollector(&fakeEmitter{}))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Prepare: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrConfig)):
				t.Fatalf("Prepare error %v, want one containing %q (an ErrConfig)", err, tc.wantErr)
			}
		})
	}
}

// Late events are warned of at the 1st, 10th, 100th...: they leave on
// the late stream, dropped unless subscribed, and a punctuation that
// overtakes events on their way made every event of a run late, in
// silence.
func TestLateEventsAreWarnedOf(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Tumbling(10*time.Millisecond), "ts"
	cfg.OutOfOrderness = 5 * time.Millisecond
	h := newHarness(t, cfg, nil)
	var log bytes.Buffer
	h.b.log = slog.New(slog.NewTextHandler(&log, nil))
	h.event("a", 100) // watermark 95
	for range 150 {
		h.event("a", 1)
	}
	if st := h.b.Stats(); st.Late != 150 {
		t.Fatalf("late %d, want 150", st.Late)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d warnings, want 3 (the 1st, 10th and 100th late event):\n%s", len(lines), log.String())
	}
	for i, n := range []string{"1", "10", "100"} {
		if want := `window: ` + n + ` late events so far; the last, at 1 (key \"a\", from events/default), came after the watermark 95`; !strings.Contains(lines[i], want) {
			t.Errorf("warning %d: %s\nwant it to contain %s", i, lines[i], want)
		}
	}
}

// WithFilter leaves out the inputs it rejects: acked at once, counted, and
// in no window.
func TestWithFilter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Tumbling(10*time.Millisecond), "ts"
	cfg.KeyField, cfg.OutputFields, cfg.LateStream = "key", []string{"n"}, ""
	var fired [][]int64
	fe := &fakeEmitter{}
	b := New(cfg, func(_ Window, events []*sdk.Tuple, out *Output) {
		var idx []int64
		for _, e := range events {
			idx = append(idx, e.Int(2))
		}
		fired = append(fired, idx)
	}, WithFilter(func(t *sdk.Tuple) bool { return t.Int(2)%2 == 1 })) // odd indexes only
	if err := b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(fe)); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 4; i++ {
		b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String("a"), sdk.Int(i), sdk.Int(i)},
			Anchors: []sdk.Anchor{{Root: uint64(i), ID: uint64(i)}}, Source: caseEvents, SourceTask: 1})
	}
	if len(fe.acks) != 2 || fe.acks[0].Int(2) != 2 || fe.acks[1].Int(2) != 4 {
		t.Fatalf("acked before the window fired: %d inputs, want the 2 left out", len(fe.acks))
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Filtered != 2 || st.Events != 2 || !reflect.DeepEqual(fired, [][]int64{{1, 3}}) {
		t.Fatalf("stats %+v, fired %v: want 2 filtered, 2 events, one window of 1 and 3", st, fired)
	}
}
