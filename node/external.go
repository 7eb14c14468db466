package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/node/external"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
)

// External tasks (sdk/ATTACH.md): the executor of a task whose component
// runs in another process drives that process's Attach session from its
// own goroutine, as it would drive an in-process spout or bolt. Inputs go
// to the process in batches while fewer than maxInflight of them, and
// fewer than maxInflightBytes of their values, are unacked (the window
// that carries backpressure into the process); its
// emits are routed exactly like a Go component's; when a process ends, the
// inputs it held fail (and replay) and the task waits for the next one.

// Defaults of the external task settings (component config keys).
const (
	defaultExternalHeartbeat   = time.Second
	defaultSubprocessTimeout   = 30 * time.Second
	defaultExternalMaxInflight = 2048
	// defaultExternalMaxBytes bounds the values of the inputs a process
	// holds (KeyExternalMaxBytes): counted alone, 2,048 inputs of 1 MiB
	// are 2 GiB, which wait in the node's send queue while the process
	// works through them.
	defaultExternalMaxBytes = 64 << 20
	defaultExternalMaxBatch = 512
	maxExternalMaxBatch     = 8192
	// maxQuickExits is how many times in a row a managed process may exit
	// without running for healthyRun (without attaching at all, or failing
	// its prepare) before the task fails: a command that cannot start (a
	// typo, a missing module, a bad config key) should stop `gale local`
	// with its error rather than restart forever.
	maxQuickExits = 5
	healthyRun    = 5 * time.Second
)

var (
	// attachWarnAfter is how long a managed process may run without
	// attaching before the task reports it: a program that never calls
	// its SDK's run (or hangs before it) otherwise leaves its task
	// waiting in silence, shown as running. It is a warning, not a
	// failure: a program may take long to load before it attaches.
	attachWarnAfter = 10 * time.Second // a variable for tests
)

// externalTask is the per-task state of an external component.
type externalTask struct {
	hb time.Duration
	// hookTimeout bounds one call of the component (and a multilang
	// script's silence): topology.subprocess.timeout.secs.
	hookTimeout time.Duration
	maxInflight int
	slot        *external.Slot
	sup         *external.Supervisor

	// exits carries why each managed process exited (from the
	// supervisor's goroutine); quick counts exits in a row without a
	// healthy run (maxQuickExits).
	exits chan error
	quick int
	// starts says a managed process started (the supervisor's goroutine):
	// the wait for it to attach begins (attachWarnAfter).
	starts chan struct{}

	// bolt state
	eofLeft  int // upstream tasks that have not ended yet
	inflight map[uint64]inflightInput
	// inflightBytes is the size of inflight's values (sdk.WireSize: the
	// bytes of each value, 16 more for its kind and length); the node
	// sends no more inputs while it is maxInflightBytes or more, but one
	// input always goes when none is in flight.
	inflightBytes, maxInflightBytes int64
	// blockedSince is since when input has waited for room (0: it does
	// not; waitsForRoom), and stallReported that the error saying so is
	// out (see reportStall).
	blockedSince  int64
	stallReported bool
	// quietSince is when the process last sent a frame (other than a
	// heartbeat) while it held inputs, or when it was given inputs after
	// holding none; 0 while it holds none. quietReported: watchQuiet
	// reported this quiet spell.
	quietSince    int64
	quietReported bool
	// frames counts the unsettled inputs of each inputs frame in flight,
	// and sent lists the frames in the order they were sent. At most
	// maxFrames frames younger than frameHold are in flight: while the
	// process works through them, inputs gather in the queue and leave as
	// one bigger frame. That keeps a slow process fed with full batches (a
	// frame per spout batch at a modest rate would cost it far more per
	// tuple) and a fast one with fresh ones. A frame older than frameHold
	// stops counting even if the process holds its inputs (a windowed bolt
	// keeps them until its window fires): it must get more input to fire.
	frames    map[uint64]int
	sent      []sentFrame
	lastFrame uint64
	lastID    uint64
	// order lists the inputs sent, by id (increasing), from orderHead
	// on; settledThrough is the highest id the process acked, failed or
	// reset. Every SDK executes its inputs one at a time in the order it
	// got them, so every input up to settledThrough has been executed (or
	// is being): those the process still holds, it holds on purpose. The
	// first input after it is the oldest the process has not begun, the
	// head of its queue for the timeouts' backlog (unstartedBorn).
	order          []uint64
	orderHead      int
	settledThrough uint64
	cur            *router.Batch // batch being sent to the process
	curIdx         int

	// spout state
	proxy *spoutProxy
}

// inflightInput is an input the process holds.
type inflightInput struct {
	t     *sdk.Tuple
	frame uint64
	bytes int   // sdk.WireSize of its values
	born  int64 // its batch's Born (Nanotime)
}

// sentFrame is when an inputs frame was sent.
type sentFrame struct {
	id uint64
	at int64 // Nanotime
}

// Frame pacing of external bolts (see externalTask.frames).
const (
	maxFrames = 2
	frameHold = int64(25 * time.Millisecond)
)

// framesInFlight drops settled and old frames from x.sent and returns how
// many remain, and when the oldest of them stops counting (0: none).
func (x *externalTask) framesInFlight(now int64) (n int, until int64) {
	i := 0
	for i < len(x.sent) && (x.frames[x.sent[i].id] == 0 || now-x.sent[i].at >= frameHold) {
		i++
	}
	x.sent = x.sent[i:]
	if len(x.sent) == 0 {
		return 0, 0
	}
	return len(x.sent), x.sent[0].at + frameHold
}

// spoutProxy stands in for the spout in the executor's shared spout code
// (drainCtrl, sweeps): acks and fails it is given go to the process.
type spoutProxy struct {
	acked, failed []uint64
}

