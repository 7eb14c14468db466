package attach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
)

// Version is this SDK's version, sent in the hello.
const Version = "gale-go/0.1.0"

// Environment variables read by OptionsFromEnv (sdk/ATTACH.md).
const (
	EnvAttachAddr = "GALE_ATTACH_ADDR"
	EnvTopology   = "GALE_TOPOLOGY"
	EnvComponent  = "GALE_COMPONENT"
	EnvTaskID     = "GALE_TASK_ID"
	EnvToken      = "GALE_TOKEN"
)

// Limits of one outgoing frame: far below the 16 MiB a node receives
// (transfer.MaxMessageBytes).
const (
	maxFrameItems = 1024
	maxFrameBytes = 1 << 20
)

// maxTupleBytes is the largest tuple an emit may take: what a node accepts
// in a frame of its own (16 MiB less 64 KiB, transfer.MaxTupleBytes), less
// 64 KiB more for what the node adds when it passes the tuple on (anchors,
// columns). A larger message would end the stream.
const maxTupleBytes = 16<<20 - 128<<10

// maxRecvBytes is the largest message this SDK receives, as in Gale's
// Python and TypeScript SDKs: a node sends a tuple of up to 16 MiB in a
// frame of its own, over gRPC's default limit of 4 MiB.
const maxRecvBytes = 64 << 20

// Options say where to attach and as what.
type Options struct {
	// Addr is the node's HOST:PORT.
	Addr string
	// Topology and Component name the component this process serves.
	Topology, Component string
	// TaskID is the task (managed processes); 0 lets the node pick a free
	// task of the component (attached processes).
	TaskID int32
	// Token is presented in the hello.
	Token string
	// MaxBatch is the largest input batch wanted; 0 is the node's choice.
	MaxBatch int
	// Log receives the SDK's own messages (not the component's, which go
	// to the node); nil means a text logger on stderr.
	Log *slog.Logger
	// TLS names the CA (and this process's certificate and key) for a node
	// that requires mutual TLS; zero is plaintext. OptionsFromEnv fills it
	// from GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY, which a node with
	// TLS sets for the processes it manages.
	TLS security.TLSFiles
	// DialOptions replace the default dial options (plaintext, or TLS's
	// credentials).
	DialOptions []grpc.DialOption

	// tlsFrom names where TLS came from in errors: "GALE_TLS" when
	// OptionsFromEnv read it, else the field ("TLS").
	tlsFrom string
}

// OptionsFromEnv reads the GALE_* variables.
func OptionsFromEnv() (Options, error) {
	o := Options{
		Addr:      os.Getenv(EnvAttachAddr),
		Topology:  os.Getenv(EnvTopology),
		Component: os.Getenv(EnvComponent),
		Token:     os.Getenv(EnvToken),
		TLS:       security.FilesFromEnv(),
		tlsFrom:   "GALE_TLS",
	}
	if s := os.Getenv(EnvTaskID); s != "" {
		id, err := strconv.ParseInt(s, 10, 32)
		if err != nil || id < 0 {
			return o, fmt.Errorf("%s=%q: not a task id (a non-negative integer)", EnvTaskID, s)
		}
		o.TaskID = int32(id)
	}
	for name, v := range map[string]string{EnvAttachAddr: o.Addr, EnvTopology: o.Topology, EnvComponent: o.Component} {
		if v == "" {
			return o, fmt.Errorf("%s is not set: a node sets it for the processes it starts; set it to attach by hand", name)
		}
	}
	return o, nil
}

