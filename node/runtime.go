package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/node/alarm"
	"github.com/gale-stream/gale/node/external"
	"github.com/gale-stream/gale/node/procgov"
	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
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
	// attachAddr is where managed processes attach (GALE_ATTACH_ADDR),
	// with attachTLS (GALE_TLS_*).
	attachAddr string
	attachTLS  security.TLSFiles
	active     atomic.Bool
	started    int64 // Nanotime at start
	// clock wakes tasks at their deadlines with Settings.PreciseWakeups
	// (nil otherwise: Go's timers); Run starts and stops it.
	clock *alarm.Clock
	// localDone is closed once every local spout and bolt ran to its end.
	localDone chan struct{}

	ctl taskControl
	// remoteWork is the backlog other nodes report (distributed runs).
	remoteWork remoteBacklog
	// forwarders are the goroutines passing acker operations on to the
	// node of a moved acker (Acks); Run waits for them before it returns,
	// after closing ending.
	forwarders goGroup
	ending     chan struct{}
	// localGen counts the changes of which tasks run here (Reassign);
	// executors rebuild their groupers when it moves.
	localGen atomic.Uint64
	// fence holds the tasks after their node stalled (fence.go); nil in
	// local mode.
	fence *stallFence
	// lostAckers are acker tasks whose trees died with their node
	// (lostackers.go).
	lostAckers lostAckers
	// unsent are acker operations and results that could not be sent to
	// another node, to send again (unsent.go).
	unsent unsentAcks

	errMu sync.Mutex // guards the tasks' errors
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

// streamFields returns the declared fields of a component's output
// stream, nil when the topology has no such stream.
func (rt *Runtime) streamFields(component, stream string) []string {
	if c := rt.byID[component]; c != nil && c.streams[stream] != nil {
		if f := c.streams[stream].src.Fields; f != nil {
			return f
		}
		return []string{} // a stream without fields, still a known one
	}
	return nil
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
	here  atomic.Bool // runs in this process (Reassign may change it)
	inbox *router.Queue[*router.Batch]
	lane  lane // overflow of inbox for what other nodes send
	// inboxBytes bounds the bytes of the values in inbox (push, took).
	inboxBytes *router.ByteBudget
	ctrl       *ctrlQueue // spouts: completions from ackers

	counters Counters
	latency  sharedHistogram // spouts: complete latency
	process  sharedHistogram // bolts: Execute time, sampled (executeBatch)

	// Backlog tracking for the acker's timeout (acker.go): headBorn is the
	// Born time of the batch being executed, or of the last one dequeued
	// while more wait, or of a batch queued for the idle task (markHead);
	// 0 when the task's input is empty. lastProgress is
	// the Nanotime of the last executed batch.
	headBorn     atomic.Int64
	lastProgress atomic.Int64
	// done is set when the task ran to its end (end of input).
	done atomic.Bool
	// markers are the upstream tasks whose end-of-input marker reached
	// this process for the task, whether it ran here then or not.
	markerMu sync.Mutex
	markers  []int32
	// early are acker operations another node passed on to this acker
	// task before the assignment that brings it here reached this node
	// (its handover, mostly); Reassign queues them when it arrives, or
	// they fail after earlyGrace (holdEarly). Guarded by markerMu.
	early []router.AckOp
	// earlyGen counts takeEarly calls, so that the timer of operations
	// taken already does not cut the grace of later ones short.
	earlyGen uint64

	// Guarded by Runtime.errMu: the task's last errors (a ring of
	// MaxKeptErrorsPerTask, so that a task failing every tuple does not
	// push the other tasks' errors out), how many it reported in all, and
	// the log's rate limit.
	lastErrors         []TaskError
	errorsReported     uint64
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
	// leaves any task out. A run with a Remote is distributed: see Run
	// and Reassign.
	Remote Remote
	// Done says which tasks already ran to their end of input (on another
	// node, before the assignment moved them here): they only send their
	// end-of-input markers again. Nil means none.
	Done func(task int32) bool
	// Attach hosts the external components' processes; required when the
	// topology has any (run: or attached:).
	Attach *external.Hub
	// AttachAddr is the HOST:PORT where Attach is served, given to managed
	// processes.
	AttachAddr string
	// AttachTLS are the TLS files a managed process connects to AttachAddr
	// with (GALE_TLS_*): the node's own. Zero for plaintext.
	AttachTLS security.TLSFiles
	// fence is the node's stall fence (fence.go); nil: none.
	fence *stallFence
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
	// ForwardAcks passes on acker operations that arrived here for an
	// acker task that runs elsewhere (it moved); the receiving node does
	// not pass them on again.
	ForwardAcks(dest int32, ops []router.AckOp) error
	// SendEndOfInput tells tasks elsewhere that task from has ended.
	SendEndOfInput(from int32, to []int32) error
}

