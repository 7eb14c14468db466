package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(externalEnv); name != "" {
		runExternalTestComponent(name) // a re-executed external component
		return
	}
	goleak.VerifyTestMain(m,
		// memberlist's Shutdown does not wait for an in-flight probe, which
		// ends by itself within the probe timeout (250ms).
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// topo builds specs for tests without the YAML loader.
type topo struct{ s *galev1.TopologySpec }

func newTopo(t *testing.T, conf map[string]any) *topo {
	id := t.Name()
	st := newState(id)
	// The state stays for components that still run while the test's
	// nodes stop, but what it keeps goes: a sink keeps every value it
	// sees, and the package's memory tests bound the live heap.
	t.Cleanup(st.forget)
	c := map[string]*galev1.Value{"test.id": {Kind: &galev1.Value_StringValue{StringValue: id}}}
	for k, v := range conf {
		c[k] = protoValue(v)
	}
	return &topo{s: &galev1.TopologySpec{Name: "t", Config: c}}
}

func protoValue(x any) *galev1.Value {
	switch v := x.(type) {
	case int:
		return &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: int64(v)}}
	case float64:
		return &galev1.Value{Kind: &galev1.Value_DoubleValue{DoubleValue: v}}
	case bool:
		return &galev1.Value{Kind: &galev1.Value_BoolValue{BoolValue: v}}
	case string:
		return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: v}}
	case nil:
		return &galev1.Value{} // null
	}
	panic(fmt.Sprintf("protoValue %T", x))
}

func (tp *topo) spout(id, class string, n int, fields ...string) *topo {
	tp.s.Components = append(tp.s.Components, &galev1.ComponentSpec{
		Id: id, Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT, Parallelism: int32(n),
		Implementation: &galev1.ComponentSpec_Class{Class: class},
		Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: fields}},
	})
	return tp
}

// bolt adds a bolt; inputs are "component:grouping[:field]".
func (tp *topo) bolt(id, class string, n int, fields []string, inputs ...string) *topo {
	cs := &galev1.ComponentSpec{
		Id: id, Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: int32(n),
		Implementation: &galev1.ComponentSpec_Class{Class: class},
	}
	if fields != nil {
		cs.Outputs = []*galev1.StreamSpec{{Id: "default", Fields: fields}}
	}
	for _, in := range inputs {
		p := strings.Split(in, ":")
		g := &galev1.Grouping{}
		switch p[1] {
		case "shuffle":
			g.Type = galev1.GroupingType_GROUPING_TYPE_SHUFFLE
		case "fields":
			g.Type = galev1.GroupingType_GROUPING_TYPE_FIELDS
			g.Fields = p[2:]
		case "global":
			g.Type = galev1.GroupingType_GROUPING_TYPE_GLOBAL
		case "all":
			g.Type = galev1.GroupingType_GROUPING_TYPE_ALL
		case "local":
			g.Type = galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE
		}
		cs.Inputs = append(cs.Inputs, &galev1.InputSpec{Component: p[0], Stream: "default", Grouping: g})
	}
	tp.s.Components = append(tp.s.Components, cs)
	return tp
}

func (tp *topo) conf(component string, kv map[string]any) *topo {
	for _, c := range tp.s.Components {
		if c.Id == component {
			if c.Config == nil {
				c.Config = map[string]*galev1.Value{}
			}
			for k, v := range kv {
				c.Config[k] = protoValue(v)
			}
		}
	}
	return tp
}

// run runs the topology to its end with a generous safety deadline.
func (tp *topo) run(t *testing.T) (*Runtime, *testState) {
	t.Helper()
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	v, _ := states.Load(t.Name())
	return rt, v.(*testState)
}

func stats(rt *Runtime, id string) ComponentStats {
	for _, c := range rt.Stats() {
		if c.ID == id {
			return c
		}
	}
	return ComponentStats{}
}

// checkAllAcked asserts that every message 1..n was acked exactly once in
// the end (it may have failed before).
func checkAllAcked(t *testing.T, st *testState, n int) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for id := uint64(1); id <= uint64(n); id++ {
		if st.acked[id] != 1 {
			t.Fatalf("message %d acked %d times (failed %d)", id, st.acked[id], st.failed[id])
		}
	}
	if len(st.acked) != n {
		t.Fatalf("acked %d distinct messages, want %d", len(st.acked), n)
	}
}