// Main runs c with OptionsFromEnv until the node ends the task, then exits
// the process: 0 when the node ended the stream, 1 with the error on
// stderr otherwise. SIGTERM or SIGINT stop it gracefully (see Run) with
// exit status 0 or 130; a second signal ends it at once, by its default
// effect (the same signal within DuplicateSignalWindow is taken for the
// first delivered twice).
func Main(c sdk.Component) {
	o, err := OptionsFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gale attach: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	caught := make(chan os.Signal, 1)
	go func() {
		first := <-sigs
		at := time.Now()
		caught <- first
		stop()
		for s := range sigs {
			if s == first && time.Since(at) < DuplicateSignalWindow {
				continue // one request delivered twice
			}
			// A second request: the signal's default effect, at once.
			signal.Stop(sigs)
			if self, err := os.FindProcess(os.Getpid()); err == nil {
				_ = self.Signal(s)
			}
			return
		}
	}()
	err = Run(ctx, c, o)
	select {
	case s := <-caught:
		if err == nil || errors.Is(err, context.Canceled) {
			os.Exit(signalExitCode(s))
		}
	default:
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gale attach: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// DuplicateSignalWindow is how long after the signal that started a
// graceful stop the same signal counts as the same request delivered again
// (a wrapper such as npm or a shell script forwarding it to a process that
// got it too, systemd signalling the whole control group), not as a second
// request, which ends the process at once. The SDKs share it.
const DuplicateSignalWindow = time.Second

// signalExitCode is the exit status after a graceful stop on s: 0 for
// SIGTERM (a supervisor's stop request, met), 130 for SIGINT (the shell's
// code for an interrupted program).
func signalExitCode(s os.Signal) int {
	if s == os.Interrupt {
		return 130
	}
	return 0
}

// Run attaches c (an sdk.Spout or sdk.Bolt) to a node and runs it until the
// node ends the stream (nil), ctx is cancelled, or something breaks.
// Cancelling ctx stops the task gracefully (sdk/ATTACH.md, "Ending"): the
// hook that runs finishes and no other starts, what it emitted and acked
// is sent, the stream is half-closed and, once the node has ended it (at
// most 2 s), Close or Cleanup runs; Run then returns ctx's error, or the
// cleanup's if it failed. The context Open or Prepare gets is not
// cancelled by the stop, so that the running hook and the cleanup can
// finish their work; it is cancelled when Run returns.
func Run(ctx context.Context, c sdk.Component, o Options) error {
	spout, isSpout := c.(sdk.Spout)
	bolt, isBolt := c.(sdk.Bolt)
	if !isSpout && !isBolt {
		return fmt.Errorf("%T is neither an sdk.Spout nor an sdk.Bolt", c)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	dial := o.DialOptions
	plaintext := false // no TLS files: a failure may be a node that requires them
	if dial == nil {
		from := o.tlsFrom
		if from == "" {
			from = "TLS"
		}
		sec, err := security.Load(o.TLS, from)
		plaintext = sec == nil
		if err != nil {
			return fmt.Errorf("attach to node %s: %w", o.Addr, err)
		}
		dial = []grpc.DialOption{grpc.WithTransportCredentials(sec.Credentials())}
	}
	// First, so that the caller's own options can override it.
	dial = append([]grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes))}, dial...)
	conn, err := grpc.NewClient(o.Addr, dial...)
	if err != nil {
		return fmt.Errorf("connecting to node %s: %w", o.Addr, err)
	}
	defer conn.Close()
	// The stream outlives ctx by the graceful stop; before the welcome,
	// a cancelled ctx ends it at once.
	sess, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	unwatch := context.AfterFunc(ctx, cancel)
	defer unwatch()
	hooks, cancelHooks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHooks()
	stream, err := galev1.NewAttachServiceClient(conn).Attach(sess)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // stopped while connecting
		}
		return fmt.Errorf("attaching to node %s: %w", o.Addr, hintTLS(err, plaintext))
	}
	hello := &galev1.AttachHello{
		Topology: o.Topology, Component: o.Component, TaskId: o.TaskID, Token: o.Token,
		Sdk: Version, Pid: int32(os.Getpid()), MaxBatch: int32(o.MaxBatch),
	}
	if err := stream.Send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Hello{Hello: hello}}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("attaching to node %s: %w", o.Addr, hintTLS(recvErr(stream, err), plaintext))
	}
	first, err := stream.Recv()
	if !unwatch() {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("attaching to node %s as %s/%s: %w", o.Addr, o.Topology, o.Component, hintTLS(describe(err), plaintext))
	}
	w := first.GetWelcome()
	if w == nil {
		return fmt.Errorf("attaching to node %s: the node's first frame was not a welcome", o.Addr)
	}
	if ctx.Err() != nil {
		return ctx.Err() // stopped as the welcome came: no hook has run
	}
	p := newProcess(stream, w, o.Log)
	p.stop = ctx.Done()
	if isSpout {
		p.spout = spout
	} else {
		p.bolt = bolt
	}
	return p.run(sess, hooks, cancel, ctx.Err)
}