func (p *spoutProxy) DeclareOutputFields(*sdk.OutputDeclarer)                           {}
func (p *spoutProxy) Open(context.Context, *sdk.TaskContext, *sdk.SpoutCollector) error { return nil }
func (p *spoutProxy) NextTuple()                                                        {}
func (p *spoutProxy) Ack(id uint64)                                                     { p.acked = append(p.acked, id) }
func (p *spoutProxy) Fail(id uint64)                                                    { p.failed = append(p.failed, id) }
func (p *spoutProxy) Close() error                                                      { return nil }

// welcome builds the task context sent to the process.
func (e *executor) welcome(hb time.Duration) *galev1.TaskContext {
	rt := e.rt
	w := &galev1.TaskContext{
		Topology:        rt.spec.GetName(),
		TopologyId:      rt.id,
		Component:       e.comp.id,
		TaskId:          e.t.id,
		TaskIndex:       e.t.index,
		Config:          map[string]*galev1.Value{},
		ComponentTasks:  map[string]*galev1.TaskIds{},
		Outputs:         e.comp.spec.GetOutputs(),
		Inputs:          e.comp.spec.GetInputs(),
		SourceFields:    map[string]*galev1.Fields{},
		HeartbeatMillis: int32(hb / time.Millisecond),
	}
	for k, v := range e.comp.cfg {
		w.Config[k] = sdk.ValueToProto(v)
	}
	for _, c := range rt.comps {
		if !c.system {
			w.ComponentTasks[c.id] = &galev1.TaskIds{Ids: c.tasks}
		}
	}
	for _, in := range sdk.InputsFromSpecs(e.comp.spec.GetInputs(), rt.streamFields) {
		if in.Fields != nil {
			w.SourceFields[in.Component+":"+in.Stream] = &galev1.Fields{Names: in.Fields}
		}
	}
	return w
}

// runExternal runs an external task until it ends (end of input) or ctx is
// cancelled.
func (e *executor) runExternal(ctx context.Context) error {
	hb, err := configDuration(e.comp.cfg, KeyExternalHeartbeat, defaultExternalHeartbeat)
	if err != nil {
		return e.taskErr("start", err)
	}
	mi, err := configInt(e.comp.cfg, KeyExternalMaxInflight, defaultExternalMaxInflight)
	if err != nil {
		return e.taskErr("start", err)
	}
	mb, err := configInt(e.comp.cfg, KeyExternalMaxBytes, defaultExternalMaxBytes)
	if err != nil {
		return e.taskErr("start", err)
	}
	// Storm's bound on a multilang script's silence also bounds one call
	// of an Attach process's component (its heartbeats say how long).
	hookTimeout, err := configDuration(e.comp.cfg, KeySubprocessTimeout, defaultSubprocessTimeout)
	if err != nil {
		return e.taskErr("start", err)
	}
	x := &externalTask{hb: hb, hookTimeout: hookTimeout, maxInflight: int(mi), maxInflightBytes: mb, exits: make(chan error, 8), starts: make(chan struct{}, 1), inflight: map[uint64]inflightInput{}, frames: map[uint64]int{}, eofLeft: len(e.comp.upstream)}
	opts := external.SlotOptions{Welcome: e.welcome(hb), HookTimeout: hookTimeout}
	if a := e.comp.spec.GetAttached(); a != nil {
		opts.Attached = true
		opts.Token = a.GetToken()
	}
	if x.slot, err = e.rt.hub.Register(opts); err != nil {
		return e.taskErr("start", err)
	}
	defer x.slot.Unregister()
	if e.comp.spout {
		x.proxy = &spoutProxy{}
		e.spout = x.proxy
		e.pending = newPendingTable(e.maxPending)
		e.wasActive = true
	}
	if cmd := e.comp.spec.GetCommand(); cmd != nil {
		supCtx, stopSup := context.WithCancel(context.Background())
		supDone := make(chan struct{})
		x.sup = external.NewSupervisor(external.Supervisor{
			Cmd:  external.Command{Argv: cmd.GetArgv(), Dir: cmd.GetDir(), Env: cmd.GetEnv()},
			Env:  e.rt.processEnv(e.comp.id, e.t.id),
			Slot: x.slot,
			Log:  e.tc.Log,
			OnStart: func() {
				select {
				case x.starts <- struct{}{}:
				default:
				}
			},
			OnExit: func(err error) {
				select {
				case x.exits <- err:
				default:
				}
			},
		})
		if cmd.GetProtocol() == galev1.ExternalProtocol_EXTERNAL_PROTOCOL_STORM_MULTILANG {
			x.sup.Stdio = func(_ context.Context, stdin io.WriteCloser, stdout io.Reader) error {
				err := external.ServeMultilang(x.slot, stdin, stdout, e.comp.spout, hookTimeout)
				if err != nil && !errors.Is(err, external.ErrProcessEnded) && supCtx.Err() == nil {
					return fmt.Errorf("storm multilang: %w", err) // in the process's exit report
				}
				return nil
			}
		}
		go func() {
			defer close(supDone)
			x.sup.Run(supCtx)
		}()
		// Stop the process after its session was closed (below), so that
		// it can end cleanly first.
		defer func() {
			stopSup()
			<-supDone
		}()
	} else {
		e.tc.Log.Info("waiting for a process to attach", "attach", e.rt.attachAddr)
	}
	for {
		sess, err := e.awaitSession(ctx, x)
		if err != nil || sess == nil {
			return err
		}
		var finished bool
		started := time.Now()
		if e.comp.spout {
			finished = e.serveSpout(ctx, x, sess)
		} else {
			finished = e.serveBolt(ctx, x, sess)
		}
		x.slot.Release()
		if time.Since(started) >= healthyRun {
			x.quick = 0 // it ran: a later exit starts a new count
		}
		if finished || ctx.Err() != nil {
			return nil
		}
		if x.sup != nil {
			// The session ended but the process may live on (it broke the
			// protocol or stopped heartbeating): replace it.
			x.sup.Restart()
		}
	}
}

