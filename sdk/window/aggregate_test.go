package window

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/gale-stream/gale/sdk"
)

// item is an event as the collecting aggregate sees it.
type item struct{ ts, idx int64 }

// collect is an Aggregate whose accumulator is the list of its events'
// (time, index): its results must be the windows of the event-holding
// engine. Merge checks its contract: a's events all before b's.
type collect struct {
	t      *testing.T
	record func(w Window, idx []int64, out *Output)
}

func (c collect) New() *[]item { return &[]item{} }

func (c collect) Add(acc *[]item, ts int64, t *sdk.Tuple) *[]item {
	*acc = append(*acc, item{ts, t.Int(2)})
	return acc
}

func (c collect) Merge(a, b *[]item) *[]item {
	if len(*a) > 0 && len(*b) > 0 {
		maxA := slices.MaxFunc(*a, func(x, y item) int { return cmp.Compare(x.ts, y.ts) }).ts
		minB := slices.MinFunc(*b, func(x, y item) int { return cmp.Compare(x.ts, y.ts) }).ts
		if maxA >= minB {
			c.t.Errorf("Merge: a ends at %d, b starts at %d: not in time order", maxA, minB)
		}
	}
	*a = append(*a, *b...)
	return a
}

func (c collect) Result(w Window, acc *[]item, out *Output) {
	evs := slices.Clone(*acc)
	// Ties in time keep arrival order: indexes grow with arrival.
	slices.SortFunc(evs, func(x, y item) int {
		if d := cmp.Compare(x.ts, y.ts); d != 0 {
			return d
		}
		return cmp.Compare(x.idx, y.idx)
	})
	idx := make([]int64, len(evs))
	for i, e := range evs {
		idx[i] = e.idx
	}
	c.record(w, idx, out)
}

// TestAggregateSessionCases: on every shared case, in both ack modes, the
// aggregating bolt fires the same sessions (same events, same moment) and
// late events as the case expects and as the event-holding bolt, with the
// same acking contract; in AckOnReceipt mode it never retains an input.
func TestAggregateSessionCases(t *testing.T) {
	files, err := filepath.Glob("testdata/sessions/*.json")
	if err != nil || len(files) < 8 {
		t.Fatalf("want the shared cases in testdata/sessions, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		c := loadCase(t, f)
		for _, mode := range []AckMode{AckOnFire, AckOnReceipt} {
			t.Run(c.Name+"/"+mode.String(), func(t *testing.T) {
				newBolt := func(cfg Config, record func(Window, []int64, *Output)) *Bolt {
					return NewAggregate(cfg, collect{t, record})
				}
				after := func(b *Bolt) {
					if st := b.Stats(); mode == AckOnReceipt && st.HeldEvents != 0 {
						t.Fatalf("AckOnReceipt: %d inputs retained, want none", st.HeldEvents)
					}
				}
				sessions, late, fe, b := runCaseWith(t, c, mode, newBolt, after)
				if !reflect.DeepEqual(nonNil(sessions), nonNil(c.Expected.Sessions)) {
					t.Errorf("%s\nsessions:\n got %s\nwant %s", c.Description, show(sessions), show(c.Expected.Sessions))
				}
				if !reflect.DeepEqual(nonNil(late), nonNil(c.Expected.Late)) {
					t.Errorf("%s\nlate:\n got %+v\nwant %+v", c.Description, late, c.Expected.Late)
				}
				hs, hl, _, _ := runCase(t, c, mode)
				if !reflect.DeepEqual(sessions, hs) || !reflect.DeepEqual(late, hl) {
					t.Errorf("aggregating and event-holding bolts differ:\n%s\n%s", show(sessions), show(hs))
				}
				checkSettled(t, c, fe, mode)
				if st := b.Stats(); st.HeldEvents != 0 || st.OpenWindows != 0 {
					t.Errorf("after the end: %d open windows holding %d events", st.OpenWindows, st.HeldEvents)
				}
			})
		}
	}
}

// runBoth feeds the same random inputs to an event-holding bolt and an
// aggregating one and returns what each fired (window and event indexes)
// and emitted on the late stream.
func runBoth(t *testing.T, cfg Config, evs []testEvent, punct map[int]int64) (hold, agg []string, hLate, aLate []int64) {
	t.Helper()
	run := func(aggregate bool) (fired []string, late []int64) {
		h := newHarness(t, cfg, nil)
		if aggregate {
			h.b = NewAggregate(h.b.cfg, collect{t, func(w Window, idx []int64, out *Output) {
				fired = append(fired, fmt.Sprintf("%v %v", w, idx))
				out.Emit(sdk.Int(int64(len(idx))))
			}})
			if err := h.b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(h.fe)); err != nil {
				t.Fatal(err)
			}
		}
		for i, e := range evs {
			if wm, ok := punct[i]; ok {
				h.b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.Int(wm)}, Source: casePunct, SourceTask: 1})
			}
			h.event(e.key, e.ts)
			if aggregate && cfg.Ack == AckOnReceipt && h.b.Stats().HeldEvents != 0 {
				t.Fatalf("AckOnReceipt: %d inputs retained", h.b.Stats().HeldEvents)
			}
		}
		h.finish()
		if !aggregate {
			for _, f := range h.take() {
				fired = append(fired, fmt.Sprintf("%v %v", f.w, f.idx))
			}
		}
		for _, e := range h.fe.bolt {
			if e.stream == DefaultLateStream {
				late = append(late, e.values[2].Int())
			}
		}
		checkAllAckedOnce(t, h)
		return fired, late
	}
	hold, hLate = run(false)
	agg, aLate = run(true)
	return hold, agg, hLate, aLate
}