func recvErr(stream galev1.AttachService_AttachClient, err error) error {
	if errors.Is(err, io.EOF) {
		// The real reason is the stream's status.
		if _, rerr := stream.Recv(); rerr != nil {
			return describe(rerr)
		}
	}
	return err
}

// describe turns a stream error into a message without gRPC's prefix.
// hintTLS adds to a failed connection of a process without TLS files
// that the node may require TLS: it closes the connection, and "error
// reading server preface: EOF" says nothing of TLS by itself.
func hintTLS(err error, plaintext bool) error {
	if plaintext && err != nil && strings.Contains(err.Error(), "server preface") {
		return fmt.Errorf("%w (does the node require TLS? set GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY, or Options.TLS)", err)
	}
	return err
}

func describe(err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s (%s)", s.Message(), s.Code())
	}
	return err
}

// process is the SDK side of one Attach session.
type process struct {
	stream galev1.AttachService_AttachClient
	log    *slog.Logger
	hb     time.Duration
	tc     *sdk.TaskContext

	outputs  map[string]*galev1.StreamSpec
	sources  map[string]*sdk.Source // "component:stream"
	taskComp map[int32]string

	spout sdk.Spout
	bolt  sdk.Bolt
	ended bool // spout declared end of input
	// held are the inputs given to the bolt and not yet acked or failed:
	// an emit may only be anchored to those.
	held map[uint64]bool

	out    outbox
	runCtx context.Context // the session's, for flushes within a long batch
	// stop is closed when the caller asks the task to stop (Run's ctx):
	// no hook starts after it.
	stop  <-chan struct{}
	sendq chan []*galev1.AttachRequest
	// closeSend tells the writer to send what is queued, half-close the
	// stream and stop (see hangUp).
	closeSend chan struct{}
	frames    chan *galev1.AttachResponse
	recvEr    chan error
	// busy times the component's calls for the heartbeats.
	busy busyClock
}

func newProcess(stream galev1.AttachService_AttachClient, w *galev1.TaskContext, log *slog.Logger) *process {
	p := &process{
		stream:    stream,
		log:       log,
		hb:        time.Duration(w.GetHeartbeatMillis()) * time.Millisecond,
		outputs:   map[string]*galev1.StreamSpec{},
		sources:   map[string]*sdk.Source{},
		taskComp:  map[int32]string{},
		held:      map[uint64]bool{},
		sendq:     make(chan []*galev1.AttachRequest, 4),
		closeSend: make(chan struct{}),
		frames:    make(chan *galev1.AttachResponse, 16),
		recvEr:    make(chan error, 1),
	}
	if p.hb <= 0 {
		p.hb = time.Second
	}
	for _, s := range w.GetOutputs() {
		p.outputs[s.GetId()] = s
	}
	for key, f := range w.GetSourceFields() {
		comp, stream := splitSourceKey(key)
		p.sources[key] = sdk.NewSource(comp, stream, f.GetNames())
	}
	compTasks := map[string][]int32{}
	for comp, ids := range w.GetComponentTasks() {
		compTasks[comp] = ids.GetIds()
		for _, id := range ids.GetIds() {
			p.taskComp[id] = comp
		}
	}
	p.tc = &sdk.TaskContext{
		Topology:       w.GetTopology(),
		TopologyID:     w.GetTopologyId(),
		Component:      w.GetComponent(),
		TaskID:         w.GetTaskId(),
		TaskIndex:      w.GetTaskIndex(),
		Config:         sdk.ConfigFromProto(w.GetConfig()),
		ComponentTasks: compTasks,
		Inputs: sdk.InputsFromSpecs(w.GetInputs(), func(comp, stream string) []string {
			if f, ok := w.GetSourceFields()[comp+":"+stream]; ok {
				return f.GetNames()
			}
			return nil
		}),
		Log: slog.New(&frameLogHandler{p: p}),
	}
	return p
}

func splitSourceKey(key string) (comp, stream string) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == ':' {
			return key[:i], key[i+1:]
		}
	}
	return key, sdk.DefaultStream
}