// TestPassThroughCompletesEveryTree, with tasks asleep on Go's timers and
// on the precise clock (topology.wakeup.precise): each flushes every
// partial batch in time.
func TestPassThroughCompletesEveryTree(t *testing.T) {
	for _, precise := range []bool{false, true} {
		t.Run(fmt.Sprintf("precise=%v", precise), func(t *testing.T) {
			testPassThroughCompletesEveryTree(t, precise)
		})
	}
}

func testPassThroughCompletesEveryTree(t *testing.T, precise bool) {
	const n = 20000
	// Small emits per call leave partial batches for the deadlines.
	tp := newTopo(t, map[string]any{"test.count": n, "test.per_call": 7, KeyPreciseWakeups: precise}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 3, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "pass:fields:id")
	rt, st := tp.run(t)
	if (rt.clock != nil) != precise {
		t.Fatalf("precise wake-ups %v, but the runtime has a clock: %v", precise, rt.clock != nil)
	}
	checkAllAcked(t, st, n)
	if len(st.failed) != 0 {
		t.Fatalf("%d messages failed", len(st.failed))
	}
	for i := int64(0); i < n; i++ {
		if st.sunk[i] != 1 {
			t.Fatalf("sink saw id %d %d times", i, st.sunk[i])
		}
	}
	s := stats(rt, "seq")
	if s.Counters.Acked != n || s.Counters.Emitted != n || s.Latency.Count() != n {
		t.Fatalf("spout counters %+v, latency count %d", s.Counters, s.Latency.Count())
	}
	if p := stats(rt, "pass").Counters; p.Executed != n || p.Acked != n || p.Emitted != n {
		t.Fatalf("pass counters %+v", p)
	}
	// Bolts learn their subscriptions with the fields of each stream.
	if want := []sdk.Input{{Component: "pass", Stream: "default", Fields: []string{"id"}}}; !reflect.DeepEqual(st.sinkInputs, want) {
		t.Fatalf("sink's TaskContext.Inputs %+v, want %+v", st.sinkInputs, want)
	}
}

// TestDeadlinesFlushPartialBatches: with one tree in flight at a time and
// the idle-flush credit spent after its first burst, only the linger
// deadline sends each tuple on, so every hop of every tree waits for a
// task's wake-up, on Go's timers and on the precise clock alike.
func TestDeadlinesFlushPartialBatches(t *testing.T) {
	for _, precise := range []bool{false, true} {
		t.Run(fmt.Sprintf("precise=%v", precise), func(t *testing.T) {
			const n = 60
			tp := newTopo(t, map[string]any{
				"test.count": n, "test.per_call": 1, KeyPreciseWakeups: precise,
				KeyMaxSpoutPend: 1, KeyIdleFlushGap: "1h", KeyBatchLinger: "300us",
			}).
				spout("seq", "test.Seq", 1, "id").
				bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
				bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
			_, st := tp.run(t)
			checkAllAcked(t, st, n)
			if len(st.failed) != 0 {
				t.Fatalf("%d messages failed", len(st.failed))
			}
		})
	}
}