// awaitSession waits for a process to attach. It returns nil when ctx is
// cancelled, and an error when a managed process keeps exiting without
// attaching.
func (e *executor) awaitSession(ctx context.Context, x *externalTask) (external.Session, error) {
	e.t.headBorn.Store(0)
	// A managed process that has not attached attachWarnAfter after it
	// started is reported, once per process.
	warnTimer := time.NewTimer(attachWarnAfter)
	warnTimer.Stop()
	defer warnTimer.Stop()
	var warn <-chan time.Time
	for {
		select {
		case s := <-x.slot.Sessions():
			h := s.Hello()
			e.tc.Log.Info("external process attached", "sdk", h.GetSdk(), "pid", h.GetPid())
			select {
			case <-x.starts: // this process's start, if it attached before it was read
			default:
			}
			return s, nil
		case <-x.starts:
			warnTimer.Reset(attachWarnAfter)
			warn = warnTimer.C
		case err := <-x.exits:
			warn = nil // the process that was awaited is gone
			x.quick++
			e.ReportError(err)
			if x.quick >= maxQuickExits {
				return nil, e.taskErr("external process", fmt.Errorf("exited %d times in a row without running for %v; last: %w", x.quick, healthyRun, err))
			}
		case <-warn:
			warn = nil
			e.ReportError(fmt.Errorf("external process has not attached to the node %v after it started (its task waits for it): %s; one still loading attaches later", attachWarnAfter, x.sup.AttachHint()))
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// drainLast is called when session s has ended. A process that ended its
// stream (one stopping on a signal sends its last acks and emits, then
// half-closes) has every frame it sent queued before the session ends,
// and Frames closed after them: drainLast reports true, and the caller
// handles those frames until that close (which ends the session for it),
// so that nothing the process reported is lost. Otherwise it reports the
// end and false.
func (e *executor) drainLast(ctx context.Context, x *externalTask, s external.Session) bool {
	if errors.Is(s.Err(), external.ErrProcessEnded) {
		return true
	}
	e.endSession(ctx, x, s, "ended")
	return false
}

// endSession reports why a session ended, unless the task is stopping.
func (e *executor) endSession(ctx context.Context, x *externalTask, s external.Session, what string) {
	if ctx.Err() != nil {
		return
	}
	err := s.Err()
	if err != nil && s.Hello().GetSdk() == external.MultilangSDK {
		return // the process's exit report says it (Stdio), once
	}
	if status.Code(err) == codes.Canceled && e.comp.spec.GetCommand() != nil {
		// The process cancelled its stream: it exited, and the node
		// started it, so its exit report (status and last output) says
		// so, once.
		return
	}
	if (err == nil || errors.Is(err, external.ErrProcessEnded)) && e.comp.spec.GetCommand() != nil {
		// A process the node started ended its stream on its own: it is
		// exiting, and its exit report (status, last output) says why,
		// once; its error frames, if any, were reported already.
		return
	}
	if err == nil {
		err = errors.New("the process ended its stream")
	}
	if errors.Is(err, external.ErrHookTimeout) {
		how := "the node replaces it"
		if e.comp.spec.GetCommand() == nil {
			how = "attach another"
		}
		// A bolt's held inputs fail and replay from their spouts; a
		// spout holds no inputs, and a new process cannot replay the
		// messages this one emitted (serveSpout fails them here).
		lost := "the inputs it held replay"
		if e.comp.spout {
			lost = "its pending messages count as failed (a new process cannot replay them)"
		}
		err = fmt.Errorf("%w, over its %s of %v; %s, and %s", err, KeySubprocessTimeout, x.hookTimeout, how, lost)
	}
	e.ReportError(fmt.Errorf("external process (pid %d) %s: %w", s.Hello().GetPid(), what, err))
}

// protocolError tells the process what it did wrong, and records it.
func (e *executor) protocolError(s external.Session, err error) {
	e.ReportError(fmt.Errorf("external process (pid %d): %w", s.Hello().GetPid(), err))
	s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Error{Error: &galev1.LogRecord{Level: galev1.LogLevel_LOG_LEVEL_ERROR, Message: err.Error()}}})
}

// logRecord writes a process's log record to the task's log.
func (e *executor) logRecord(r *galev1.LogRecord) {
	level := slog.LevelInfo
	switch r.GetLevel() {
	case galev1.LogLevel_LOG_LEVEL_DEBUG:
		level = slog.LevelDebug
	case galev1.LogLevel_LOG_LEVEL_WARN:
		level = slog.LevelWarn
	case galev1.LogLevel_LOG_LEVEL_ERROR:
		level = slog.LevelError
	}
	e.tc.Log.Log(context.Background(), level, r.GetMessage(), "source", "process")
}

// checkExternalEmit validates an emit from a process before it is routed,
// so the process can be told what was wrong.
func (e *executor) checkExternalEmit(em *galev1.Emit) (*route, error) {
	stream := em.GetStream()
	if stream == "" {
		stream = sdk.DefaultStream
	}
	e.refreshRoutes()
	r := e.routes[stream]
	if r == nil {
		return nil, fmt.Errorf("emit to undeclared stream %q (declared: %v)", stream, streamNames(e.comp))
	}
	if n := len(em.GetValues()); n != len(r.s.src.Fields) {
		return nil, fmt.Errorf("emit on stream %q: %d values for fields %v", stream, n, r.s.src.Fields)
	}
	direct := em.GetDirectTask()
	if r.s.direct && direct <= 0 {
		return nil, fmt.Errorf("emit on direct stream %q must name a task (direct_task)", stream)
	}
	if !r.s.direct && direct != 0 {
		return nil, fmt.Errorf("emit with direct_task %d on stream %q, which is not declared direct", direct, stream)
	}
	if direct > 0 {
		for _, sub := range r.s.subs {
			if direct < sub.comp.tasks[0] || direct > sub.comp.tasks[len(sub.comp.tasks)-1] {
				return nil, fmt.Errorf("emit on direct stream %q to task %d, which is not a task of subscriber %s", stream, direct, sub.comp.id)
			}
		}
	}
	return r, nil
}

func valuesFromProto(dst []sdk.Value, vs []*galev1.Value) []sdk.Value {
	dst = dst[:0]
	for _, v := range vs {
		dst = append(dst, sdk.ValueFromProto(v))
	}
	return dst
}

// ---- bolts ----

// serveBolt drives a bolt process until its session ends (false) or the
// task finished (true).
func (e *executor) serveBolt(ctx context.Context, x *externalTask, s external.Session) (finished bool) {
	maxBatch := int(s.Hello().GetMaxBatch())
	if maxBatch <= 0 {
		maxBatch = defaultExternalMaxBatch
	}
	maxBatch = min(maxBatch, maxExternalMaxBatch)
	var tickC <-chan time.Time
	if freq, _ := configDuration(e.comp.cfg, KeyTickFreq, 0); freq > 0 {
		tk := time.NewTicker(freq)
		defer tk.Stop()
		tickC = tk.C
	}
	sleep := e.rt.newSleeper()
	defer sleep.stop()
	in := e.t.inbox.C()
	eofSent, gotFinished := false, false
	var vals []sdk.Value
	var anchors []*sdk.Tuple
	defer func() {
		if !finished {
			e.failInflight(x)
		}
	}()
	doneC := s.Done() // nil while the process's last frames are handled (see drainLast)
	for {
		e.now = router.Nanotime()
		if !e.passFence(ctx) {
			s.Close(nil)
			return false
		}
		if doneC != nil {
			e.sendInputs(x, s, maxBatch)
		}
		if doneC != nil && !eofSent && x.eofLeft == 0 && x.cur == nil && len(in) == 0 {
			s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_EndOfInput{EndOfInput: &galev1.EndOfInput{}}})
			eofSent = true
		}
		if gotFinished {
			if n := len(x.inflight); n > 0 {
				e.protocolError(s, fmt.Errorf("finished with %d inputs neither acked nor failed: they fail now", n))
				e.failInflight(x)
			}
			if err := e.sendEndOfInput(); err != nil {
				s.Close(nil)
				return false
			}
			e.t.headBorn.Store(0)
			e.t.done.Store(true)
			s.Close(nil)
			return true
		}
		if err := e.out.Flush(e.now); err != nil {
			s.Close(nil)
			return false
		}
		stallAt := e.watchStall(x, doneC != nil && (x.cur != nil || len(in) > 0) && x.waitsForRoom())
		if stallAt == 0 && doneC != nil && !x.stallReported && x.full() {
			// Full with no input waiting yet: input that comes later
			// does not wake this loop (inC is nil while full), and a
			// process stuck in execute sends no frame that would. Look
			// again in a heartbeat, so that watchStall sees it.
			stallAt = e.now + int64(x.hb)
		}
		if q := e.watchQuiet(x, doneC != nil); q != 0 && (stallAt == 0 || q < stallAt) {
			stallAt = q
		}
		inC := in
		if x.cur != nil || x.full() || x.eofLeft == 0 || doneC == nil {
			inC = nil
		}
		var timerC <-chan time.Time
		if len(s.Frames()) == 0 && (inC == nil || len(inC) == 0) {
			// Nothing more to do at once: publish and send partial batches.
			e.stats.publish(&e.t.counters)
			if x.cur == nil && len(in) == 0 && x.unstartedBorn() == 0 {
				// Nothing waits here that the process has not begun: the
				// inputs it still holds, it holds on purpose (as a Go
				// bolt's held tuples, they do not hold timeouts back).
				e.t.headBorn.Store(0)
			}
			dl, err := e.idleFlushAndFail()
			if err != nil {
				s.Close(nil)
				return false
			}
			if n, until := x.framesInFlight(e.now); n >= maxFrames && (x.cur != nil || len(in) > 0) && (dl == 0 || until < dl) {
				dl = until // input waits for the frame limit: wake when it eases
			}
			if stallAt != 0 && (dl == 0 || stallAt < dl) {
				dl = stallAt
			}
			if dl != 0 {
				timerC = sleep.set(e.now, dl)
			}
		}
		select {
		case b, ok := <-inC:
			if !ok {
				s.Close(nil)
				return false
			}
			e.t.took(b)
			if b.EndOfInput != 0 {
				if e.firstMarker(b.EndOfInput) {
					x.eofLeft--
				}
				b.Release()
				break
			}
			x.cur, x.curIdx = b, 0
			e.t.headBorn.Store(x.headBorn(b.Born))
		case f, ok := <-s.Frames():
			if !ok {
				e.endSession(ctx, x, s, "ended")
				return false
			}
			switch fr := f.GetFrame().(type) {
			case *galev1.AttachRequest_Emits:
				e.emitAll(s, fr.Emits.GetEmits(), func(em *galev1.Emit) bool { return e.boltEmit(x, s, em, &anchors, &vals) })
			case *galev1.AttachRequest_Acks:
				// Resets first: a process may reset an input's timeout
				// and then ack it within one frame, never the reverse.
				for _, id := range fr.Acks.GetResetTimeout() {
					if in, ok := x.inflight[id]; ok {
						e.ResetTimeout(in.t)
						x.settled(id)
						x.blockedSince, x.stallReported = 0, false // it holds them on purpose
					} else {
						e.protocolError(s, fmt.Errorf("reset timeout of input %d, which the process does not hold (never sent, or already acked or failed)", id))
					}
				}
				for _, id := range fr.Acks.GetAcked() {
					if t := x.take(id); t != nil {
						e.Ack(t)
					} else {
						e.protocolError(s, fmt.Errorf("ack of input %d, which the process does not hold (never sent, or already acked or failed)", id))
					}
				}
				for _, id := range fr.Acks.GetFailed() {
					if t := x.take(id); t != nil {
						e.Fail(t)
					} else {
						e.protocolError(s, fmt.Errorf("fail of input %d, which the process does not hold (never sent, or already acked or failed)", id))
					}
				}
				// Settling is progress; resets alone are not: they keep
				// their own trees alive, and a task that holds inputs
				// without settling any must not hold back the timeouts
				// of every other tree (Runtime.maxBacklog).
				if len(fr.Acks.GetAcked())+len(fr.Acks.GetFailed()) > 0 {
					e.t.lastProgress.Store(e.now)
				}
				e.t.headBorn.Store(x.headBorn(e.t.headBorn.Load()))
			case *galev1.AttachRequest_Log:
				e.logRecord(fr.Log)
			case *galev1.AttachRequest_Error:
				e.ReportError(fmt.Errorf("external process (pid %d): %s", s.Hello().GetPid(), fr.Error.GetMessage()))
			case *galev1.AttachRequest_Finished:
				if !eofSent {
					e.protocolError(s, errors.New("finished before end_of_input: ignored"))
				} else {
					gotFinished = true
				}
			default:
				e.protocolError(s, fmt.Errorf("unexpected %s frame from a bolt process", external.FrameName(f)))
			}
			// Any frame is a sign of life beyond heartbeats (the SDKs
			// send those from a thread of their own).
			x.quietSince, x.quietReported = 0, false
			if len(x.inflight) > 0 {
				x.quietSince = e.now
			}
			e.flushFailures()
		case <-tickC:
			if !e.passFence(ctx) {
				s.Close(nil)
				return false
			}
			s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Inputs{Inputs: &galev1.TupleBatch{Tuples: []*galev1.Tuple{{Stream: sdk.TickStream}}}}})
		case <-timerC:
		case <-doneC:
			if !e.drainLast(ctx, x, s) {
				return false
			}
			doneC = nil
		case <-ctx.Done():
			s.Close(nil)
			return false
		}
		if timerC != nil {
			sleep.stop()
		}
	}
}

