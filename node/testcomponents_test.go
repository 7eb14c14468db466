package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// Test components, registered once for the package's tests. Their shared
// state lives in a testState found through the config key "test.id".

type testState struct {
	mu        sync.Mutex
	acked     map[uint64]int // msgID -> acks
	failed    map[uint64]int // msgID -> fails
	sunk      map[int64]int  // value -> times seen by sinks
	sinkOrder []int64
	ticks     atomic.Int64
	inFlight  atomic.Int64 // spout-side pending, for max-pending checks
	maxFlight atomic.Int64
	dropped   map[uint64]bool // ids whose first delivery a bolt swallowed
	starts    map[int32]int   // task id -> Open or Prepare calls
	// prepareFailed: a pass bolt with test.fail_prepare_once failed once.
	prepareFailed atomic.Bool
	panics        atomic.Int64 // panics of pass bolts with test.panic_rate
	sinkInputs    []sdk.Input  // the TaskContext.Inputs a sink was prepared with
	// latestRun is the latest start (its starts count) of each task that
	// executed a tuple, and staleRuns counts the tuples executed by an
	// earlier start of the task after that: two copies of one task
	// running at once (pass and sink bolts).
	latestRun map[int32]int
	staleRuns atomic.Int64
}

// started counts a start of task id (Open or Prepare) and returns its
// number: 1 for the task's first start.
func (s *testState) started(id int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts[id]++
	return s.starts[id]
}

// restartedElsewhere reports, as an error, that no task has executed a
// tuple in a later start than its first yet (a task that moved).
func (s *testState) restartedElsewhere() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, run := range s.latestRun {
		if run > 1 {
			return nil
		}
	}
	return errors.New("no task has executed in a later start yet")
}

// executing notes that start run of task id executes a tuple, and counts
// it stale if a later start of the task executed one before.
func (s *testState) executing(id int32, run int) {
	s.mu.Lock()
	if run < s.latestRun[id] {
		s.staleRuns.Add(1)
	} else {
		s.latestRun[id] = run
	}
	s.mu.Unlock()
}

func (s *testState) startCounts() map[int32]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.starts)
}

// forget drops what the state kept (newTopo, at the test's end).
func (s *testState) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked, s.failed, s.sunk, s.dropped = map[uint64]int{}, map[uint64]int{}, map[int64]int{}, map[uint64]bool{}
	s.sinkOrder = nil
}

var states sync.Map // test.id -> *testState

func newState(id string) *testState {
	s := &testState{acked: map[uint64]int{}, failed: map[uint64]int{}, sunk: map[int64]int{}, dropped: map[uint64]bool{}, starts: map[int32]int{}, latestRun: map[int32]int{}}
	states.Store(id, s)
	return s
}

func stateOf(tc *sdk.TaskContext) *testState {
	v, ok := states.Load(tc.Config.String("test.id", ""))
	if !ok {
		panic("no test state for " + tc.Config.String("test.id", ""))
	}
	return v.(*testState)
}

func mustInt(c sdk.Config, key string, def int64) int64 {
	v, err := c.Int(key, def)
	if err != nil {
		panic(err)
	}
	return v
}

// seqSpout emits ids 0..count-1 (msgID id+1) split over its tasks, replays
// failures (up to test.max_replays times each, -1 unlimited), then ends.
type seqSpout struct {
	st       *testState
	out      *sdk.SpoutCollector
	next     int64
	step     int64
	count    int64
	retry    []uint64
	replays  map[uint64]int
	maxRe    int
	perCall  int
	unreliab bool
	ackPanic uint64 // test.ack_panic_every: Ack panics (after counting) on ids divisible by it
}

