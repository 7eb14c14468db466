package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/node/external"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// Errors returned by the runtime.
var (
	// ErrTooManyTasks means the topology has more tasks than the acker can
	// address (MaxTaskID).
	ErrTooManyTasks = errors.New("too many tasks")
	// ErrUnknownClass means a component's Go class is not registered in
	// this binary.
	ErrUnknownClass = errors.New("unknown component class")
	// ErrExternalUnsupported means a component runs in an external process
	// but the runtime was given no Attach endpoint to host it.
	ErrExternalUnsupported = errors.New("external components need an Attach endpoint (Options.Attach)")
	// ErrStopped means the run was stopped before it finished.
	ErrStopped = errors.New("topology stopped")
)

// Runtime runs one topology's tasks in this process. In local mode it runs
// every task; a cluster node runs the tasks its assignment gives it (later
// issues). Tasks talk through bounded queues of pooled batches; acker
// tasks track tuple trees with Storm's XOR scheme.
type Runtime struct {
	spec     *galev1.TopologySpec
	id       string
	cfg      sdk.Config
	settings Settings
	log      *slog.Logger

	comps  []*component
	byID   map[string]*component
	tasks  []*task // by global task id; index 0 unused
	ackers []int32
	remote Remote
	hub    *external.Hub
	// attachAddr is where managed processes attach (GALE_ATTACH_ADDR).
	attachAddr string
	active     atomic.Bool
	started    int64 // Nanotime at start
	// localDone is closed once every local spout and bolt ran to its end.
	localDone chan struct{}

	errMu  sync.Mutex
	errors []TaskError
}

// TaskError is an error a task reported.
type TaskError struct {
	Component string
	Task      int32
	Err       error
	At        time.Time
}

type component struct {
	spec      *galev1.ComponentSpec
	id        string
	spout     bool
	system    bool // the acker
	tasks     []int32
	cfg       sdk.Config
	streams   map[string]*outStream
	upstream  []int32 // distinct upstream task ids (end-of-input markers expected)
	downTasks []int32 // distinct downstream task ids (end-of-input markers sent)
	newSpout  sdk.SpoutFactory
	newBolt   sdk.BoltFactory
	external  bool // runs in another process (command or attached)
}

type outStream struct {
	src    *sdk.Source
	direct bool
	subs   []*subscription
}

type subscription struct {
	comp     *component
	grouping galev1.GroupingType
	fieldIdx []int
}

type task struct {
	id    int32
	index int32
	comp  *component
	local bool // runs in this process
	inbox *router.Queue[*router.Batch]
	lane  lane       // overflow of inbox for what other nodes send
	ctrl  *ctrlQueue // spouts: completions from ackers

	counters Counters
	latency  sharedHistogram

	// Backlog tracking for the acker's timeout (acker.go): headBorn is the
	// Born time of the batch being executed, or of the last one dequeued
	// while more wait; 0 when the task's input is empty. lastProgress is
	// the Nanotime of the last executed batch.
	headBorn     atomic.Int64
	lastProgress atomic.Int64
	// done is set when the task ran to its end (end of input).
	done atomic.Bool

	// Error log rate limit, guarded by Runtime.errMu.
	logSecond          int64
	logged, suppressed int
}

// Options tune a Runtime.
type Options struct {
	// Logger receives the runtime's and the tasks' logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// ID identifies this run (TaskContext.TopologyID); empty means
	// "<name>-<unix nanos>".
	ID string
	// Local says which tasks run in this process; nil means all of them
	// (local mode).
	Local func(task int32) bool
	// Remote reaches the tasks that run elsewhere; required when Local
	// leaves any task out.
	Remote Remote
	// Attach hosts the external components' processes; required when the
	// topology has any (run: or attached:).
	Attach *external.Hub
	// AttachAddr is the HOST:PORT where Attach is served, given to managed
	// processes.
	AttachAddr string
}

// Remote is how a runtime reaches tasks in other processes (the node's
// Transfer streams). Its methods are called by the executors of local
// tasks concurrently. SendTuples may block while the destination task has
// no credit (backpressure, per task); SendAcks and SendEndOfInput do not
// wait for any task's queue. An error means the frame was not sent, and
// the caller fails the affected trees.
type Remote interface {
	// SendTuples sends the tuples of b to task dest; b stays the caller's.
	SendTuples(dest int32, b *router.Batch) error
	// SendAcks sends acker operations to task dest (an acker, or for
	// results the spout that owns the trees).
	SendAcks(dest int32, ops []router.AckOp) error
	// SendEndOfInput tells tasks elsewhere that task from has ended.
	SendEndOfInput(from int32, to []int32) error
}