// New plans a topology run: task ids, streams, subscriptions and queues.
// The spec must be valid (spec.Validate); New checks what only the runtime
// knows (registered classes, runtime config).
func New(spec *galev1.TopologySpec, opts Options) (*Runtime, error) {
	rt := &Runtime{spec: spec, id: opts.ID, log: opts.Logger, byID: map[string]*component{}, localDone: make(chan struct{}), ending: make(chan struct{})}
	rt.ctl.progress = make(chan struct{}, 1)
	if rt.log == nil {
		rt.log = slog.Default()
	}
	if rt.id == "" {
		rt.id = spec.GetName() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	rt.remote = opts.Remote
	rt.hub, rt.attachAddr, rt.attachTLS = opts.Attach, opts.AttachAddr, opts.AttachTLS
	rt.fence = opts.fence
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
		t.here.Store(opts.Local == nil || opts.Local(t.id))
		if opts.Done != nil && opts.Done(t.id) && !t.comp.system {
			t.done.Store(true)
		}
		if !t.here.Load() && rt.remote == nil {
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
		t.inboxBytes = router.NewByteBudget(rt.settings.QueueBytes)
		rt.tasks = append(rt.tasks, t)
		c.tasks = append(c.tasks, t.id)
	}
	rt.comps = append(rt.comps, c)
	rt.byID[c.id] = c
}

// ID returns the run id.
func (rt *Runtime) ID() string { return rt.id }

// queueStats reads the task's input queue; now is a Nanotime.
func (t *task) queueStats(now int64) *QueueStats {
	q := &QueueStats{
		Batches: t.inbox.Len(), CapBatches: t.inbox.Cap(),
		Bytes: t.inboxBytes.Held(), CapBytes: t.inboxBytes.Limit(),
	}
	t.lane.mu.Lock()
	q.Overflow = len(t.lane.items)
	t.lane.mu.Unlock()
	if born := t.headBorn.Load(); born != 0 && now > born {
		q.HeadAge = time.Duration(now - born)
	}
	return q
}

// Settings returns the runtime settings in force.
func (rt *Runtime) Settings() Settings { return rt.settings }

// SetActive activates or deactivates the spouts.
func (rt *Runtime) SetActive(active bool) { rt.active.Store(active) }

// Run runs every task until all spouts have declared end of input and every
// tree completed or failed for good (then it returns nil), until a task
// fails to start or finish (an error naming it), or until ctx is cancelled
// (ErrStopped). It stops every task before it returns.
//
// In a distributed run (Options.Remote) Run goes on after the local tasks
// ended, until ctx is cancelled: local ackers still serve trees of spouts
// elsewhere, and Reassign may give this process more tasks.
func (rt *Runtime) Run(ctx context.Context) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A topology starting or ending changes the process's load: the
	// processor governor's backoff was for the load before.
	procgov.LoadChanged()
	defer procgov.LoadChanged()
	rt.started = router.Nanotime()
	if rt.settings.PreciseWakeups {
		clock, err := alarm.New()
		if err != nil {
			return fmt.Errorf("topology %s: %s: %w", rt.spec.GetName(), KeyPreciseWakeups, err)
		}
		rt.clock = clock
		defer clock.Close() // runs after every task has returned
	}
	for _, t := range rt.tasks[1:] {
		// A task that never finishes its first batch must count as stuck
		// after a while too, not hold every timeout back forever.
		t.lastProgress.Store(rt.started)
	}
	ctl := &rt.ctl
	ctl.mu.Lock()
	ctl.ctx, ctl.cancel = ctx, cancel
	ctl.compTasks = map[string][]int32{}
	for _, c := range rt.comps {
		ctl.compTasks[c.id] = c.tasks
	}
	ctl.running = true
	for _, t := range rt.tasks[1:] {
		if t.here.Load() {
			rt.startTaskLocked(t)
		}
	}
	ctl.mu.Unlock()

	if rt.remote != nil {
		rt.forwarders.goRun(func() { rt.resendUnsentLoop(ctx.Done()) })
	}
	if rt.remote == nil {
		ctl.work.Wait()
		if ctl.failure() == nil && rt.finished() {
			rt.closeLocalDone()
		}
	} else {
		<-ctx.Done()
	}
	ctl.mu.Lock()
	ctl.stopping = true // Reassign starts nothing from now on
	ctl.mu.Unlock()
	for _, id := range rt.ackers {
		rt.tasks[id].inbox.Close()
	}
	cancel() // ackers may wait on timers; everything they had is settled
	ctl.acks.Wait()
	ctl.work.Wait()
	// A forwarder blocked on a node that does not read is released by
	// the node aborting the run's senders before it waits for Run.
	close(rt.ending) // forwarders holding early operations give up
	rt.forwarders.closeAndWait()
	// Frames from other nodes may still be waiting to push into a full
	// queue whose task is gone: closing the queues releases them.
	for _, t := range rt.tasks[1:] {
		t.inbox.Close()
	}
	switch err := ctl.failure(); {
	case err != nil:
		return err
	case parent.Err() != nil && !rt.finished():
		return ErrStopped
	}
	return nil
}