// run serves the session: ctx is the stream's, hooks the components'
// hooks', and stopErr says why the caller stopped the task.
func (p *process) run(ctx, hooks context.Context, cancel context.CancelFunc, stopErr func() error) (err error) {
	stopped := false // a graceful stop: a cleanup error is the result
	p.runCtx = ctx
	writeErr := make(chan error, 1)
	go func() { writeErr <- p.write(ctx) }()
	go p.read(ctx)
	defer func() {
		// Cleanup runs however the session ended.
		var cerr error
		if p.spout != nil {
			cerr = safely(p.spout.Close)
		} else {
			cerr = safely(p.bolt.Cleanup)
		}
		if cerr != nil && (err == nil || stopped) {
			err = fmt.Errorf("cleanup: %w", cerr)
		}
	}()
	var openErr error
	if p.spout != nil {
		openErr = safely(func() error { return p.spout.Open(hooks, p.tc, sdk.NewSpoutCollector(p)) })
	} else {
		openErr = safely(func() error { return p.bolt.Prepare(hooks, p.tc, sdk.NewBoltCollector(p)) })
	}
	if openErr != nil {
		p.ReportError(fmt.Errorf("open: %w", openErr))
		p.hangUp(ctx, writeErr)
		cancel()
		return fmt.Errorf("open: %w", openErr)
	}
	lastRecv := time.Now()
	watch := time.NewTicker(p.hb / 4)
	defer watch.Stop()
	stop := func() error {
		// A graceful stop: no hook runs now (this loop runs them).
		stopped = true
		p.hangUp(ctx, writeErr)
		cancel()
		return stopErr()
	}
	for {
		select {
		case f := <-p.frames:
			if p.stopping() {
				return stop() // not handled: the node fails what it carried
			}
			if err := p.handle(f); err != nil {
				return err
			}
			// Frames the node sent while a hook ran wait behind it (the
			// reader hands over one at a time): the time spent in the
			// component's hooks does not count as the node's silence.
			lastRecv = time.Now()
			if err := p.flushCtx(ctx); err != nil {
				return err
			}
		case err := <-p.recvEr:
			if errors.Is(err, io.EOF) {
				return nil // the node ended the stream: done
			}
			return fmt.Errorf("node ended the stream: %w", describe(err))
		case err := <-writeErr:
			return fmt.Errorf("sending to the node: %w", recvErr(p.stream, err))
		case <-watch.C:
			// Log records from other goroutines wait at most this long.
			if err := p.flushCtx(ctx); err != nil {
				return err
			}
			// Frames waiting to be handled are not silence (a flush or a
			// hook held this loop up).
			if silent := time.Since(lastRecv); silent > 3*p.hb && len(p.frames) == 0 {
				cancel()
				return fmt.Errorf("no frame from the node for %v (heartbeat interval %v): giving up", silent.Round(time.Millisecond), p.hb)
			}
		case <-p.stop:
			return stop()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stopping reports whether the caller asked the task to stop.
func (p *process) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// read receives frames; heartbeats count as frames (they reset the node
// silence timer) but do nothing else.
func (p *process) read(ctx context.Context) {
	for {
		f, err := p.stream.Recv()
		if err != nil {
			select {
			case p.recvEr <- err:
			case <-ctx.Done():
			}
			return
		}
		select {
		case p.frames <- f:
		case <-ctx.Done():
			return // run has returned: nobody takes frames any more
		}
	}
}

// write sends flushed frames in order, and heartbeats when idle.
func (p *process) write(ctx context.Context) error {
	tick := time.NewTicker(p.hb / 4)
	defer tick.Stop()
	last := time.Now()
	hb := []*galev1.AttachRequest{{Frame: &galev1.AttachRequest_Heartbeat{Heartbeat: &galev1.Heartbeat{}}}}
	for {
		var frames []*galev1.AttachRequest
		closing := false
		select {
		case frames = <-p.sendq:
		case now := <-tick.C:
			busy, hook := p.busy.sample(now)
			if now.Sub(last) < p.hb*3/4 {
				continue
			}
			frames = hb
			if busy >= p.hb {
				frames = []*galev1.AttachRequest{{Frame: &galev1.AttachRequest_Heartbeat{Heartbeat: &galev1.Heartbeat{
					BusyMillis: uint32(min(busy.Milliseconds(), math.MaxUint32)), BusyIn: hook}}}}
			}
		case <-p.closeSend:
			// Everything flushed before hangUp is queued by now.
			frames, closing = p.queued(), true
		case <-ctx.Done():
			return nil
		}
		for _, f := range frames {
			if err := p.stream.Send(f); err != nil {
				return err
			}
		}
		if closing {
			return p.stream.CloseSend()
		}
		last = time.Now()
	}
}

// queued takes every batch of frames waiting in sendq, in order.
func (p *process) queued() []*galev1.AttachRequest {
	var frames []*galev1.AttachRequest
	for {
		select {
		case fs := <-p.sendq:
			frames = append(frames, fs...)
		default:
			return frames
		}
	}
}

// hangUpGrace bounds how long hangUp waits for the node to end the stream.
const hangUpGrace = 2 * time.Second

// hangUp ends the session from this side (a graceful stop, or giving up)
// without losing what the outbox holds: the writer sends it and
// half-closes the stream, and the node, having read it, ends the RPC.
// Cancelling the stream at once instead would race the last frames (the
// reset can overtake them at the node, or the writer not have sent them
// yet), and the node would not learn why the process gave up. The flush
// waits for room in the writer's queue for at most hangUpGrace too: a node
// that does not read must not hold the process.
func (p *process) hangUp(ctx context.Context, writeErr <-chan error) {
	fctx, fcancel := context.WithTimeout(ctx, hangUpGrace)
	_ = p.flushCtx(fctx)
	fcancel()
	close(p.closeSend)
	timeout := time.NewTimer(hangUpGrace)
	defer timeout.Stop()
	select {
	case <-writeErr:
	case <-timeout.C:
		return
	}
	for {
		select {
		case <-p.recvEr:
			return
		case <-p.frames:
			// Sent before the node saw the half-close: not handled (the
			// node fails the inputs it carried), but taken so that the
			// reader gets to the stream's end.
		case <-timeout.C:
			return
		}
	}
}

// flushLongBatch flushes what a batch produced so far once every
// heartbeat_millis / 4 of it (ATTACH.md: also within a long batch), since
// *since.
func (p *process) flushLongBatch(since *time.Time) {
	if time.Since(*since) < p.hb/4 {
		return
	}
	_ = p.flushCtx(p.runCtx) // a session that ended is noticed by run
	*since = time.Now()
}

func (p *process) flushCtx(ctx context.Context) error {
	frames := p.out.take()
	if len(frames) == 0 {
		return nil
	}
	select {
	case p.sendq <- frames:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *process) protocolError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.log.Warn(msg)
	p.out.add(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Error{Error: &galev1.LogRecord{Level: galev1.LogLevel_LOG_LEVEL_ERROR, Message: msg}}})
}

// handle runs one frame from the node.
func (p *process) handle(f *galev1.AttachResponse) error {
	switch fr := f.GetFrame().(type) {
	case *galev1.AttachResponse_Inputs:
		if p.bolt == nil {
			p.protocolError("inputs sent to a spout: a spout has no inputs (frame ignored)")
			return nil
		}
		since := time.Now()
		for _, t := range fr.Inputs.GetTuples() {
			if p.stopping() {
				break // the node fails the inputs not executed
			}
			p.execute(t)
			p.flushLongBatch(&since)
		}
	case *galev1.AttachResponse_Next:
		if p.spout == nil {
			p.protocolError("next sent to a bolt: only spouts answer next (frame ignored)")
			return nil
		}
		p.next(int(fr.Next.GetMax()))
	case *galev1.AttachResponse_SpoutAcks:
		if p.spout == nil {
			p.protocolError("spout_acks sent to a bolt (frame ignored)")
			return nil
		}
		for _, id := range fr.SpoutAcks.GetAcked() {
			p.call(&hookAck, func() { p.spout.Ack(id - wireIDOffset) })
		}
		for _, id := range fr.SpoutAcks.GetFailed() {
			p.call(&hookFail, func() { p.spout.Fail(id - wireIDOffset) })
		}
	case *galev1.AttachResponse_Activate, *galev1.AttachResponse_Deactivate:
		if p.spout == nil {
			p.protocolError("activate/deactivate sent to a bolt (frame ignored)")
			return nil
		}
		if a, ok := p.spout.(sdk.Activator); ok {
			if _, on := fr.(*galev1.AttachResponse_Activate); on {
				p.call(&hookActivate, a.Activate)
			} else {
				p.call(&hookDeactivate, a.Deactivate)
			}
		}
	case *galev1.AttachResponse_EndOfInput:
		if p.bolt == nil {
			p.protocolError("end_of_input sent to a spout: only bolts have inputs to end (frame ignored)")
			return nil
		}
		if fin, ok := p.bolt.(sdk.Finisher); ok {
			p.busy.enter(&hookFinish)
			err := safely(fin.Finish)
			p.busy.leave()
			if err != nil {
				p.ReportError(fmt.Errorf("finish: %w", err))
			}
		}
		if n := len(p.held); n > 0 {
			p.tc.Log.Warn(fmt.Sprintf("finished with %d inputs neither acked nor failed: the node fails them", n))
		}
		p.out.add(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Finished{Finished: &galev1.Finished{}}})
	case *galev1.AttachResponse_Heartbeat:
	case *galev1.AttachResponse_Error:
		p.log.Warn("the node rejected something this process sent", "error", fr.Error.GetMessage())
	case *galev1.AttachResponse_Welcome:
		p.protocolError("a second welcome (frame ignored)")
	case nil:
		p.protocolError("an empty frame from the node (no frame set; ignored)")
	default:
		p.protocolError("an unknown frame from the node (%T; ignored): is this SDK older than the node?", fr)
	}
	return nil
}

// call runs a component method, reporting a panic.
func (p *process) call(hook *string, f func()) {
	p.busy.enter(hook)
	err := safely(func() error { f(); return nil })
	p.busy.leave()
	if err != nil {
		p.ReportError(fmt.Errorf("%s: %w", strings.ReplaceAll(*hook, "_", " "), err))
	}
}

// execute runs one input tuple through the bolt.
func (p *process) execute(pt *galev1.Tuple) {
	t := &sdk.Tuple{SourceTask: pt.GetSourceTask()}
	id := pt.GetId()
	if pt.GetStream() == sdk.TickStream {
		t.Source = sdk.TickSource
	} else {
		comp := p.taskComp[pt.GetSourceTask()]
		src := p.sources[comp+":"+pt.GetStream()]
		if src == nil {
			p.protocolError("input %d: stream %q of task %d (component %q) is unknown to this task (it subscribes to %v): failed", id, pt.GetStream(), pt.GetSourceTask(), comp, keys(p.sources))
			p.failID(id)
			return
		}
		if n := len(pt.GetValues()); n != len(src.Fields) {
			p.protocolError("input %d on %s/%s: %d values for %d fields %v: failed", id, comp, pt.GetStream(), n, len(src.Fields), src.Fields)
			p.failID(id)
			return
		}
		t.Source = src
	}
	t.Values = make([]sdk.Value, len(pt.GetValues()))
	for i, v := range pt.GetValues() {
		t.Values[i] = sdk.ValueFromProto(v)
	}
	if id != 0 {
		// The input id rides in the anchor: anchoring to or acking t
		// names it.
		t.Anchors = []sdk.Anchor{{Root: id}}
		p.held[id] = true
	}
	p.busy.enter(&hookExecute)
	err := safely(func() error { p.bolt.Execute(t); return nil })
	p.busy.leave()
	if err != nil {
		p.ReportError(fmt.Errorf("execute (input %d, failed): %w", id, err))
		if id != 0 && p.held[id] {
			delete(p.held, id)
			p.failID(id)
		}
	}
}

// next answers a next request: NextTuple until max tuples or a call that
// emitted nothing, then next_done.
func (p *process) next(max int) {
	since := time.Now()
	for emitted := 0; emitted < max && !p.stopping(); {
		before := p.out.emits
		p.call(&hookNextTuple, p.spout.NextTuple)
		n := p.out.emits - before
		if n == 0 {
			break
		}
		emitted += n
		p.flushLongBatch(&since)
	}
	p.out.add(&galev1.AttachRequest{Frame: &galev1.AttachRequest_NextDone{NextDone: &galev1.NextDone{EndOfInput: p.ended}}})
}

func (p *process) failID(id uint64) {
	p.out.ack(id, false)
}

func keys(m map[string]*sdk.Source) []string {
	return slices.Sorted(maps.Keys(m))
}

// ---- sdk.Emitter ----

// checkEmit checks an emit against the declared outputs and the size a
// node accepts, and returns its stream and estimated size (sdk.WireSize).
func (p *process) checkEmit(stream string, values []sdk.Value, direct int32) (string, int) {
	if stream == "" {
		stream = sdk.DefaultStream
	}
	s := p.outputs[stream]
	if s == nil {
		panic(fmt.Errorf("emit to undeclared stream %q (declared: %v)", stream, slices.Sorted(maps.Keys(p.outputs))))
	}
	if len(values) != len(s.GetFields()) {
		panic(fmt.Errorf("emit on stream %q: %d values for fields %v", stream, len(values), s.GetFields()))
	}
	size := sdk.WireSize(values)
	if size > maxTupleBytes {
		panic(fmt.Errorf("emit on stream %q: the tuple's values take about %d bytes encoded, over the %d a node accepts", stream, size, maxTupleBytes))
	}
	if s.GetDirect() != (direct > 0) {
		if s.GetDirect() {
			panic(fmt.Errorf("emit on direct stream %q must name a task (EmitDirect)", stream))
		}
		panic(fmt.Errorf("EmitDirect on stream %q, which is not declared direct", stream))
	}
	return stream, size
}

func (p *process) protoValues(values []sdk.Value) []*galev1.Value {
	vs := make([]*galev1.Value, len(values))
	for i, v := range values {
		vs[i] = sdk.ValueToProto(v)
	}
	return vs
}

// EmitBolt implements sdk.Emitter.
func (p *process) EmitBolt(stream string, anchors []*sdk.Tuple, values []sdk.Value, direct int32) {
	stream, size := p.checkEmit(stream, values, direct)
	em := &galev1.Emit{Stream: stream, Values: p.protoValues(values), DirectTask: direct}
	for _, a := range anchors {
		if a != nil && len(a.Anchors) > 0 {
			id := a.Anchors[0].Root
			if !p.held[id] {
				panic(fmt.Errorf("emit on stream %q anchored to input %d, which was already acked or failed", stream, id))
			}
			em.Anchors = append(em.Anchors, id)
		}
	}
	p.out.emit(em, size)
}

// wireIDOffset is added to a spout's message ids on the wire, which
// reserves 0 for unreliable emits, so that a Go spout's id 0 is as
// reliable over the Attach stream as in process (it was sent unreliable,
// and its Ack never came).
const wireIDOffset = 1

// EmitSpout implements sdk.Emitter.
func (p *process) EmitSpout(stream string, msgID uint64, reliable bool, values []sdk.Value, direct int32) {
	stream, size := p.checkEmit(stream, values, direct)
	em := &galev1.Emit{Stream: stream, Values: p.protoValues(values), DirectTask: direct}
	if reliable {
		if msgID == math.MaxUint64 {
			panic(fmt.Errorf("emit on stream %q: message id %d is the one id a spout over the Attach stream cannot use (ids go on the wire plus one)", stream, msgID))
		}
		em.MessageId = msgID + wireIDOffset
	}
	p.out.emit(em, size)
}

// Ack implements sdk.Emitter. Acking an input twice panics: the second
// ack would be refused by the node.
func (p *process) Ack(t *sdk.Tuple) { p.settle(t, true) }

// Fail implements sdk.Emitter.
func (p *process) Fail(t *sdk.Tuple) { p.settle(t, false) }

func (p *process) settle(t *sdk.Tuple, ok bool) {
	if t == nil || len(t.Anchors) == 0 {
		return // a tick, or not an input
	}
	id := t.Anchors[0].Root
	if !p.held[id] {
		panic(fmt.Errorf("input %d was already acked or failed", id))
	}
	delete(p.held, id)
	p.out.ack(id, ok)
}

// ResetTimeout implements sdk.TimeoutResetter: the node starts the message
// timeout of the input's trees again. Like Ack, it panics for an input the
// bolt no longer holds.
func (p *process) ResetTimeout(t *sdk.Tuple) {
	if t == nil || len(t.Anchors) == 0 {
		return // a tick, or not an input
	}
	id := t.Anchors[0].Root
	if !p.held[id] {
		panic(fmt.Errorf("reset timeout of input %d, which was already acked or failed", id))
	}
	p.out.resetTimeout(id)
}

// ReportError implements sdk.Emitter.
func (p *process) ReportError(err error) {
	p.out.add(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Error{Error: &galev1.LogRecord{Level: galev1.LogLevel_LOG_LEVEL_ERROR, Message: err.Error()}}})
}