// New plans a topology run: task ids, streams, subscriptions and queues.
// The spec must be valid (spec.Validate); New checks what only the runtime
// knows (registered classes, runtime config).
func New(spec *galev1.TopologySpec, opts Options) (*Runtime, error) {
	rt := &Runtime{spec: spec, id: opts.ID, log: opts.Logger, byID: map[string]*component{}, localDone: make(chan struct{})}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	if rt.id == "" {
		rt.id = spec.GetName() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	rt.remote = opts.Remote
	rt.hub, rt.attachAddr = opts.Attach, opts.AttachAddr
	rt.cfg = sdk.ConfigFromProto(spec.GetConfig())
	var err error
	if rt.settings, err = SettingsFromConfig(rt.cfg); err != nil {
		return nil, fmt.Errorf("topology %s: %w", spec.GetName(), err)
	}
	rt.tasks = []*task{nil}
	for _, cs := range spec.GetComponents() {
		c := &component{spec: cs, id: cs.GetId(), spout: cs.GetKind() == galev1.ComponentKind_COMPONENT_KIND_SPOUT, streams: map[string]*outStream{}}
		c.cfg = rt.cfg.Clone()
		for k, v := range cs.GetConfig() {
			c.cfg[k] = sdk.ValueFromProto(v)
		}
		switch impl := cs.GetImplementation().(type) {
		case *galev1.ComponentSpec_Class:
			if c.spout {
				f, ok := sdk.LookupSpout(impl.Class)
				if !ok {
					return nil, fmt.Errorf("component %s: %w %q", c.id, ErrUnknownClass, impl.Class)
				}
				c.newSpout = f
			} else {
				f, ok := sdk.LookupBolt(impl.Class)
				if !ok {
					return nil, fmt.Errorf("component %s: %w %q", c.id, ErrUnknownClass, impl.Class)
				}
				c.newBolt = f
			}
		case *galev1.ComponentSpec_Command, *galev1.ComponentSpec_Attached:
			if rt.hub == nil {
				return nil, fmt.Errorf("component %s: %w", c.id, ErrExternalUnsupported)
			}
			if cmd := cs.GetCommand(); cmd != nil && len(cmd.GetArgv()) == 0 {
				return nil, fmt.Errorf("component %s: run has no command", c.id)
			}
			c.external = true
		default:
			return nil, fmt.Errorf("component %s: no implementation (class, run or attached)", c.id)
		}
		for _, os := range cs.GetOutputs() {
			c.streams[os.GetId()] = &outStream{src: sdk.NewSource(c.id, os.GetId(), os.GetFields()), direct: os.GetDirect()}
		}
		rt.addTasks(c, int(cs.GetParallelism()))
	}
	if rt.settings.Ackers > 0 {
		ack := &component{id: sdk.AckerComponent, system: true, cfg: rt.cfg, streams: map[string]*outStream{}}
		rt.addTasks(ack, rt.settings.Ackers)
		rt.ackers = ack.tasks
		if last := int32(len(rt.tasks) - 1); last > MaxTaskID {
			return nil, fmt.Errorf("topology %s has %d tasks, the acker tracks at most %d: %w", spec.GetName(), last, MaxTaskID, ErrTooManyTasks)
		}
	}
	// Wire subscriptions.
	for _, c := range rt.comps {
		if c.system {
			continue
		}
		up := map[int32]bool{}
		for _, in := range c.spec.GetInputs() {
			src := rt.byID[in.GetComponent()]
			stream := in.GetStream()
			if stream == "" {
				stream = sdk.DefaultStream
			}
			if src == nil || src.streams[stream] == nil {
				return nil, fmt.Errorf("component %s: input %s/%s does not exist (validate the spec first)", c.id, in.GetComponent(), stream)
			}
			os := src.streams[stream]
			sub := &subscription{comp: c, grouping: in.GetGrouping().GetType()}
			for _, f := range in.GetGrouping().GetFields() {
				i := os.src.FieldIndex(f)
				if i < 0 {
					return nil, fmt.Errorf("component %s: grouping field %q not in %s/%s", c.id, f, src.id, stream)
				}
				sub.fieldIdx = append(sub.fieldIdx, i)
			}
			os.subs = append(os.subs, sub)
			for _, t := range src.tasks {
				up[t] = true
			}
		}
		for t := range up {
			c.upstream = append(c.upstream, t)
		}
		sort.Slice(c.upstream, func(i, j int) bool { return c.upstream[i] < c.upstream[j] })
	}
	for _, c := range rt.comps {
		down := map[int32]bool{}
		for _, os := range c.streams {
			for _, s := range os.subs {
				for _, t := range s.comp.tasks {
					down[t] = true
				}
			}
		}
		for t := range down {
			c.downTasks = append(c.downTasks, t)
		}
		sort.Slice(c.downTasks, func(i, j int) bool { return c.downTasks[i] < c.downTasks[j] })
	}
	for _, t := range rt.tasks[1:] {
		t.local = opts.Local == nil || opts.Local(t.id)
		if !t.local && rt.remote == nil {
			return nil, fmt.Errorf("topology %s: task %d runs elsewhere but no Remote was given", spec.GetName(), t.id)
		}
	}
	rt.active.Store(true)
	return rt, nil
}

func (rt *Runtime) addTasks(c *component, n int) {
	for i := 0; i < n; i++ {
		t := &task{id: int32(len(rt.tasks)), index: int32(i), comp: c}
		if c.spout {
			t.ctrl = newCtrlQueue()
		}
		t.inbox = router.NewQueue[*router.Batch](rt.settings.QueueSize)
		rt.tasks = append(rt.tasks, t)
		c.tasks = append(c.tasks, t.id)
	}
	rt.comps = append(rt.comps, c)
	rt.byID[c.id] = c
}

// ID returns the run id.
func (rt *Runtime) ID() string { return rt.id }

// Settings returns the runtime settings in force.
func (rt *Runtime) Settings() Settings { return rt.settings }

// SetActive activates or deactivates the spouts.
func (rt *Runtime) SetActive(active bool) { rt.active.Store(active) }

// Run runs every task until all spouts have declared end of input and every
// tree completed or failed for good (then it returns nil), until a task
// fails to start or finish (an error naming it), or until ctx is cancelled
// (ErrStopped). It stops every task before it returns.
func (rt *Runtime) Run(ctx context.Context) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt.started = router.Nanotime()
	for _, t := range rt.tasks[1:] {
		// A task that never finishes its first batch must count as stuck
		// after a while too, not hold every timeout back forever.
		t.lastProgress.Store(rt.started)
	}
	compTasks := map[string][]int32{}
	for _, c := range rt.comps {
		compTasks[c.id] = c.tasks
	}

	var ackWG, workWG sync.WaitGroup
	var failOnce sync.Once
	var taskErr error
	fail := func(err error) {
		failOnce.Do(func() { taskErr = err })
		cancel()
	}
	for _, id := range rt.ackers {
		if !rt.tasks[id].local {
			continue
		}
		a := newAcker(rt, rt.tasks[id])
		ackWG.Add(1)
		go func() {
			defer ackWG.Done()
			a.run(ctx)
		}()
	}
	for _, t := range rt.tasks[1:] {
		if t.comp.system || !t.local {
			continue
		}
		e := newExecutor(ctx, rt, t, compTasks)
		workWG.Add(1)
		go func() {
			defer workWG.Done()
			if err := e.run(ctx); err != nil {
				fail(err)
			}
		}()
	}
	workWG.Wait()
	if taskErr == nil && rt.finished() {
		close(rt.localDone)
	}
	if rt.remote != nil && taskErr == nil {
		// Part of a distributed run: the local tasks ended, but local
		// ackers still serve trees of spouts elsewhere, and remote tasks
		// may still send here. The run ends when it is stopped.
		<-ctx.Done()
	}
	for _, id := range rt.ackers {
		rt.tasks[id].inbox.Close()
	}
	cancel() // ackers may wait on timers; everything they had is settled
	ackWG.Wait()
	// Frames from other nodes may still be waiting to push into a full
	// queue whose task is gone: closing the queues releases them.
	for _, t := range rt.tasks[1:] {
		if t.local {
			t.inbox.Close()
		}
	}
	ackWG.Wait()
	switch {
	case taskErr != nil:
		return taskErr
	case parent.Err() != nil && !rt.finished():
		return ErrStopped
	}
	return nil
}