// TestProcessLatencyIsSampled: a Go bolt's Execute time reaches its
// process-latency histogram (one tuple sampled per batch); spouts have
// none.
func TestProcessLatencyIsSampled(t *testing.T) {
	const n = 30
	tp := newTopo(t, map[string]any{"test.count": n, "test.sleep": 2, KeyBatchSize: 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, _ := tp.run(t)
	p := stats(rt, "pass").Process
	if p.Count() == 0 || p.Count() > n || time.Duration(p.Quantile(0.5)) < 2*time.Millisecond {
		t.Fatalf("pass: %d samples, p50 %v; want up to %d of at least the 2 ms it sleeps", p.Count(), time.Duration(p.Quantile(0.5)), n)
	}
	sink, seq := stats(rt, "sink").Process, stats(rt, "seq").Process
	if sink.Count() == 0 {
		t.Fatal("sink: no process latency")
	}
	if c := seq.Count(); c != 0 {
		t.Fatalf("spout: %d process samples", c)
	}
}

// TestTaskThatEndedElsewhereIsNotRunAgain: a task the options mark as
// done (it ran to its end on another node before the assignment moved it)
// does not open its spout again; it only sends its end-of-input markers, so
// the run still ends.
func TestTaskThatEndedElsewhereIsNotRunAgain(t *testing.T) {
	const n = 1000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Done: func(task int32) bool { return task == 1 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := stateFor(t)
	if got := st.startCounts(); got[1] != 0 || got[2] != 1 {
		t.Fatalf("spout tasks started %v, want task 1 never and task 2 once", got)
	}
	// Task 1 (index 0) has the even values; only task 2's odd ones flow.
	for i := int64(0); i < n; i++ {
		if want := int(i % 2); st.sunk[i] != want {
			t.Fatalf("sink saw %d %d times, want %d", i, st.sunk[i], want)
		}
	}
	if !rt.Finished() {
		t.Fatal("run not finished")
	}
}

func TestBranchingTreesComplete(t *testing.T) {
	// Each id fans out 3x in pass1 and 2x in pass2 (6 leaves), and an
	// all-grouping to 3 sink tasks triples them again.
	const n = 3000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		bolt("p1", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("p2", "test.Pass", 2, []string{"id"}, "p1:shuffle").
		bolt("sink", "test.Sink", 3, nil, "p2:all").
		conf("p1", map[string]any{"test.fanout": 3}).
		conf("p2", map[string]any{"test.fanout": 2})
	_, st := tp.run(t)
	checkAllAcked(t, st, n)
	for i := int64(0); i < n; i++ {
		if st.sunk[i] != 18 {
			t.Fatalf("id %d reached the sinks %d times, want 18", i, st.sunk[i])
		}
	}
}

func TestMultiAnchoredTreesComplete(t *testing.T) {
	// The pair bolt emits one tuple anchored to two inputs of two trees:
	// both trees complete only when that tuple is acked downstream.
	const n = 2000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pair", "test.Pair", 1, []string{"id"}, "seq:global").
		bolt("sink", "test.Sink", 2, nil, "pair:shuffle")
	_, st := tp.run(t)
	checkAllAcked(t, st, n)
	if len(st.sunk) != n/2 {
		t.Fatalf("sink saw %d pairs, want %d", len(st.sunk), n/2)
	}
}

func TestFailReplaysUntilComplete(t *testing.T) {
	// 1% fails and 1% panics in the middle bolt: every message still
	// completes, through replays.
	const n = 20000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 2, "id").
		bolt("flaky", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "flaky:shuffle").
		conf("flaky", map[string]any{"test.fail_rate": 0.01, "test.panic_rate": 0.01})
	rt, st := tp.run(t)
	checkAllAcked(t, st, n)
	if len(st.failed) < n/100 {
		t.Fatalf("only %d messages failed; the test did not exercise replay", len(st.failed))
	}
	for i := int64(0); i < n; i++ {
		if st.sunk[i] < 1 {
			t.Fatalf("id %d never reached the sink", i)
		}
	}
	// Each task keeps its last 20 errors, oldest first, and counts them
	// all.
	perTask := map[int32]int{}
	var last time.Time
	site := "(at node/testcomponents_test.go:" + lineOf(t, "testcomponents_test.go", `panic(fmt.Sprintf("test panic on`) + ")"
	for _, e := range rt.Errors() {
		if !strings.Contains(e.Err.Error(), "panic in Execute") || !strings.HasSuffix(e.Err.Error(), site) {
			t.Errorf("unexpected error %v (want a panic in Execute %s)", e, site)
		}
		if e.At.Before(last) {
			t.Errorf("errors out of order: %v after %v", e.At, last)
		}
		last = e.At
		perTask[e.Task]++
	}
	if len(perTask) != 2 {
		t.Errorf("errors of %d tasks, want both flaky tasks': %v", len(perTask), perTask)
	}
	for task, n := range perTask {
		if n != 20 {
			t.Errorf("task %d keeps %d errors, want its last 20", task, n)
		}
	}
	if got, want := rt.ErrorsReported(), uint64(st.panics.Load()); got != want {
		t.Errorf("%d errors reported, want one per panic: %d", got, want)
	}
}

// TestReplaysBackOff: a bolt that fails every input for a second (as a
// task on a dead node does until its tasks move) does not get the spout's
// messages back in a tight loop: a message that fails again soon after it
// failed is handed to the spout's Fail after a pause that doubles from
// 100 ms, so each replays a handful of times in that second, and all
// complete after it.
func TestReplaysBackOff(t *testing.T) {
	const n = 50
	tp := newTopo(t, map[string]any{"test.count": n, "test.max_replays": -1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("down", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "down:shuffle").
		conf("down", map[string]any{"test.fail_ms": 1000})
	start := time.Now()
	_, st := tp.run(t)
	checkAllAcked(t, st, n)
	st.mu.Lock()
	defer st.mu.Unlock()
	most := 0
	for _, f := range st.failed {
		most = max(most, f)
	}
	// 0, 0.1, 0.3, 0.7 s and 1.5 s: five failures in the failing second.
	if most < 3 || most > 8 {
		t.Fatalf("a message failed %d times in a run of %v that failed everything for 1 s, want about 5", most, time.Since(start))
	}
}

func TestTimeoutReplaysSwallowedTuples(t *testing.T) {
	// The bolt never acks the first delivery of every 10th id: only the
	// message timeout brings those back.
	const n = 500
	tp := newTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 0.3}).
		spout("seq", "test.Seq", 1, "id").
		bolt("lossy", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "lossy:shuffle").
		conf("lossy", map[string]any{"test.drop_first": true})
	_, st := tp.run(t)
	checkAllAcked(t, st, n)
	if len(st.failed) != n/10 {
		t.Fatalf("%d messages failed (timed out), want %d", len(st.failed), n/10)
	}
}

func TestNoSpuriousTimeoutBehindSlowBolt(t *testing.T) {
	// A slow bolt (2ms a tuple) with a long queue: trees wait far longer
	// than the 0.2s message timeout, but they are making progress, so none
	// may be replayed. (Storm's fixed timeout fails most of them.)
	const n = 400
	tp := newTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 0.2, KeyMaxSpoutPend: 0, KeyBatchSize: 8}).
		spout("seq", "test.Seq", 1, "id").
		bolt("slow", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").
		conf("slow", map[string]any{"test.sleep": 2.0})
	start := time.Now()
	_, st := tp.run(t)
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Fatalf("run took %v: the queue was never longer than the timeout, the test proves nothing", d)
	}
	checkAllAcked(t, st, n)
	if len(st.failed) != 0 {
		t.Fatalf("%d trees were replayed spuriously while waiting in the queue", len(st.failed))
	}
}

// A batch of slow tuples that takes longer than the time after which a
// task that made no progress counts as stuck (here 5 s) must not make its
// task look stuck meanwhile: a stuck task's queue no longer holds the
// timeouts of the trees waiting in it back, and they replayed (the
// progress was noted only at the end of each batch).
func TestALongBatchOfSlowTuplesIsNotStuck(t *testing.T) {
	const n = 600 // a batch of 512 (12 ms each: 6.1 s) and one of 88
	tp := newTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 0.2, KeyMaxSpoutPend: 0, KeyBatchSize: 512, "test.max_replays": 0}).
		spout("seq", "test.Seq", 1, "id").
		bolt("slow", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").
		conf("slow", map[string]any{"test.sleep": 12.0})
	_, st := tp.run(t)
	if len(st.failed) != 0 {
		t.Fatalf("%d trees failed while their tuples waited in a long batch of a slow bolt", len(st.failed))
	}
	checkAllAcked(t, st, n)
}