// taskControl starts and stops the local tasks of a run: all of them at
// the start, and in a distributed run the ones Reassign adds or removes
// while it runs.
type taskControl struct {
	mu        sync.Mutex
	ctx       context.Context // the run's
	cancel    context.CancelFunc
	compTasks map[string][]int32
	running   bool // Run started the tasks
	stopping  bool // Run is stopping them
	// stops cancels each running task; exited is closed when its
	// goroutine is gone, so that a task given back to this process
	// does not run twice at once.
	stops  map[int32]context.CancelFunc
	exited map[int32]chan struct{}
	work   sync.WaitGroup // spouts and bolts
	acks   sync.WaitGroup // ackers

	failOnce sync.Once
	err      error // the first task failure
	errSet   atomic.Bool
	// doneOnce closes localDone; progress is signalled whenever a local
	// task ends.
	doneOnce sync.Once
	progress chan struct{}
}

func (c *taskControl) failure() error {
	if !c.errSet.Load() {
		return nil
	}
	return c.err
}

// fail records the first task failure and stops the run.
func (rt *Runtime) fail(err error) {
	c := &rt.ctl
	c.failOnce.Do(func() {
		c.err = err
		c.errSet.Store(true)
	})
	c.cancel()
}

func (rt *Runtime) closeLocalDone() { rt.ctl.doneOnce.Do(func() { close(rt.localDone) }) }

func (t *task) noteMarker(from int32) {
	t.markerMu.Lock()
	if !slices.Contains(t.markers, from) {
		t.markers = append(t.markers, from)
	}
	t.markerMu.Unlock()
}

// replayMarkers queues the markers t was sent before it came here (its
// executor counts each upstream task once).
func (rt *Runtime) replayMarkers(t *task) {
	t.markerMu.Lock()
	from := slices.Clone(t.markers)
	t.markerMu.Unlock()
	for _, f := range from {
		b := router.NewBatch()
		b.Born = router.Nanotime()
		b.EndOfInput = f
		_ = rt.offer(t, b, nil)
	}
}