// With random out-of-order traffic, late events and punctuations, the
// aggregating bolt fires exactly the windows of the event-holding bolt,
// for sessions, tumbling and sliding windows, in both ack modes.
func TestAggregateRandomAgainstEvents(t *testing.T) {
	specs := []Spec{Session(20 * time.Millisecond), Tumbling(30 * time.Millisecond), Sliding(40*time.Millisecond, 10*time.Millisecond)}
	for seed := range uint64(24) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := DefaultConfig()
		cfg.Window, cfg.TimeField = specs[seed%3], "ts"
		cfg.Ack = []AckMode{AckOnFire, AckOnReceipt}[seed/3%2]
		cfg.OutOfOrderness = time.Duration(rng.Int64N(20)) * time.Millisecond
		cfg.AllowedLateness = time.Duration(rng.Int64N(10)) * time.Millisecond
		cfg.TimeoutCheck = CheckOff
		var evs []testEvent
		punct := map[int]int64{}
		ts := int64(-500) // windows before the epoch too
		for i := range 1500 {
			ts += rng.Int64N(15)
			// Some events far behind (late), most within the bound.
			back := rng.Int64N(25)
			if rng.IntN(20) == 0 {
				back = rng.Int64N(200)
			}
			evs = append(evs, testEvent{fmt.Sprintf("k%d", rng.IntN(6)), ts - back})
			if rng.IntN(100) == 0 {
				punct[i] = ts - 30
			}
		}
		hold, agg, hLate, aLate := runBoth(t, cfg, evs, punct)
		t.Logf("seed %d %s %s: %d windows, %d late", seed, cfg.Window.Kind, cfg.Ack, len(hold), len(hLate))
		if len(hold) == 0 || !slices.Equal(hold, agg) || !slices.Equal(hLate, aLate) {
			t.Fatalf("seed %d %s %s: %d windows (%d late) event-holding, %d (%d late) aggregating; first difference %s",
				seed, cfg.Window.Kind, cfg.Ack, len(hold), len(hLate), len(agg), len(aLate), firstDiff(hold, agg))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d:\n  %s\n  %s", i, a[i], b[i])
		}
	}
	return "in length"
}

// discard is an emitter that keeps nothing, so that only the bolt can
// keep an input alive.
type discard struct{}

func (discard) EmitBolt(string, []*sdk.Tuple, []sdk.Value, int32)  {}
func (discard) EmitSpout(string, uint64, bool, []sdk.Value, int32) {}
func (discard) Ack(*sdk.Tuple)                                     {}
func (discard) Fail(*sdk.Tuple)                                    {}
func (discard) ReportError(error)                                  {}
func (discard) EndOfInput()                                        {}

// counter is an Aggregate of O(1) state: the number of events.
type counter struct{ fired *[]string }

func (counter) New() *int64                                  { return new(int64) }
func (counter) Add(acc *int64, _ int64, _ *sdk.Tuple) *int64 { *acc++; return acc }
func (counter) Merge(a, b *int64) *int64                     { *a += *b; return a }
func (c counter) Result(w Window, acc *int64, out *Output) {
	*c.fired = append(*c.fired, fmt.Sprintf("%s %d %d %d", w.Key, w.Start, w.End, *acc))
	out.Emit(sdk.Int(*acc))
}