func TestResetTimeoutKeepsHeldTreesAlive(t *testing.T) {
	// A bolt holds every input for four message timeouts, as a window
	// does until it fires. Touched every third of the timeout, no tree
	// may time out; untouched, every one does.
	const n = 40
	for _, tc := range []struct {
		name    string
		touchMS int
		replays bool
	}{
		{"touched", 100, false},
		{"untouched", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 0.3, "test.max_replays": 0}).
				spout("seq", "test.Seq", 1, "id").
				bolt("hold", "test.Hold", 1, []string{"id"}, "seq:shuffle").
				bolt("sink", "test.Sink", 1, nil, "hold:shuffle").
				conf("hold", map[string]any{"test.hold_ms": 1200, "test.touch_ms": tc.touchMS, KeyTickFreq: 0.05})
			_, st := tp.run(t)
			st.mu.Lock()
			failed := len(st.failed)
			st.mu.Unlock()
			if !tc.replays {
				checkAllAcked(t, st, n)
				if failed != 0 {
					t.Fatalf("%d trees timed out while their inputs were held and touched", failed)
				}
				return
			}
			if failed != n {
				t.Fatalf("%d of %d untouched trees timed out: the hold is not longer than the timeout, the test proves nothing", failed, n)
			}
		})
	}
}