// startTaskLocked starts the goroutine of local task t; called with
// ctl.mu held.
func (rt *Runtime) startTaskLocked(t *task) {
	procgov.LoadChanged() // a task moved here
	c := &rt.ctl
	if c.stops == nil {
		c.stops, c.exited = map[int32]context.CancelFunc{}, map[int32]chan struct{}{}
	}
	prev := c.exited[t.id]
	tctx, stop := context.WithCancel(c.ctx)
	exited := make(chan struct{})
	c.stops[t.id], c.exited[t.id] = stop, exited
	wg := &c.work
	if t.comp.system {
		wg = &c.acks
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(exited)
		defer stop()
		// Profiles (gale node --debug-addr) tell tasks apart by these
		// labels; goroutines the task starts inherit them.
		pprof.SetGoroutineLabels(pprof.WithLabels(tctx, pprof.Labels(
			"topology", rt.spec.GetName(), "component", t.comp.id, "task", strconv.Itoa(int(t.id)))))
		if prev != nil {
			<-prev // the task's last run here has not wound down yet
		}
		if tctx.Err() != nil {
			if !t.here.Load() {
				// It left again before it started: what was queued for
				// it meanwhile (a handover, say) goes on or fails.
				rt.failQueued(t)
			}
			return
		}
		if !t.comp.system {
			// After the last run's goroutine emptied the queue (if the
			// task had left meanwhile), so they cannot be dropped there.
			rt.replayMarkers(t)
		}
		t.lastProgress.Store(router.Nanotime())
		if t.comp.system {
			newAcker(rt, t).run(tctx)
		} else {
			e := newExecutor(tctx, rt, t, c.compTasks)
			var err error
			if t.done.Load() {
				// The task ran to its end before (here or on another
				// node): it only tells its downstream tasks again.
				err = e.sendEndOfInput()
				if err != nil && tctx.Err() != nil {
					err = nil
				}
			} else {
				err = e.run(tctx)
			}
			if err != nil {
				rt.fail(err)
			}
		}
		if !t.here.Load() {
			rt.failQueued(t) // the task moved away while this ran
		}
		if rt.remote != nil && rt.finished() {
			rt.closeLocalDone()
		}
		select {
		case c.progress <- struct{}{}:
		default:
		}
	}()
}

// Reassign makes the local tasks of a distributed run those in mine: it
// starts the tasks it gains and stops the ones it loses, leaving the
// others running, so that a change of assignment moves only the tasks
// that move. done lists tasks that ran to their end of input (on any
// node): gained, they only send their end-of-input markers again instead
// of running anew. The remote routes must already reach the new owners of
// the tasks it loses. Tuples still queued for a task that leaves have
// their trees failed (they replay); an acker task that leaves hands its
// trees over to its new node.
func (rt *Runtime) Reassign(mine, done map[int32]bool) error {
	if rt.remote == nil {
		return errors.New("reassign: not a distributed run")
	}
	c := &rt.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	defer rt.localGen.Add(1)
	for _, t := range rt.tasks[1:] {
		want := mine[t.id]
		switch {
		case want && !t.here.Load():
			if done[t.id] && !t.comp.system {
				t.done.Store(true)
			}
			t.here.Store(true)
			// The handover of an acker may reach this node before the
			// assignment does: its trees go on here.
			if !c.stopping {
				rt.queueEarly(t)
			}
			if c.running && !c.stopping {
				rt.startTaskLocked(t)
			}
		case !want && t.here.Load():
			t.here.Store(false)
			if stop := c.stops[t.id]; stop != nil {
				stop()
			}
		}
	}
	return nil
}

// ResendEndOfInput sends the end-of-input markers of the local tasks that
// ended again, to every downstream task that has not ended: a task that
// moved to another node since has a new executor there, which never got
// them. Receivers count each upstream task's marker once. The node calls
// it whenever the assignment of a run changes.
func (rt *Runtime) ResendEndOfInput() {
	if rt.remote == nil {
		return
	}
	for _, t := range rt.tasks[1:] {
		if t.comp.system || !t.here.Load() || !t.done.Load() {
			continue
		}
		var remote []int32
		for _, id := range t.comp.downTasks {
			switch d := rt.tasks[id]; {
			case !d.here.Load():
				remote = append(remote, id)
			case !d.done.Load():
				_ = rt.EndOfInput(t.id, []int32{id})
			}
		}
		if len(remote) > 0 {
			// An error means the stream is down: the sender keeps the
			// marker and sends it on the next stream.
			_ = rt.remote.SendEndOfInput(t.id, remote)
		}
	}
}