// EndOfInput implements sdk.Emitter.
func (p *process) EndOfInput() { p.ended = true }

// safely calls f, turning a panic into an error that names the line it
// happened at.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			at := ""
			if site := sdk.PanicSite(); site != "" {
				at = " (at " + site + ")"
			}
			if e, ok := r.(error); ok {
				err = fmt.Errorf("%w%s", e, at)
			} else {
				err = fmt.Errorf("panic: %v%s", r, at)
			}
		}
	}()
	return f()
}

// ---- the outgoing buffer ----

// outbox is the buffer of frames to send. Emits, logs and errors keep their
// order (consecutive emits share one frame); acks and fails are held back in
// one acks frame sent after them, at the end of the flush or before a
// next_done or finished. Holding acks back keeps the protocol's rule (an
// anchored emit reaches the node before its input's ack) and makes an input
// batch cost two frames, not two per input.
type outbox struct {
	mu     sync.Mutex
	frames []*galev1.AttachRequest
	acks   *galev1.InputAcks
	nacks  int
	items  int // in the last frame
	bytes  int // of values in the last frame, roughly
	emits  int // emits ever added (spouts: did NextTuple emit?)
}

func (o *outbox) add(f *galev1.AttachRequest) {
	o.mu.Lock()
	switch f.GetFrame().(type) {
	case *galev1.AttachRequest_NextDone, *galev1.AttachRequest_Finished:
		o.moveAcks()
	}
	o.frames = append(o.frames, f)
	o.items, o.bytes = 0, 0
	o.mu.Unlock()
}