func (s *seqSpout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (s *seqSpout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.st, s.out = stateOf(tc), out
	s.st.started(tc.TaskID)
	s.next = int64(tc.TaskIndex)
	s.step = int64(len(tc.ComponentTasks[tc.Component]))
	s.count = mustInt(tc.Config, "test.count", 100)
	s.maxRe = int(mustInt(tc.Config, "test.max_replays", -1))
	s.perCall = int(mustInt(tc.Config, "test.per_call", 16))
	s.unreliab, _ = tc.Config.Bool("test.unreliable", false)
	s.ackPanic = uint64(mustInt(tc.Config, "test.ack_panic_every", 0))
	s.replays = map[uint64]int{}
	return nil
}
func (s *seqSpout) NextTuple() {
	for i := 0; i < s.perCall; i++ {
		var id uint64
		switch {
		case len(s.retry) > 0:
			id = s.retry[0]
			s.retry = s.retry[1:]
		case s.next < s.count:
			id = uint64(s.next) + 1
			s.next += s.step
			if s.next >= s.count {
				s.out.End()
			}
		default:
			if s.count == 0 || s.next >= s.count {
				s.out.End()
			}
			return
		}
		f := s.st.inFlight.Add(1)
		for {
			m := s.st.maxFlight.Load()
			if f <= m || s.st.maxFlight.CompareAndSwap(m, f) {
				break
			}
		}
		if s.unreliab {
			s.out.EmitUnreliable(sdk.Int(int64(id - 1)))
			s.st.inFlight.Add(-1)
		} else {
			s.out.Emit(id, sdk.Int(int64(id-1)))
		}
	}
}
func (s *seqSpout) Ack(id uint64) {
	s.st.inFlight.Add(-1)
	s.st.mu.Lock()
	s.st.acked[id]++
	s.st.mu.Unlock()
	if s.ackPanic > 0 && id%s.ackPanic == 0 {
		panic(fmt.Sprintf("ack of %d", id))
	}
}
func (s *seqSpout) Fail(id uint64) {
	s.st.inFlight.Add(-1)
	s.st.mu.Lock()
	s.st.failed[id]++
	s.st.mu.Unlock()
	if s.maxRe < 0 || s.replays[id] < s.maxRe {
		s.replays[id]++
		s.retry = append(s.retry, id)
	}
}
func (s *seqSpout) Close() error { return nil }

// passBolt re-emits its input anchored; with test.fail_rate / test.panic_rate
// it fails or panics on a random share of tuples; with test.drop_first it
// swallows (never acks) the first delivery of every id divisible by 10; with
// test.sleep it sleeps per tuple; with test.fanout it emits n copies.
type passBolt struct {
	st         *testState
	task       int32
	run        int // this start's number (testState.started)
	out        *sdk.BoltCollector
	failRate   float64
	panicRate  float64
	dropFirst  bool
	sleep      time.Duration
	fanout     int
	unanchored bool // test.unanchored: emit without anchoring to the input
	rng        *rand.Rand
	failUntil  time.Time // with test.fail_ms: every input fails until then
}

func (b *passBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (b *passBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.st, b.out = stateOf(tc), out
	b.task, b.run = tc.TaskID, b.st.started(tc.TaskID)
	b.failRate, _ = tc.Config.Float("test.fail_rate", 0)
	b.panicRate, _ = tc.Config.Float("test.panic_rate", 0)
	b.dropFirst, _ = tc.Config.Bool("test.drop_first", false)
	b.sleep, _ = tc.Config.Duration("test.sleep", time.Millisecond, 0)
	b.fanout = int(mustInt(tc.Config, "test.fanout", 1))
	b.unanchored, _ = tc.Config.Bool("test.unanchored", false)
	if ms := mustInt(tc.Config, "test.fail_ms", 0); ms > 0 {
		b.failUntil = time.Now().Add(time.Duration(ms) * time.Millisecond)
	}
	b.rng = rand.New(rand.NewPCG(uint64(tc.TaskID), 7))
	if failOnce, _ := tc.Config.Bool("test.fail_prepare_once", false); failOnce && b.st.prepareFailed.CompareAndSwap(false, true) {
		return errors.New("test: the first Prepare fails")
	}
	if always, _ := tc.Config.Bool("test.fail_prepare", false); always {
		return errors.New("test: every Prepare fails")
	}
	return nil
}
func (b *passBolt) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		b.st.ticks.Add(1)
		return
	}
	b.st.executing(b.task, b.run)
	if b.sleep > 0 {
		time.Sleep(b.sleep)
	}
	id := uint64(t.Int(0))
	if b.dropFirst && id%10 == 0 {
		b.st.mu.Lock()
		first := !b.st.dropped[id]
		b.st.dropped[id] = true
		b.st.mu.Unlock()
		if first {
			return // neither ack nor fail: only the timeout can save it
		}
	}
	if b.rng.Float64() < b.panicRate {
		b.st.panics.Add(1)
		panic(fmt.Sprintf("test panic on %d", id))
	}
	if b.rng.Float64() < b.failRate || time.Now().Before(b.failUntil) {
		b.out.Fail(t)
		return
	}
	anchor := t
	if b.unanchored {
		anchor = nil
	}
	for i := 0; i < b.fanout; i++ {
		b.out.Emit(anchor, t.Value(0))
	}
	b.out.Ack(t)
}
func (b *passBolt) Cleanup() error { return nil }