func TestMaxSpoutPendingBoundsInFlight(t *testing.T) {
	const n, maxPending = 5000, 50
	tp := newTopo(t, map[string]any{"test.count": n, KeyMaxSpoutPend: maxPending, "test.per_call": 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	_, st := tp.run(t)
	checkAllAcked(t, st, n)
	if m := st.maxFlight.Load(); m > maxPending {
		t.Fatalf("%d trees in flight, max spout pending is %d", m, maxPending)
	}
}

func TestAtMostOnceWithoutAckers(t *testing.T) {
	const n = 10000
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 0}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, st := tp.run(t)
	checkAllAcked(t, st, n) // reliable emits are acked at once
	if len(st.sunk) != n {
		t.Fatalf("sink saw %d ids, want %d (end of input must drain the queues)", len(st.sunk), n)
	}
	for _, c := range rt.Stats() {
		if c.System {
			t.Fatalf("acker component %s exists with acking off", c.ID)
		}
	}
}

// TestAtMostOnceSpoutAckPanics: with acking off the spout's Ack runs right
// after NextTuple, many at a time; one that panics is reported and the
// Acks after it still run.
func TestAtMostOnceSpoutAckPanics(t *testing.T) {
	const n, every = 3000, 97
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 0, "test.ack_panic_every": every}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, st := tp.run(t)
	checkAllAcked(t, st, n)
	// Every panic is counted; the spout task keeps the last of them.
	for _, e := range rt.Errors() {
		if !strings.Contains(e.Err.Error(), "panic: ack of ") {
			t.Errorf("unexpected error %v", e)
		}
	}
	if got := rt.ErrorsReported(); got != n/every {
		t.Fatalf("%d panics in Ack reported, want %d", got, n/every)
	}
}

func TestTickTuples(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 30, "test.per_call": 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("slow", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").
		conf("slow", map[string]any{"test.sleep": 20.0}).
		conf("sink", map[string]any{KeyTickFreq: 0.01})
	rt, st := tp.run(t)
	if st.ticks.Load() < 3 {
		t.Fatalf("%d ticks in a run of ~%v", st.ticks.Load(), 30*20*time.Millisecond)
	}
	// Ticks are not inputs: neither executed nor acked counts them, so
	// the two agree for a bolt that acks everything.
	if c := stats(rt, "sink").Counters; c.Executed != 30 || c.Acked != 30 {
		t.Fatalf("sink counters %+v, want 30 executed and 30 acked (ticks not counted)", c)
	}
}

func TestBackpressureLosesNothing(t *testing.T) {
	// Tiny queues and a slow sink, acking off: the spout must be slowed
	// down, not have tuples dropped.
	const n = 3000
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 0, KeyQueueSize: 1, KeyBatchSize: 4}).
		spout("seq", "test.Seq", 1, "id").
		bolt("slow", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").
		conf("slow", map[string]any{"test.sleep": 0.01})
	_, st := tp.run(t)
	if len(st.sunk) != n {
		t.Fatalf("sink saw %d ids, want %d", len(st.sunk), n)
	}
}

func TestStopCancelsCleanly(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 1 << 40}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := rt.Run(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("Run = %v, want ErrStopped", err)
	}
}

func TestStartErrorsNameTheComponent(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": "many"}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "component seq task 1: open") || !strings.Contains(err.Error(), "test.count") {
		t.Fatalf("Run = %v", err)
	}
}

func TestBadSettingsNameTheKey(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyBatchSize: 0}).spout("seq", "test.Seq", 1, "id")
	if _, err := New(tp.s, Options{}); err == nil || !strings.Contains(err.Error(), KeyBatchSize) {
		t.Fatalf("New = %v", err)
	}
	tp = newTopo(t, nil).spout("seq", "no.Such", 1, "id")
	if _, err := New(tp.s, Options{}); !errors.Is(err, ErrUnknownClass) {
		t.Fatalf("New = %v", err)
	}
}

var _ = sdk.Int