// moveAcks appends the held acks to the frames; called with mu held.
func (o *outbox) moveAcks() {
	if o.acks != nil {
		o.frames = append(o.frames, &galev1.AttachRequest{Frame: &galev1.AttachRequest_Acks{Acks: o.acks}})
		o.acks, o.nacks = nil, 0
		o.items, o.bytes = 0, 0
	}
}

func (o *outbox) full() bool { return o.items >= maxFrameItems || o.bytes >= maxFrameBytes }

// emit adds em, whose values take about size bytes (sdk.WireSize).
func (o *outbox) emit(em *galev1.Emit, size int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.emits++
	var batch *galev1.EmitBatch
	// A large emit does not join a frame that it would take over the
	// node's limit: it starts its own.
	if n := len(o.frames); n > 0 && !o.full() && o.bytes+size <= maxFrameBytes {
		batch = o.frames[n-1].GetEmits()
	}
	if batch == nil {
		batch = &galev1.EmitBatch{}
		o.frames = append(o.frames, &galev1.AttachRequest{Frame: &galev1.AttachRequest_Emits{Emits: batch}})
		o.items, o.bytes = 0, 0
	}
	batch.Emits = append(batch.Emits, em)
	o.items++
	o.bytes += size
}

func (o *outbox) ack(id uint64, ok bool) {
	o.addAck(func(a *galev1.InputAcks) {
		if ok {
			a.Acked = append(a.Acked, id)
		} else {
			a.Failed = append(a.Failed, id)
		}
	})
}