// sinkBolt records every id it sees and acks.
type sinkBolt struct {
	st   *testState
	out  *sdk.BoltCollector
	task int32
	run  int // this start's number (testState.started)
}

func (b *sinkBolt) DeclareOutputFields(*sdk.OutputDeclarer) {}
func (b *sinkBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.st, b.out = stateOf(tc), out
	b.task, b.run = tc.TaskID, b.st.started(tc.TaskID)
	b.st.mu.Lock()
	b.st.sinkInputs = tc.Inputs
	b.st.mu.Unlock()
	return nil
}
func (b *sinkBolt) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		b.st.ticks.Add(1)
		b.out.Ack(t) // as bolts that ack every input do
		return
	}
	b.st.executing(b.task, b.run)
	b.st.mu.Lock()
	b.st.sunk[t.Int(0)]++
	b.st.sinkOrder = append(b.st.sinkOrder, t.Int(0))
	b.st.mu.Unlock()
	b.out.Ack(t)
}
func (b *sinkBolt) Cleanup() error { return nil }

// pairBolt multi-anchors: it holds every even id until the next odd id
// arrives (ids 2k and 2k+1 from a fields grouping on id/2 ... here simply a
// global grouping) and emits one tuple anchored to both.
type pairBolt struct {
	out  *sdk.BoltCollector
	held map[int64]*sdk.Tuple
}

func (b *pairBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (b *pairBolt) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out, b.held = out, map[int64]*sdk.Tuple{}
	return nil
}
func (b *pairBolt) Execute(t *sdk.Tuple) {
	id := t.Int(0)
	mate := id ^ 1
	if m, ok := b.held[mate]; ok {
		delete(b.held, mate)
		c := t.Clone()
		b.out.EmitAnchored(sdk.DefaultStream, []*sdk.Tuple{m, c}, sdk.Int(min(id, mate)))
		b.out.Ack(m)
		b.out.Ack(c)
		return
	}
	b.held[id] = t.Clone()
}
func (b *pairBolt) Cleanup() error { return nil }

// holdBolt holds every input for test.hold_ms, then emits it anchored and
// acks it, as a window holds its inputs until it fires; with
// test.touch_ms it calls ResetTimeout on every held input that often. It
// looks at the clock on every input and tick (give it tick tuples).
type holdBolt struct {
	out       *sdk.BoltCollector
	hold      time.Duration
	touch     time.Duration
	held      []heldInput
	lastTouch time.Time
}

type heldInput struct {
	t  *sdk.Tuple
	at time.Time
}

func (b *holdBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (b *holdBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	b.hold = time.Duration(mustInt(tc.Config, "test.hold_ms", 0)) * time.Millisecond
	b.touch = time.Duration(mustInt(tc.Config, "test.touch_ms", 0)) * time.Millisecond
	b.lastTouch = time.Now()
	return nil
}
func (b *holdBolt) Execute(t *sdk.Tuple) {
	now := time.Now()
	if !t.IsTick() {
		b.held = append(b.held, heldInput{t.Clone(), now})
	}
	n := 0
	for _, h := range b.held {
		if now.Sub(h.at) < b.hold {
			b.held[n] = h
			n++
			continue
		}
		b.out.Emit(h.t, h.t.Value(0))
		b.out.Ack(h.t)
	}
	clear(b.held[n:])
	b.held = b.held[:n]
	if b.touch > 0 && now.Sub(b.lastTouch) >= b.touch {
		b.lastTouch = now
		for _, h := range b.held {
			b.out.ResetTimeout(h.t)
		}
	}
}
func (b *holdBolt) Cleanup() error { return nil }

func init() {
	sdk.MustRegisterBolt("test.Hold", func() sdk.Bolt { return &holdBolt{} })
	sdk.MustRegisterSpout("test.Seq", func() sdk.Spout { return &seqSpout{} })
	sdk.MustRegisterBolt("test.Pass", func() sdk.Bolt { return &passBolt{} })
	sdk.MustRegisterBolt("test.Sink", func() sdk.Bolt { return &sinkBolt{} })
	sdk.MustRegisterBolt("test.Pair", func() sdk.Bolt { return &pairBolt{} })
}