func TestTaskLayoutMatchesSpec(t *testing.T) {
	// The scheduler numbers tasks with spec.Tasks; the runtime must agree.
	tp := newTopo(t, map[string]any{KeyAckers: 2}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 3, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, err := New(tp.s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := spec.Tasks(tp.s)
	if err != nil {
		t.Fatal(err)
	}
	var got []spec.Task
	for _, c := range rt.Stats() {
		for i, id := range c.Tasks {
			got = append(got, spec.Task{ID: id, Component: c.ID, Index: int32(i)})
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("runtime tasks %v, spec.Tasks %v", got, want)
	}
}

// TestRemoteBacklogAgesOut: the oldest work other nodes reported holds
// timeouts back, growing with time while it is fresh, and stops counting
// two windows after the last report of it.
func TestRemoteBacklogAgesOut(t *testing.T) {
	const w = remoteBacklogWindow
	var r remoteBacklog
	t0 := int64(1_000_000_000_000)
	if got := r.backlog(t0); got != 0 {
		t.Fatalf("empty backlog = %d", got)
	}
	r.report(t0, 3*w)     // born at t0-3w
	r.report(t0+w/2, w/4) // younger: does not lower it
	for _, c := range []struct {
		at   int64
		want int64
	}{
		{t0, 3 * w},
		{t0 + w/2, 3*w + w/2},
		{t0 + w + w/2, 4*w + w/2}, // previous window still counts
		{t0 + 3*w, 0},             // two windows without a report
	} {
		if got := r.backlog(c.at); got != c.want {
			t.Fatalf("backlog at t0+%v = %v, want %v", time.Duration(c.at-t0), time.Duration(got), time.Duration(c.want))
		}
	}
}

// TestAPushMarksTheHeadOfAnIdleQueue checks headBorn around pushes: a
// batch queued for an idle task marks its age, one for a busy task leaves
// the busy task's mark, and a push that fails leaves no mark behind.
func TestAPushMarksTheHeadOfAnIdleQueue(t *testing.T) {
	ctx := context.Background()
	tk := &task{inbox: router.NewQueue[*router.Batch](2), inboxBytes: router.NewByteBudget(1 << 20)}
	batch := func(born int64) *router.Batch {
		b := router.NewBatch()
		b.Born = born
		return b
	}
	if err := tk.push(ctx, batch(100)); err != nil {
		t.Fatal(err)
	}
	if got := tk.headBorn.Load(); got != 100 {
		t.Fatalf("idle task: headBorn %d after a push, want 100", got)
	}
	if err := tk.tryPush(batch(200)); err != nil {
		t.Fatal(err)
	}
	if got := tk.headBorn.Load(); got != 100 {
		t.Fatalf("headBorn %d after a second push, want the head's 100", got)
	}
	// The consumer takes both and finds the queue empty.
	for range 2 {
		b := <-tk.inbox.C()
		tk.took(b)
		tk.headBorn.Store(b.Born)
		b.Release()
	}
	tk.headBorn.Store(0)
	tk.inbox.Close()
	if err := tk.tryPush(batch(300)); err == nil {
		t.Fatal("tryPush to a closed queue succeeded")
	}
	if err := tk.push(ctx, batch(400)); err == nil {
		t.Fatal("push to a closed queue succeeded")
	}
	if got := tk.headBorn.Load(); got != 0 {
		t.Fatalf("headBorn %d after failed pushes, want 0", got)
	}
	if held := tk.inboxBytes.Held(); held != 0 {
		t.Fatalf("%d bytes held after failed pushes", held)
	}
}

// TestATaskKeepsItsLastErrors: a task keeps its last MaxKeptErrorsPerTask
// errors, oldest first, even when they share an instant, and counts all;
// a noisy task does not push another's errors out.
func TestATaskKeepsItsLastErrors(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	noisy, quiet := rt.tasks[2], rt.tasks[1]
	rt.reportError(quiet, errors.New("quiet 0"))
	const n = 3*MaxKeptErrorsPerTask + 5
	for i := range n {
		rt.reportError(noisy, fmt.Errorf("noisy %d", i))
	}
	errs := rt.Errors()
	var got []string
	for _, e := range errs {
		if e.Task == noisy.id {
			got = append(got, e.Err.Error())
		}
	}
	var want []string
	for i := n - MaxKeptErrorsPerTask; i < n; i++ {
		want = append(want, fmt.Sprintf("noisy %d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the noisy task keeps %q, want its last %d in order: %q", got, MaxKeptErrorsPerTask, want)
	}
	if errs[0].Err.Error() != "quiet 0" {
		t.Errorf("the quiet task's error is gone or not first: %v", errs[0])
	}
	if got := rt.ErrorsReported(); got != n+1 {
		t.Errorf("%d errors reported, want %d", got, n+1)
	}
	if st := rt.TaskStats()[noisy.id]; st.Errors != n {
		t.Errorf("the noisy task's stats count %d errors, want %d", st.Errors, n)
	}
}

// lineOf is the number of the first line of file (in this directory) that
// holds text.
func lineOf(t *testing.T, file, text string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, text) {
			return strconv.Itoa(i + 1)
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return ""
}