// boltEmit routes one emit of a bolt process, or tells the process why
// not.
func (e *executor) boltEmit(x *externalTask, s external.Session, em *galev1.Emit, anchors *[]*sdk.Tuple, vals *[]sdk.Value) bool {
	r, err := e.checkExternalEmit(em)
	if err != nil {
		e.protocolError(s, err)
		return false
	}
	*anchors = (*anchors)[:0]
	for _, id := range em.GetAnchors() {
		t := x.inflight[id].t
		if t == nil {
			e.protocolError(s, fmt.Errorf("emit on stream %q anchored to input %d, which the process does not hold (never sent, or already acked or failed): emit dropped", r.s.src.Stream, id))
			return false
		}
		*anchors = append(*anchors, t)
	}
	*vals = valuesFromProto(*vals, em.GetValues())
	e.EmitBolt(r.s.src.Stream, *anchors, *vals, em.GetDirectTask())
	return true
}

// emitAll routes a process's emits with emit and tells a Storm multilang
// session where each went (its script waits for the task ids). It returns
// how many were routed.
func (e *executor) emitAll(s external.Session, emits []*galev1.Emit, emit func(*galev1.Emit) bool) int {
	router, _ := s.(external.MultilangRouter)
	e.trackRoutes = router != nil
	n := 0
	for _, em := range emits {
		e.routed = e.routed[:0]
		if emit(em) {
			n++
		}
		if router != nil {
			router.Routed(e.routed)
		}
	}
	return n
}