// Memory per open window is O(1) in AckOnReceipt mode: with 100 keys whose
// sessions stay open through 20,000 events, the bolt retains no input
// (HeldEvents 0, and the garbage collector frees every input tuple while
// the sessions are open), only an accumulator per session. In AckOnFire
// mode it holds them all, as it must to ack them.
func TestAggregateRetainsNoInput(t *testing.T) {
	for _, mode := range []AckMode{AckOnReceipt, AckOnFire} {
		cfg := DefaultConfig()
		cfg.Window, cfg.TimeField, cfg.KeyField = Session(time.Hour), "ts", "key"
		cfg.LateFields, cfg.OutputFields = []string{"key", "ts", "index"}, []string{"n"}
		cfg.Ack, cfg.TimeoutCheck = mode, CheckOff
		var fired []string
		b := NewAggregate(cfg, counter{&fired})
		if err := b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(discard{})); err != nil {
			t.Fatal(err)
		}
		const n, keys = 20_000, 100
		var refs []weak.Pointer[sdk.Tuple]
		for i := range n {
			tp := &sdk.Tuple{Values: []sdk.Value{sdk.String(fmt.Sprintf("k%d", i%keys)), sdk.Int(int64(i)), sdk.Int(int64(i))},
				Anchors: []sdk.Anchor{{Root: uint64(i + 1), ID: uint64(i + 1)}}, Source: caseEvents, SourceTask: 1}
			if i%100 == 0 {
				refs = append(refs, weak.Make(tp))
			}
			b.Execute(tp)
		}
		st := b.Stats()
		if st.OpenWindows != keys || len(fired) != 0 {
			t.Fatalf("%s: %d open sessions, %d fired; want %d open", mode, st.OpenWindows, len(fired), keys)
		}
		runtime.GC()
		alive := 0
		for _, r := range refs {
			if r.Value() != nil {
				alive++
			}
		}
		switch mode {
		case AckOnReceipt:
			if st.HeldEvents != 0 || alive != 0 {
				t.Fatalf("%s: %d inputs held, %d of %d sampled inputs still reachable; want none", mode, st.HeldEvents, alive, len(refs))
			}
		case AckOnFire:
			if st.HeldEvents != n {
				t.Fatalf("%s: %d inputs held, want all %d (to ack them when their session fires)", mode, st.HeldEvents, n)
			}
		}
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
		if len(fired) != keys || !strings.HasSuffix(fired[0], fmt.Sprintf(" %d", n/keys)) {
			t.Fatalf("%s: fired %d sessions (first %q), want %d of %d events", mode, len(fired), fired[0], keys, n/keys)
		}
	}
}

// A panic in Add drops the event (acked in AckOnReceipt mode, failed in
// AckOnFire mode, so that it replays) and reports it; the session goes on
// without it.
func TestAggregateAddPanic(t *testing.T) {
	for _, mode := range []AckMode{AckOnReceipt, AckOnFire} {
		cfg := DefaultConfig()
		cfg.Window, cfg.TimeField = Session(10*time.Millisecond), "ts"
		cfg.Ack, cfg.TimeoutCheck = mode, CheckOff
		var fired []string
		h := newHarness(t, cfg, nil)
		h.b = NewAggregate(h.b.cfg, AggregateFuncs[*int64]{
			NewFunc: func() *int64 { return new(int64) },
			AddFunc: func(acc *int64, ts int64, _ *sdk.Tuple) *int64 {
				if ts == 3 {
					panic("bad event")
				}
				*acc++
				return acc
			},
			MergeFunc: func(a, b *int64) *int64 { *a += *b; return a },
			ResultFunc: func(w Window, acc *int64, out *Output) {
				fired = append(fired, fmt.Sprintf("%d %d %d", w.Start, w.End, *acc))
				out.Emit(sdk.Int(*acc))
			},
		})
		if err := h.b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(h.fe)); err != nil {
			t.Fatal(err)
		}
		h.event("a", 1)
		bad := h.event("a", 3)
		h.event("a", 5)
		h.finish()
		if !slices.Equal(fired, []string{"1 5 2"}) {
			t.Fatalf("%s: fired %v, want the session without the bad event", mode, fired)
		}
		if len(h.fe.errs) != 1 || !strings.Contains(h.fe.errs[0].Error(), "bad event") {
			t.Fatalf("%s: errors %v", mode, h.fe.errs)
		}
		failed := len(h.fe.fails) == 1 && h.fe.fails[0].Int(2) == bad
		if (mode == AckOnFire) != failed || (mode == AckOnReceipt && !acked(h, bad)) {
			t.Fatalf("%s: bad event failed %v, acked %v", mode, failed, acked(h, bad))
		}
		if mode == AckOnFire && len(h.fe.bolt[0].anchors) != 2 {
			t.Fatalf("result anchored to %d inputs, want the 2 added", len(h.fe.bolt[0].anchors))
		}
	}
}

func TestAggregateConfig(t *testing.T) {
	var fired []string
	for _, spec := range []Spec{TumblingCount(3), SlidingCount(3, 1)} {
		cfg := DefaultConfig()
		cfg.Window = spec
		b := NewAggregate(cfg, counter{&fired})
		if err := b.Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(discard{})); !errors.Is(err, ErrConfig) {
			t.Fatalf("%s windows with an aggregate: %v, want ErrConfig", spec.Kind, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Session(time.Second), "ts"
	if err := NewAggregate[*int64](cfg, nil).Prepare(t.Context(), testTC(nil), sdk.NewBoltCollector(discard{})); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil aggregate: %v, want ErrConfig", err)
	}
}