// finished reports whether every local non-system task ran to its end.
func (rt *Runtime) finished() bool {
	for _, t := range rt.tasks[1:] {
		if t.local && !t.comp.system && !t.done.Load() {
			return false
		}
	}
	return true
}

func (rt *Runtime) reportError(t *task, err error) {
	now := time.Now()
	rt.errMu.Lock()
	rt.errors = append(rt.errors, TaskError{Component: t.comp.id, Task: t.id, Err: err, At: now})
	if len(rt.errors) > maxKeptErrors {
		rt.errors = append(rt.errors[:0], rt.errors[len(rt.errors)-maxKeptErrors:]...)
	}
	// A bolt that fails on every tuple must not flood the log at tuple
	// rate: log the first few errors of each task per second and count
	// the rest.
	sec := now.Unix()
	if t.logSecond != sec {
		if t.suppressed > 0 {
			rt.log.Error("task errors suppressed", "component", t.comp.id, "task", t.id, "count", t.suppressed)
		}
		t.logSecond, t.logged, t.suppressed = sec, 0, 0
	}
	logIt := t.logged < maxLoggedErrorsPerSecond
	if logIt {
		t.logged++
	} else {
		t.suppressed++
	}
	rt.errMu.Unlock()
	if logIt {
		rt.log.Error("task error", "component", t.comp.id, "task", t.id, "err", err)
	}
}