// take removes an input from the window.
func (x *externalTask) take(id uint64) *sdk.Tuple {
	in, ok := x.inflight[id]
	if !ok {
		return nil
	}
	delete(x.inflight, id)
	x.inflightBytes -= int64(in.bytes)
	x.settled(id)
	x.blockedSince, x.stallReported = 0, false // the process settles inputs
	if x.frames[in.frame]--; x.frames[in.frame] <= 0 {
		delete(x.frames, in.frame)
	}
	return in.t
}

// settled notes that the process acked, failed or reset input id: it has
// begun every input up to id.
func (x *externalTask) settled(id uint64) {
	x.settledThrough = max(x.settledThrough, id)
}

// unstartedBorn returns the Born of the oldest input the process holds
// and has not begun (see externalTask.order), 0 if none.
func (x *externalTask) unstartedBorn() int64 {
	for x.orderHead < len(x.order) {
		id := x.order[x.orderHead]
		if in, ok := x.inflight[id]; ok && id > x.settledThrough {
			return in.born
		}
		x.orderHead++
		if x.orderHead >= 1024 && 2*x.orderHead >= len(x.order) {
			x.order = x.order[:copy(x.order, x.order[x.orderHead:])]
			x.orderHead = 0
		}
	}
	x.order, x.orderHead = x.order[:0], 0
	return 0
}

// headBorn is what an external bolt's task says is the oldest work it has
// not begun (taskState.headBorn, for the timeouts' backlog): the oldest
// input its process holds and has not begun, else the batch being fed
// to it, else keep (the batch last taken, while the queue waits for room).
// A process that works through a long window of inputs is a queue like
// the task's own: the trees waiting in it must not time out (they did,
// while the batch last taken counted; a helper's slow Python bolt had 12%
// of its work complete and the rest replay).
func (x *externalTask) headBorn(keep int64) int64 {
	if born := x.unstartedBorn(); born != 0 {
		return born
	}
	if x.cur != nil {
		return x.cur.Born
	}
	return keep
}