// failQueued empties the queue of a task that left this process and fails
// the trees of the tuples in it, so that they replay at once instead of
// timing out.
func (rt *Runtime) failQueued(t *task) {
	var roots []uint64
	in := t.inbox.C()
	for drained := false; !drained; {
		var b *router.Batch
		var ok bool
		select {
		case b, ok = <-in:
		default:
		}
		if !ok {
			drained = true
			continue
		}
		t.took(b)
		for i := range b.Tuples {
			for _, a := range b.Tuples[i].Anchors {
				roots = append(roots, a.Root)
			}
		}
		if len(b.Acks) > 0 {
			// An acker's queue: its operations go on to its new node.
			rt.passOn(t.id, slices.Clone(b.Acks), false)
		}
		b.Release()
	}
	rt.failTrees(roots)
}

// failTrees tells the ackers of roots, here or elsewhere, to fail them.
func (rt *Runtime) failTrees(roots []uint64) {
	if len(rt.ackers) == 0 || len(roots) == 0 {
		return
	}
	byAcker := map[int32][]router.AckOp{}
	for _, root := range roots {
		a := rt.ackers[root%uint64(len(rt.ackers))]
		byAcker[a] = append(byAcker[a], router.AckOp{Kind: router.AckFail, Root: root})
	}
	for a, ops := range byAcker {
		if rt.tasks[a].here.Load() || rt.remote == nil {
			_ = rt.Acks(ops, transfer.AckMeta{})
		} else if rt.remote.SendAcks(a, ops) != nil {
			rt.holdUnsent(a, ops)
		}
	}
}

// Progress is signalled whenever a local task ends (it may have run to its
// end of input: see FinishedTasks).
func (rt *Runtime) Progress() <-chan struct{} { return rt.ctl.progress }

// finished reports whether every local non-system task ran to its end.
func (rt *Runtime) finished() bool {
	for _, t := range rt.tasks[1:] {
		if t.here.Load() && !t.comp.system && !t.done.Load() {
			return false
		}
	}
	return true
}

func (rt *Runtime) reportError(t *task, err error) {
	now := time.Now()
	rt.errMu.Lock()
	e := TaskError{Component: t.comp.id, Task: t.id, Err: err, At: now}
	if len(t.lastErrors) < MaxKeptErrorsPerTask {
		t.lastErrors = append(t.lastErrors, e)
	} else {
		t.lastErrors[t.errorsReported%MaxKeptErrorsPerTask] = e
	}
	t.errorsReported++
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

// MaxKeptErrorsPerTask is how many of its last errors a task keeps
// (Errors); ErrorsReported counts them all.
const MaxKeptErrorsPerTask = 20

const maxLoggedErrorsPerSecond = 10

// Errors returns the most recent errors of each task (up to
// MaxKeptErrorsPerTask a task), oldest first.
func (rt *Runtime) Errors() []TaskError {
	var errs []TaskError
	rt.errMu.Lock()
	for _, t := range rt.tasks[1:] {
		// The ring from its oldest entry, so that errors of the same
		// instant keep their order through the stable sort.
		i := int(t.errorsReported % MaxKeptErrorsPerTask)
		if len(t.lastErrors) < MaxKeptErrorsPerTask {
			i = 0
		}
		errs = append(errs, t.lastErrors[i:]...)
		errs = append(errs, t.lastErrors[:i]...)
	}
	rt.errMu.Unlock()
	slices.SortStableFunc(errs, func(a, b TaskError) int { return a.At.Compare(b.At) })
	return errs
}

// ErrorsReported counts the errors the tasks reported, those Errors no
// longer keeps included.
func (rt *Runtime) ErrorsReported() uint64 {
	var n uint64
	rt.errMu.Lock()
	for _, t := range rt.tasks[1:] {
		n += t.errorsReported
	}
	rt.errMu.Unlock()
	return n
}

// ErrorsReportedByTask is ErrorsReported per task id, for the tasks that
// reported any.
func (rt *Runtime) ErrorsReportedByTask() map[int32]uint64 {
	out := map[int32]uint64{}
	rt.errMu.Lock()
	for _, t := range rt.tasks[1:] {
		if t.errorsReported > 0 {
			out[t.id] = t.errorsReported
		}
	}
	rt.errMu.Unlock()
	return out
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
	// Process is the histogram of Execute's time (Go bolts), one tuple
	// sampled per input batch.
	Process Histogram
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
			p := t.process.snapshot()
			cs.Process.Merge(&p)
		}
		out = append(out, cs)
	}
	return out
}