const (
	maxKeptErrors            = 100
	maxLoggedErrorsPerSecond = 10
)

// Errors returns the most recent task errors, oldest first.
func (rt *Runtime) Errors() []TaskError {
	rt.errMu.Lock()
	defer rt.errMu.Unlock()
	return append([]TaskError(nil), rt.errors...)
}

// ComponentStats is the status of one component.
type ComponentStats struct {
	ID       string
	Spout    bool
	System   bool
	Tasks    []int32
	Counters CounterSnapshot
	// Latency is the complete-latency histogram (spouts).
	Latency Histogram
}

// Stats returns the counters of every component, in spec order, the ackers
// last.
func (rt *Runtime) Stats() []ComponentStats {
	out := make([]ComponentStats, 0, len(rt.comps))
	for _, c := range rt.comps {
		cs := ComponentStats{ID: c.id, Spout: c.spout, System: c.system, Tasks: c.tasks}
		for _, id := range c.tasks {
			t := rt.tasks[id]
			cs.Counters = cs.Counters.Add(t.counters.Snapshot())
			h := t.latency.snapshot()
			cs.Latency.Merge(&h)
		}
		out = append(out, cs)
	}
	return out
}

// TaskStats is one task's counters and, for spout tasks, its
// complete-latency histogram.
type TaskStats struct {
	Component string
	Counters  CounterSnapshot
	Latency   Histogram
}

// TaskStats returns the stats of every task, by task id.
func (rt *Runtime) TaskStats() map[int32]TaskStats {
	out := make(map[int32]TaskStats, len(rt.tasks)-1)
	for _, t := range rt.tasks[1:] {
		out[t.id] = TaskStats{Component: t.comp.id, Counters: t.counters.Snapshot(), Latency: t.latency.snapshot()}
	}
	return out
}

// Finished reports whether every local spout and bolt ran to its end of
// input.
func (rt *Runtime) Finished() bool { return rt.finished() }

// LocalDone is closed once every local spout and bolt ran to its end of
// input. In a distributed run Run goes on after that (local ackers may
// still serve trees of spouts elsewhere) until it is stopped; the node
// reports the finished tasks, and the leader marks the topology FINISHED
// once every node's part is done.
func (rt *Runtime) LocalDone() <-chan struct{} { return rt.localDone }

// FinishedTasks returns the local spout and bolt tasks that ran to their
// end of input.
func (rt *Runtime) FinishedTasks() []int32 {
	var out []int32
	for _, t := range rt.tasks[1:] {
		if t.local && !t.comp.system && t.done.Load() {
			out = append(out, t.id)
		}
	}
	return out
}

// maxBacklog returns the age of the oldest work waiting in or executing on
// any task that is not stuck (a stuck task does not hold timeouts back).
func (rt *Runtime) maxBacklog(now int64) int64 {
	var m int64
	// A task is stuck when it made no progress for three message timeouts
	// (at least 5s): long enough that a live task starved of CPU for a
	// while is not mistaken for a stuck one.
	limit := max(3*int64(rt.settings.MessageTimeout), int64(5*time.Second))
	for _, t := range rt.tasks[1:] {
		born := t.headBorn.Load()
		if born == 0 {
			continue
		}
		if now-t.lastProgress.Load() > limit {
			continue
		}
		if age := now - born; age > m {
			m = age
		}
	}
	return m
}

// ctrlQueue carries acker results to a spout task. It is unbounded on
// purpose and never blocks the acker: a blocking acker could deadlock with
// a spout blocked on the acker's queue. Its length is bounded anyway by the
// spout's pending trees (max spout pending).
type ctrlQueue struct {
	mu     sync.Mutex
	ops    []router.AckOp
	n      atomic.Int32
	notify chan struct{}
}

func newCtrlQueue() *ctrlQueue { return &ctrlQueue{notify: make(chan struct{}, 1)} }

func (q *ctrlQueue) push(ops []router.AckOp) {
	q.mu.Lock()
	q.ops = append(q.ops, ops...)
	q.n.Store(int32(len(q.ops)))
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take swaps the queued operations out, giving the caller's spare slice to
// the queue for reuse.
func (q *ctrlQueue) take(spare []router.AckOp) []router.AckOp {
	if q.n.Load() == 0 {
		return spare[:0]
	}
	q.mu.Lock()
	ops := q.ops
	q.ops = spare[:0]
	q.n.Store(0)
	q.mu.Unlock()
	return ops
}