// sendInputs sends queued inputs to the process while the window and the
// frame limit allow, gathering batches from the queue into frames of up to
// maxBatch tuples.
func (e *executor) sendInputs(x *externalTask, s external.Session, maxBatch int) {
	for !x.full() {
		if n, _ := x.framesInFlight(e.now); n >= maxFrames {
			return
		}
		n := min(maxBatch, x.maxInflight-len(x.inflight))
		var tb *galev1.TupleBatch
		frameBytes, stop := 0, false
		for !stop && (tb == nil || len(tb.Tuples) < n && frameBytes < maxInputFrameBytes) && e.nextInputBatch(x) {
			if tb == nil {
				if !x.roomFor(sdk.WireSize(x.cur.Tuples[x.curIdx].Values)) {
					return // still no room: nothing to make a frame for
				}
				x.lastFrame++
				tb = &galev1.TupleBatch{Tuples: make([]*galev1.Tuple, 0, min(n, len(x.cur.Tuples)-x.curIdx))}
			}
			b := x.cur
			k := min(len(b.Tuples)-x.curIdx, n-len(tb.Tuples))
			for i := range k {
				if i > 0 && frameBytes >= maxInputFrameBytes {
					k = i // large tuples: the rest go in the next frame
					break
				}
				t := &b.Tuples[x.curIdx+i]
				size := sdk.WireSize(t.Values)
				if size > maxInputTupleBytes {
					e.refuseInput(t, size)
					continue
				}
				if !x.roomFor(size) {
					k, stop = i, true // the process holds enough bytes: the rest wait
					break
				}
				frameBytes += size
				x.inflightBytes += int64(size)
				x.lastID++
				id := x.lastID
				// Acks, fails and anchoring read only the anchors (and
				// the source, for errors): not the values.
				x.inflight[id] = inflightInput{t: &sdk.Tuple{Source: t.Source, SourceTask: t.SourceTask, Anchors: slices.Clone(t.Anchors)}, frame: x.lastFrame, bytes: size, born: b.Born}
				x.order = append(x.order, id)
				pt := &galev1.Tuple{Stream: t.Source.Stream, SourceTask: t.SourceTask, Id: id, Values: make([]*galev1.Value, len(t.Values))}
				for j, v := range t.Values {
					pt.Values[j] = sdk.ValueToProto(v)
				}
				tb.Tuples = append(tb.Tuples, pt)
			}
			x.curIdx += k
			if x.curIdx == len(b.Tuples) {
				b.Release()
				x.cur = nil
			}
		}
		if tb == nil {
			return
		}
		if len(tb.Tuples) > 0 {
			x.frames[x.lastFrame] = len(tb.Tuples)
			x.sent = append(x.sent, sentFrame{id: x.lastFrame, at: e.now})
			if x.quietSince == 0 {
				x.quietSince = e.now
			}
			e.stats.executed += uint64(len(tb.Tuples))
			s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Inputs{Inputs: tb}})
		}
		if stop {
			return
		}
		// A frame of refused tuples only (refuseInput) sends nothing;
		// the loop goes on with what is next.
	}
}

// watchStall tracks how long input has waited for a process that holds
// all the inputs it may (blocked) and settles none, and reports it once
// that has lasted stallAfter heartbeats (reportStall). It returns when to
// look again, 0 for never.
func (e *executor) watchStall(x *externalTask, blocked bool) int64 {
	if !blocked {
		x.blockedSince = 0
		return 0
	}
	if x.blockedSince == 0 {
		x.blockedSince = e.now
	}
	at := x.blockedSince + stallAfter*int64(x.hb)
	switch {
	case x.stallReported:
		return 0
	case e.now >= at:
		e.reportStall(x)
		x.stallReported = true
		return 0
	}
	return at
}

// watchQuiet reports, once per quiet spell, a process that holds inputs
// and has sent nothing but heartbeats for the message timeout (and at
// least stallAfter heartbeats): an execute that hangs (a blocking call,
// an endless loop) in a process whose SDK heartbeats from a thread of its
// own. watchStall sees that only once the process holds as many inputs as
// it may, which a bolt with little input or a high
// topology.external.max.inflight never does: its inputs timed out and
// replayed with nothing saying where they went. It returns when to look
// again, 0 for never.
func (e *executor) watchQuiet(x *externalTask, live bool) int64 {
	if len(x.inflight) == 0 {
		x.quietSince, x.quietReported = 0, false
		return 0
	}
	if !live || x.quietSince == 0 || x.quietReported || x.stallReported {
		return 0
	}
	limit := max(int64(e.rt.settings.MessageTimeout), stallAfter*int64(x.hb))
	at := x.quietSince + limit
	if e.now < at {
		return at
	}
	x.quietReported = true
	e.rt.reportError(e.t, fmt.Errorf("the process holds %d inputs and has sent nothing but heartbeats for %v (%s is %v): "+
		"its execute may be stuck in a call that does not return (the node replaces a process whose SDK reports a call running longer than %s), "+
		"or it holds inputs without acking them or resetting their timeout; the inputs it holds fail after the message timeout and replay",
		len(x.inflight), time.Duration(e.now-x.quietSince).Round(time.Millisecond), KeyMessageTimeout, e.rt.settings.MessageTimeout, KeySubprocessTimeout))
	return 0
}

// stallAfter is how many heartbeat periods a process may hold all the
// inputs it may without settling one before the node says so.
const stallAfter = 10

// reportStall says, in the run's errors, that a process gets no input
// because it holds as many inputs as it may and acks none: a bolt that
// holds inputs until a window fires, or until its input ends, stops for
// ever when its window is larger than the limits (sdk/ATTACH.md, "Flow
// control"). A slow bolt that acks now and then clears it.
func (e *executor) reportStall(x *externalTask) {
	e.rt.reportError(e.t, fmt.Errorf("the process holds %d inputs (%d bytes) and has acked or failed none for %v, so it gets no more input: "+
		"its execute may be slow or stuck (the node replaces a process whose SDK reports a call running longer than %s, now %v), "+
		"or, if it holds inputs until a window fires or its input ends, set %s (now %d) and %s (now %d) above what it holds",
		len(x.inflight), x.inflightBytes, time.Duration(e.now-x.blockedSince).Round(time.Millisecond),
		KeySubprocessTimeout, x.hookTimeout, KeyExternalMaxInflight, x.maxInflight, KeyExternalMaxBytes, x.maxInflightBytes))
}