func (o *outbox) resetTimeout(id uint64) {
	o.addAck(func(a *galev1.InputAcks) { a.ResetTimeout = append(a.ResetTimeout, id) })
}

// addAck adds one id to the open acks frame, which closes once it holds
// 64 frames' worth of items.
func (o *outbox) addAck(add func(*galev1.InputAcks)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.acks == nil {
		o.acks = &galev1.InputAcks{}
	}
	add(o.acks)
	if o.nacks++; o.nacks >= 64*maxFrameItems {
		o.moveAcks()
	}
}

func (o *outbox) take() []*galev1.AttachRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.moveAcks()
	f := o.frames
	o.frames = nil
	o.items, o.bytes = 0, 0
	return f
}

// frameLogHandler sends the component's log records to the node.
type frameLogHandler struct {
	p     *process
	attrs []slog.Attr
}

func (h *frameLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *frameLogHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	add := func(a slog.Attr) bool {
		msg += " " + a.Key + "=" + a.Value.String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := galev1.LogLevel_LOG_LEVEL_INFO
	switch {
	case r.Level >= slog.LevelError:
		level = galev1.LogLevel_LOG_LEVEL_ERROR
	case r.Level >= slog.LevelWarn:
		level = galev1.LogLevel_LOG_LEVEL_WARN
	case r.Level < slog.LevelInfo:
		level = galev1.LogLevel_LOG_LEVEL_DEBUG
	}
	h.p.out.add(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Log{Log: &galev1.LogRecord{Level: level, Message: msg}}})
	return nil
}

func (h *frameLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &frameLogHandler{p: h.p, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *frameLogHandler) WithGroup(string) slog.Handler { return h }