// TaskStats is one task's counters and, for spout tasks, its
// complete-latency histogram, for Go bolts its process-latency one.
type TaskStats struct {
	Component string
	Counters  CounterSnapshot
	Latency   Histogram
	Process   Histogram
	// Queue is the input queue of a bolt or acker task (nil for spouts).
	Queue *QueueStats
	// Errors counts the errors the task reported (Errors keeps its last).
	Errors uint64
}

// QueueStats is a task's input queue at one moment (gale.v1.QueueState).
type QueueStats struct {
	Batches, CapBatches int
	// Bytes are the values' bytes of the batches queued and of the one
	// being executed (the queue's byte budget held); CapBytes its bound.
	Bytes, CapBytes int64
	// Overflow are batches from other nodes waiting for room.
	Overflow int
	// HeadAge is the age of the batch being executed, or of the next one
	// while more wait (from its Born time), or of the batch queued for an
	// idle task that has not yet run to take it (markHead); 0 when the
	// queue is empty and nothing is executing.
	HeadAge time.Duration
}

// TaskStats returns the stats of every task, by task id.
func (rt *Runtime) TaskStats() map[int32]TaskStats {
	out := make(map[int32]TaskStats, len(rt.tasks)-1)
	now := router.Nanotime()
	for _, t := range rt.tasks[1:] {
		st := TaskStats{Component: t.comp.id, Counters: t.counters.Snapshot(), Latency: t.latency.snapshot(), Process: t.process.snapshot()}
		if !t.comp.spout {
			st.Queue = t.queueStats(now)
		}
		out[t.id] = st
	}
	rt.errMu.Lock()
	for _, t := range rt.tasks[1:] {
		if st := out[t.id]; t.errorsReported > 0 {
			st.Errors = t.errorsReported
			out[t.id] = st
		}
	}
	rt.errMu.Unlock()
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

// FinishedTasks returns the spout and bolt tasks known here to have run to
// their end of input: here (even if they moved away since) or, as
// Options.Done and Reassign said, elsewhere.
func (rt *Runtime) FinishedTasks() []int32 {
	var out []int32
	for _, t := range rt.tasks[1:] {
		if !t.comp.system && t.done.Load() {
			out = append(out, t.id)
		}
	}
	return out
}

// maxBacklog returns the age of the oldest work waiting in or executing on
// any local task that is not stuck (a stuck task does not hold timeouts
// back), or that other nodes of a distributed run reported recently
// (remoteBacklog), whichever is older.
func (rt *Runtime) maxBacklog(now int64) int64 {
	return max(rt.localBacklog(now), rt.remoteWork.backlog(now))
}

// localBacklog is maxBacklog for the tasks of this process; it goes to
// other nodes with acker operations.
func (rt *Runtime) localBacklog(now int64) int64 {
	var m int64
	// A task is stuck when it made no progress for three message timeouts
	// (at least 5s): long enough that a live task starved of CPU for a
	// while is not mistaken for a stuck one.
	limit := max(3*int64(rt.settings.MessageTimeout), int64(5*time.Second))
	for _, t := range rt.tasks[1:] {
		born := t.headBorn.Load()
		if born == 0 || !t.here.Load() {
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

// remoteBacklog keeps the oldest work other nodes of a distributed run
// reported with their acker operations (galev1.AckBatch.backlog_nanos), as
// its birth time, over the last one to two windows: a tree whose tuples
// wait in another node's queue must not time out here, and the acker
// cannot see those queues. Old reports age out, so a backlog that cleared
// stops holding timeouts back after at most two windows.
type remoteBacklog struct {
	mu        sync.Mutex
	start     int64 // Nanotime the current window began
	cur, prev int64 // oldest birth time reported in each window; 0: none
}

const remoteBacklogWindow = int64(time.Second)

func (r *remoteBacklog) rotate(now int64) {
	if d := now - r.start; d >= remoteBacklogWindow {
		r.prev = r.cur
		if d >= 2*remoteBacklogWindow {
			r.prev = 0
		}
		r.cur, r.start = 0, now
	}
}

func (r *remoteBacklog) report(now, age int64) {
	born := now - age
	r.mu.Lock()
	r.rotate(now)
	if r.cur == 0 || born < r.cur {
		r.cur = born
	}
	r.mu.Unlock()
}

func (r *remoteBacklog) backlog(now int64) int64 {
	r.mu.Lock()
	r.rotate(now)
	oldest := r.cur
	if r.prev != 0 && (oldest == 0 || r.prev < oldest) {
		oldest = r.prev
	}
	r.mu.Unlock()
	if oldest == 0 {
		return 0
	}
	return now - oldest
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
	q.wake()
}

// wake wakes the spout waiting on the queue, to look at something other
// than its operations (lost ackers).
func (q *ctrlQueue) wake() {
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

// goGroup runs goroutines that a closer waits for; once closed it starts
// no more (a sync.WaitGroup must not grow while it is waited on).
type goGroup struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// goRun runs f on a goroutine of the group, unless the group is closed;
// it reports whether f runs.
func (g *goGroup) goRun(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// closeAndWait starts no more goroutines and waits for the running ones.
func (g *goGroup) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// push puts b into t's queue, waiting while the queue is full by count or
// by the bytes of its values (QueueBytes). It returns an error only when
// ctx ends or the queue is closed; b is then not queued.
func (t *task) push(ctx context.Context, b *router.Batch) error {
	n := int64(b.ValueBytes)
	if err := t.inboxBytes.Take(ctx, n, t.inbox.Closed()); err != nil {
		return err
	}
	marked := t.markHead(b)
	if err := t.inbox.Push(ctx, b); err != nil {
		t.unmarkHead(b, marked)
		t.inboxBytes.Give(n)
		return err
	}
	return nil
}

// markHead makes b the head of an idle task's queue for headBorn, before
// b is queued: a task whose goroutine has not yet run to take it (a woken
// thread waiting for a core) shows that wait in its backlog and status
// instead of none. Marking before the push means the consumer's own
// writes (the batch it takes, 0 when it finds the queue empty) come after
// and win, so an empty queue is never left marked. It reports whether it
// marked.
func (t *task) markHead(b *router.Batch) bool {
	return b.Born != 0 && t.headBorn.Load() == 0 && t.headBorn.CompareAndSwap(0, b.Born)
}

// unmarkHead undoes markHead for a batch that was not queued after all.
func (t *task) unmarkHead(b *router.Batch, marked bool) {
	if marked {
		t.headBorn.CompareAndSwap(b.Born, 0)
	}
}

// tryPush is push without waiting: router.ErrFull when the queue is full
// by either bound.
func (t *task) tryPush(b *router.Batch) error {
	n := int64(b.ValueBytes)
	if !t.inboxBytes.TryTake(n) {
		return router.ErrFull
	}
	marked := t.markHead(b)
	if err := t.inbox.TryPush(b); err != nil {
		t.unmarkHead(b, marked)
		t.inboxBytes.Give(n)
		return err
	}
	return nil
}

// took gives back the bytes of a batch taken out of t's queue; every
// consumer of the queue calls it for every batch it receives.
func (t *task) took(b *router.Batch) { t.inboxBytes.Give(int64(b.ValueBytes)) }