// full reports whether the process holds as many inputs, or as many
// bytes of them, as it may.
func (x *externalTask) full() bool {
	return len(x.inflight) >= x.maxInflight || x.inflightBytes >= x.maxInflightBytes
}

// roomFor reports whether an input of size bytes (sdk.WireSize) may go
// to the process now: it fits under maxInflightBytes, or the process
// holds nothing (one input always goes), or it is too large to send at
// all (refuseInput takes it; it waits for nothing).
func (x *externalTask) roomFor(size int) bool {
	return size > maxInputTupleBytes || len(x.inflight) == 0 || x.inflightBytes+int64(size) <= x.maxInflightBytes
}

// waitsForRoom reports whether the input at hand waits because the
// process holds all it may: it is full, or the next input of the batch
// being sent does not fit.
func (x *externalTask) waitsForRoom() bool {
	return x.full() || x.cur != nil && !x.roomFor(sdk.WireSize(x.cur.Tuples[x.curIdx].Values))
}

// maxInputFrameBytes bounds the values of a frame of inputs to an
// external process (at least one tuple each): a count of large tuples
// would otherwise make a frame over the process's gRPC message limit (64
// MiB in Gale's SDKs), which ends its stream.
const maxInputFrameBytes = 1 << 20

// maxInputTupleBytes bounds one input to an external process: SDKs
// receive messages of at least 64 MiB (sdk/ATTACH.md), and the frame's
// own fields need a little room. Only tuples made in this process can be
// larger; those from other nodes are bounded by transfer.MaxTupleBytes.
const maxInputTupleBytes = 64<<20 - 64<<10

// refuseInput fails the tree of an input too large to send to the
// process, which would end its stream (and, replayed, end it again), and
// says why in the run's errors.
func (e *executor) refuseInput(t *sdk.Tuple, size int) {
	e.rt.reportError(e.t, fmt.Errorf("an input from %s (task %d) was not sent to the process: its values take %d bytes, over the %d an SDK receives; its tree fails",
		t.Component(), t.SourceTask, size, maxInputTupleBytes))
	e.Fail(t)
}

// nextInputBatch makes sure x.cur holds unsent tuples, taking batches from
// the queue without waiting (and counting end-of-input markers on the
// way). It reports whether there are tuples to send.
func (e *executor) nextInputBatch(x *externalTask) bool {
	for x.cur == nil {
		select {
		case b, ok := <-e.t.inbox.C():
			if !ok {
				return false
			}
			e.t.took(b)
			if b.EndOfInput != 0 {
				if e.firstMarker(b.EndOfInput) {
					x.eofLeft--
				}
				b.Release()
				continue
			}
			if len(b.Tuples) == 0 {
				b.Release()
				continue
			}
			x.cur, x.curIdx = b, 0
			e.t.headBorn.Store(x.headBorn(b.Born))
		default:
			return false
		}
	}
	return true
}

// failInflight fails every input the process held, and the batch it was
// being fed: their trees replay.
func (e *executor) failInflight(x *externalTask) {
	for id, in := range x.inflight {
		e.Fail(in.t)
		delete(x.inflight, id)
	}
	x.inflightBytes = 0
	clear(x.frames)
	x.sent = x.sent[:0]
	x.order, x.orderHead = x.order[:0], 0
	if b := x.cur; b != nil {
		for i := x.curIdx; i < len(b.Tuples); i++ {
			e.Fail(&b.Tuples[i])
		}
		b.Release()
		x.cur = nil
	}
	e.flushFailures()
}

// ---- spouts ----

// spoutEmit routes one emit of a spout process, or tells the process why
// not.
func (e *executor) spoutEmit(s external.Session, em *galev1.Emit, vals *[]sdk.Value) bool {
	r, err := e.checkExternalEmit(em)
	if err != nil {
		e.protocolError(s, err)
		return false
	}
	if len(em.GetAnchors()) > 0 {
		e.protocolError(s, fmt.Errorf("a spout emit has anchors %v: spouts emit with a message id, not anchors", em.GetAnchors()))
		return false
	}
	*vals = valuesFromProto(*vals, em.GetValues())
	e.EmitSpout(r.s.src.Stream, em.GetMessageId(), em.GetMessageId() != 0, *vals, em.GetDirectTask())
	return true
}

// serveSpout drives a spout process until its session ends (false) or the
// spout ran to its end (true).
func (e *executor) serveSpout(ctx context.Context, x *externalTask, s external.Session) (finished bool) {
	sleep := e.rt.newSleeper()
	defer sleep.stop()
	outstanding := false // a next request awaits next_done
	roundEmits := 0      // emits since the last next request
	lastRoundEmits := -1 // emits of the last completed round (-1: none yet)
	// failsInRound: fails went to the process while a next request was
	// outstanding, so that round's emits may not include their replays.
	failsInRound := false
	var waitUntil int64 // no next request before this (the spout had nothing)
	var vals []sdk.Value
	// The process's view of activation starts as active.
	e.wasActive = true
	defer func() {
		if !finished {
			// The process that owned the pending messages is gone; a new
			// one cannot replay them, so they count as failed here.
			var lost []uint64
			e.pending.each(func(root uint64, _ pendingMsg) { lost = append(lost, root) })
			for _, r := range lost {
				if _, ok := e.pending.take(r); ok {
					e.stats.failed++
				}
			}
			e.deferred = e.deferred[:0] // nor those it was yet to be told of
			clear(e.refails)            // a new process's ids are its own
			clear(e.alive)
			x.proxy.acked, x.proxy.failed = x.proxy.acked[:0], x.proxy.failed[:0]
		}
	}()
	doneC := s.Done() // nil while the process's last frames are handled (see drainLast)
	for {
		e.now = router.Nanotime()
		if !e.passFence(ctx) {
			s.Close(nil)
			return false
		}
		e.drainCtrl()
		if e.rt.remote != nil && e.now-e.lastSweep > int64(e.rt.settings.MessageTimeout) {
			e.sweepLostResults()
		}
		e.releaseFails()
		if len(x.proxy.acked)+len(x.proxy.failed) > 0 {
			if len(x.proxy.failed) > 0 {
				// The process may replay them: the run cannot end
				// before a round that starts after it got them emits
				// nothing (it ended at once, losing the replays of an
				// ended spout).
				if outstanding {
					failsInRound = true
				} else {
					lastRoundEmits = -1
				}
			}
			s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_SpoutAcks{SpoutAcks: &galev1.SpoutAcks{Acked: x.proxy.acked, Failed: x.proxy.failed}}})
			x.proxy.acked, x.proxy.failed = nil, nil
		}
		active := e.rt.active.Load()
		if active != e.wasActive {
			e.wasActive = active
			if active {
				s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Activate{Activate: &galev1.Activate{}}})
			} else {
				s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Deactivate{Deactivate: &galev1.Deactivate{}}})
			}
		}
		room := e.rt.settings.BatchSize
		if e.nAck > 0 && e.maxPending > 0 {
			room = min(room, e.maxPending-e.pending.len())
		}
		if !outstanding && e.ended && lastRoundEmits == 0 && e.pending.len() == 0 && len(e.deferred) == 0 {
			// End of input, nothing in flight, and the last round replayed
			// nothing.
			if err := e.sendEndOfInput(); err != nil {
				s.Close(nil)
				return false
			}
			e.t.done.Store(true)
			s.Close(nil)
			return true
		}
		if active && !outstanding && room > 0 && e.now >= waitUntil {
			s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Next{Next: &galev1.NextRequest{Max: int32(room)}}})
			outstanding = true
			roundEmits = 0
		}
		if err := e.out.Flush(e.now); err != nil {
			s.Close(nil)
			return false
		}
		var timerC <-chan time.Time
		if len(s.Frames()) == 0 {
			e.stats.publish(&e.t.counters)
			e.t.latency.merge(&e.hist)
			dl, err := e.idleFlushAndFail()
			if err != nil {
				s.Close(nil)
				return false
			}
			wait := time.Duration(-1)
			if dl != 0 {
				wait = time.Duration(dl - e.now)
			}
			if !outstanding && waitUntil > e.now {
				if d := time.Duration(waitUntil - e.now); wait < 0 || d < wait {
					wait = d
				}
			}
			for _, due := range [...]int64{e.nextFailDue(), e.nextSweepDue()} {
				if due != 0 {
					if d := time.Duration(max(due-e.now, 0)); wait < 0 || d < wait {
						wait = d
					}
				}
			}
			if !active {
				wait = 10 * time.Millisecond // poll for activation
			}
			if wait >= 0 {
				timerC = sleep.set(e.now, e.now+int64(max(wait, 0)))
			}
		}
		select {
		case f, ok := <-s.Frames():
			if !ok {
				e.endSession(ctx, x, s, "ended")
				return false
			}
			switch fr := f.GetFrame().(type) {
			case *galev1.AttachRequest_Emits:
				roundEmits += e.emitAll(s, fr.Emits.GetEmits(), func(em *galev1.Emit) bool { return e.spoutEmit(s, em, &vals) })
				e.ackImmediate()
			case *galev1.AttachRequest_NextDone:
				if !outstanding {
					e.protocolError(s, errors.New("next_done without a next request: ignored"))
					break
				}
				outstanding = false
				lastRoundEmits = roundEmits
				if failsInRound {
					lastRoundEmits, failsInRound = -1, false
				}
				if fr.NextDone.GetEndOfInput() {
					e.ended = true
				}
				if roundEmits == 0 {
					waitUntil = e.now + int64(e.rt.settings.SpoutWait)
				}
			case *galev1.AttachRequest_Log:
				e.logRecord(fr.Log)
			case *galev1.AttachRequest_Error:
				e.ReportError(fmt.Errorf("external process (pid %d): %s", s.Hello().GetPid(), fr.Error.GetMessage()))
			default:
				e.protocolError(s, fmt.Errorf("unexpected %s frame from a spout process", external.FrameName(f)))
			}
			e.flushFailures()
		case <-e.t.ctrl.notify:
		case <-timerC:
		case <-doneC:
			if !e.drainLast(ctx, x, s) {
				return false
			}
			doneC = nil
		case <-ctx.Done():
			s.Close(nil)
			return false
		}
		if timerC != nil {
			sleep.stop()
		}
	}
}

// LoopbackAddr turns a listen address whose host is unspecified (":7070",
// "0.0.0.0:7070", "[::]:7070") into one a process on this host can dial.
func LoopbackAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// processEnv is the environment a managed process of task finds its node
// and its identity in (sdk/ATTACH.md, "Starting"), with the node's TLS
// files when it has them.
func (rt *Runtime) processEnv(component string, task int32) map[string]string {
	env := map[string]string{
		external.EnvAttachAddr: rt.attachAddr,
		external.EnvTopology:   rt.spec.GetName(),
		external.EnvComponent:  component,
		external.EnvTaskID:     strconv.Itoa(int(task)),
	}
	// Always set, empty for plaintext: a process must not take TLS files
	// from the node's own environment (a shell that exported GALE_TLS_*
	// for the CLI) when its node speaks plaintext.
	env[security.EnvCA], env[security.EnvCert], env[security.EnvKey] = "", "", ""
	maps.Copy(env, rt.attachTLS.Env())
	return env
}
