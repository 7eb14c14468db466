package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/node/external"
	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/attach"
)

// External components in these tests are this test binary, re-executed
// with GALE_TEST_EXTERNAL naming the component (see TestMain), speaking
// Attach through the Go SDK: real processes over a real socket.

const externalEnv = "GALE_TEST_EXTERNAL"

// runExternalTestComponent runs the component a re-executed test binary was
// started for.
func runExternalTestComponent(name string) {
	switch name {
	case "pass":
		attach.Main(&extPass{})
	case "seq":
		attach.Main(&extSeq{})
	case "hold":
		attach.Main(&extHold{})
	case "slow":
		attach.Main(&extSlow{})
	default:
		os.Stderr.WriteString("unknown test component " + name + "\n")
		os.Exit(2)
	}
}

// extPass re-emits each input anchored and acks it. GALE_TEST_CRASH_AFTER=k
// makes the first process (per marker file GALE_TEST_MARKER) exit after k
// inputs; GALE_TEST_STOP_AFTER=k makes it stop itself (SIGSTOP) instead,
// and GALE_TEST_HANG_AFTER=k makes its k-th Execute never return.
type extPass struct {
	out   *sdk.BoltCollector
	seen  int
	crash int
	stop  int
	hang  int
}

func (b *extPass) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (b *extPass) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	if msg := os.Getenv("GALE_TEST_FAIL_PREPARE"); msg != "" {
		return errors.New(msg)
	}
	b.crash, _ = strconv.Atoi(os.Getenv("GALE_TEST_CRASH_AFTER"))
	b.stop, _ = strconv.Atoi(os.Getenv("GALE_TEST_STOP_AFTER"))
	b.hang, _ = strconv.Atoi(os.Getenv("GALE_TEST_HANG_AFTER"))
	return nil
}
func (b *extPass) Execute(t *sdk.Tuple) {
	b.seen++
	if (b.crash > 0 && b.seen == b.crash) || (b.stop > 0 && b.seen == b.stop) || (b.hang > 0 && b.seen == b.hang) {
		marker := os.Getenv("GALE_TEST_MARKER")
		if f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			f.Close()
			switch {
			case b.crash > 0:
				os.Exit(3) // mid-batch: inputs held by this process are lost
			case b.stop > 0:
				_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			default:
				time.Sleep(time.Hour) // stuck; its SDK heartbeats on
			}
		}
	}
	b.out.Emit(t, t.Value(0))
	b.out.Ack(t)
}
func (b *extPass) Cleanup() error { return nil }

// extSlow passes on the id of each input after 20 ms, and acks it.
type extSlow struct{ out *sdk.BoltCollector }

func (b *extSlow) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (b *extSlow) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}
func (b *extSlow) Execute(t *sdk.Tuple) {
	time.Sleep(20 * time.Millisecond)
	b.out.Emit(t, t.Value(0))
	b.out.Ack(t)
}
func (b *extSlow) Cleanup() error { return nil }

// extHold holds its inputs until it has 1500 of them (or the input ends),
// like a count window, then passes them on and acks them.
type extHold struct {
	out  *sdk.BoltCollector
	held []*sdk.Tuple
}

func (b *extHold) release() {
	for _, t := range b.held {
		b.out.Emit(t, t.Value(0))
		b.out.Ack(t)
	}
	b.held = b.held[:0]
}

func (b *extHold) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (b *extHold) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}
func (b *extHold) Execute(t *sdk.Tuple) {
	if b.held = append(b.held, t.Clone()); len(b.held) == 1500 {
		b.release()
	}
}
func (b *extHold) Finish() error  { b.release(); return nil }
func (b *extHold) Cleanup() error { return nil }

// extSeq emits ids 0..count-1 (message id id), replays failures, ends.
type extSeq struct {
	out    *sdk.SpoutCollector
	next   int64
	count  int64
	replay []uint64
	// hang: GALE_TEST_HANG_AFTER=k makes the first process (per marker
	// file GALE_TEST_MARKER) never return from NextTuple once it emitted
	// k tuples.
	hang int64
}

func (s *extSeq) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (s *extSeq) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.out = out
	var err error
	s.count, err = tc.Config.Int("test.count", 100)
	s.hang, _ = strconv.ParseInt(os.Getenv("GALE_TEST_HANG_AFTER"), 10, 64)
	return err
}
func (s *extSeq) NextTuple() {
	if s.hang > 0 && s.next == s.hang {
		if f, err := os.OpenFile(os.Getenv("GALE_TEST_MARKER"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			f.Close()
			time.Sleep(time.Hour) // stuck; its SDK heartbeats on
		}
	}
	if len(s.replay) > 0 {
		id := s.replay[0]
		s.replay = s.replay[1:]
		s.out.Emit(id, sdk.Int(int64(id)))
		return
	}
	if s.next < s.count {
		s.out.Emit(uint64(s.next), sdk.Int(s.next)) // id 0 too: as reliable as in process
		s.next++
	}
	if s.next == s.count {
		s.out.End()
	}
}
func (s *extSeq) Ack(uint64)     {}
func (s *extSeq) Fail(id uint64) { s.replay = append(s.replay, id) }
func (s *extSeq) Close() error   { return nil }

// ext adds an external component run by this test binary.
func (tp *topo) ext(id string, kind galev1.ComponentKind, n int, component string, env map[string]string, inputs ...string) *topo {
	exe, _ := os.Executable()
	if env == nil {
		env = map[string]string{}
	}
	env[externalEnv] = component
	tp.s.Components = append(tp.s.Components, &galev1.ComponentSpec{
		Id: id, Kind: kind, Parallelism: int32(n),
		Implementation: &galev1.ComponentSpec_Command{Command: &galev1.ExternalCommand{Argv: []string{exe, "-test.run=^$"}, Env: env}},
		Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"id"}}},
	})
	c := tp.s.Components[len(tp.s.Components)-1]
	for _, in := range inputs {
		c.Inputs = append(c.Inputs, &galev1.InputSpec{Component: in, Stream: "default", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}})
	}
	return tp
}

// attachServer serves a hub on 127.0.0.1:0 for one test.
func attachServer(t *testing.T) (*external.Hub, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hub := external.NewHub()
	srv := grpc.NewServer(transfer.ServerOptions()...) // as a Peer's port
	galev1.RegisterAttachServiceServer(srv, hub)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return hub, lis.Addr().String()
}

// newWithHub makes the topology's runtime with an Attach hub of its own
// on 127.0.0.1:0, for its external components.
func (tp *topo) newWithHub(t *testing.T) *Runtime {
	t.Helper()
	hub, addr := attachServer(t)
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Attach: hub, AttachAddr: addr})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rt
}

// runWithHub runs the topology with an Attach endpoint to its end.
func (tp *topo) runWithHub(t *testing.T, timeout time.Duration) (*Runtime, *testState, error) {
	t.Helper()
	rt := tp.newWithHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := rt.Run(ctx)
	v, _ := states.Load(t.Name())
	return rt, v.(*testState), err
}

func errorsText(rt *Runtime) string {
	var b strings.Builder
	for _, e := range rt.Errors() {
		b.WriteString(e.Component + ": " + e.Err.Error() + "\n")
	}
	return b.String()
}

func TestExternalBoltManaged(t *testing.T) {
	const n = 20000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 2, "pass", nil, "seq").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	checkAllAcked(t, st, n)
	for i := int64(0); i < n; i++ {
		if st.sunk[i] != 1 {
			t.Fatalf("sink saw id %d %d times", i, st.sunk[i])
		}
	}
	if p := stats(rt, "pass").Counters; p.Executed != n || p.Acked != n || p.Emitted != n {
		t.Fatalf("pass counters %+v", p)
	}
	if errs := rt.Errors(); len(errs) != 0 {
		t.Fatalf("task errors:\n%s", errorsText(rt))
	}
}

func TestExternalSpoutManaged(t *testing.T) {
	const n = 5000
	tp := newTopo(t, map[string]any{"test.count": n}).
		ext("seq", galev1.ComponentKind_COMPONENT_KIND_SPOUT, 1, "seq", nil).
		bolt("sink", "test.Sink", 2, nil, "seq:shuffle")
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	for i := int64(0); i < n; i++ {
		if st.sunk[i] != 1 {
			t.Fatalf("sink saw id %d %d times", i, st.sunk[i])
		}
	}
	if s := stats(rt, "seq").Counters; s.Acked != n || s.Emitted != n {
		t.Fatalf("spout counters %+v", s)
	}
}

// A managed spout that has declared its end still gets the fails of its
// pending messages and the rounds to replay them: the run ended once
// nothing was pending, in the pass that sent the process the last fails,
// and their replays were lost.
func TestAnEndedExternalSpoutStillReplays(t *testing.T) {
	const n = 300
	tp := newTopo(t, map[string]any{"test.count": n}).
		ext("seq", galev1.ComponentKind_COMPONENT_KIND_SPOUT, 1, "seq", nil).
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		conf("pass", map[string]any{"test.fail_rate": 0.5}).
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	for i := int64(0); i < n; i++ {
		if st.sunk[i] == 0 {
			t.Fatalf("id %d never reached the sink (spout counters %+v)", i, stats(rt, "seq").Counters)
		}
	}
	if s := stats(rt, "seq").Counters; s.Acked != n || s.Failed == 0 {
		t.Fatalf("spout counters %+v: want %d acked and some failed", s, n)
	}
}

// A process that dies mid-batch is restarted, and what it held replays.
func TestExternalCrashReplays(t *testing.T) {
	const n = 5000
	marker := filepath.Join(t.TempDir(), "crashed")
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", map[string]string{"GALE_TEST_CRASH_AFTER": "700", "GALE_TEST_MARKER": marker}, "seq").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	checkAllAcked(t, st, n)
	if len(st.failed) == 0 {
		t.Fatalf("no message failed: the crash lost nothing in flight?")
	}
	if !strings.Contains(errorsText(rt), "exit status 3") {
		t.Fatalf("the crash is not reported; errors:\n%s", errorsText(rt))
	}
	// Once: the end of its session, which the exit cancelled, is no
	// second error beside it.
	if msg := errorsText(rt); strings.Contains(msg, "context canceled") {
		t.Fatalf("the crash is reported twice; errors:\n%s", msg)
	}
}

// A process whose Execute never returns goes on heartbeating from the
// SDK's writer; its heartbeats say how long the call has run, and once
// that is over topology.subprocess.timeout.secs the node ends the session
// and replaces the process: what it held replays. Before, the task got
// nothing done for ever.
func TestAnExternalBoltStuckInExecuteIsReplaced(t *testing.T) {
	const n = 3000
	marker := filepath.Join(t.TempDir(), "stuck")
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", map[string]string{"GALE_TEST_HANG_AFTER": "700", "GALE_TEST_MARKER": marker}, "seq").
		conf("pass", map[string]any{KeyExternalHeartbeat: 100, KeySubprocessTimeout: 1}).
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no process got stuck: %v", err)
	}
	checkAllAcked(t, st, n)
	if len(st.failed) == 0 {
		t.Fatalf("no message failed: the stuck process held nothing?")
	}
	want := "its execute has not returned for"
	if msg := errorsText(rt); !strings.Contains(msg, want) || !strings.Contains(msg, KeySubprocessTimeout) {
		t.Fatalf("errors do not say %q and name %s:\n%s", want, KeySubprocessTimeout, msg)
	}
}

// A spout process stuck in NextTuple is replaced too, and the report says
// what becomes of what it had emitted: a spout holds no inputs, and its
// pending messages fail here (a new process cannot replay them), so
// saying "the inputs it held replay", as for a bolt, misled.
func TestAnExternalSpoutStuckInNextTupleIsReplaced(t *testing.T) {
	const n = 2000
	marker := filepath.Join(t.TempDir(), "stuck")
	tp := newTopo(t, map[string]any{"test.count": n}).
		ext("seq", galev1.ComponentKind_COMPONENT_KIND_SPOUT, 1, "seq", map[string]string{"GALE_TEST_HANG_AFTER": "700", "GALE_TEST_MARKER": marker}).
		conf("seq", map[string]any{KeyExternalHeartbeat: 100, KeySubprocessTimeout: 1}).
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, _, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no process got stuck: %v", err)
	}
	msg := errorsText(rt)
	if want := "its next_tuple has not returned for"; !strings.Contains(msg, want) {
		t.Fatalf("errors do not say %q:\n%s", want, msg)
	}
	if strings.Contains(msg, "inputs it held") {
		t.Fatalf("a spout's report speaks of inputs it held:\n%s", msg)
	}
	if want := "its pending messages count as failed"; !strings.Contains(msg, want) {
		t.Fatalf("errors do not say %q:\n%s", want, msg)
	}
}

// A process that stops heartbeating (SIGSTOP) is dropped after 3 intervals
// and replaced; what it held replays.
func TestExternalHeartbeatTimeout(t *testing.T) {
	const n = 3000
	marker := filepath.Join(t.TempDir(), "stopped")
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", map[string]string{"GALE_TEST_STOP_AFTER": "500", "GALE_TEST_MARKER": marker}, "seq").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle").
		conf("pass", map[string]any{KeyExternalHeartbeat: 100})
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	checkAllAcked(t, st, n)
	if !strings.Contains(errorsText(rt), "no heartbeat") {
		t.Fatalf("the silence is not reported; errors:\n%s", errorsText(rt))
	}
}

// A process that holds its inputs (a window) keeps getting input: the
// frame limit that batches inputs for a busy process must not starve it.
func TestExternalBoltThatHoldsInputs(t *testing.T) {
	const n = 4500 // three windows of 1500: more than two frames of 512 each
	tp := newTopo(t, map[string]any{"test.count": n, KeyMaxSpoutPend: 0}).
		spout("seq", "test.Seq", 1, "id").
		ext("hold", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "hold", nil, "seq").
		bolt("sink", "test.Sink", 1, nil, "hold:shuffle").
		conf("hold", map[string]any{KeyExternalMaxInflight: 2 * n})
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	checkAllAcked(t, st, n)
	for i := int64(0); i < n; i++ {
		if st.sunk[i] != 1 {
			t.Fatalf("sink saw id %d %d times", i, st.sunk[i])
		}
	}
	if msg := errorsText(rt); strings.Contains(msg, "gets no more input") {
		t.Errorf("a process that acks its windows was reported stalled:\n%s", msg)
	}
}

// TestAWindowLargerThanTheLimitsIsReported: a bolt that holds 1,500
// inputs until its window fires, with room for 1,024 of them
// (topology.external.max.inflight.bytes 16 KiB, 16 bytes each), gets no
// more input and never fires. That cannot be undone from inside, but the
// run's errors say so, and which keys to raise, instead of nothing.
func TestAWindowLargerThanTheLimitsIsReported(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 4500, KeyMaxSpoutPend: 0}).
		spout("seq", "test.Seq", 1, "id").
		ext("hold", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "hold", nil, "seq").
		bolt("sink", "test.Sink", 1, nil, "hold:shuffle").
		conf("hold", map[string]any{KeyExternalMaxBytes: 16 << 10, KeyExternalHeartbeat: 100})
	rt := tp.newWithHub(t)
	runUntilTestEnds(t, rt)
	waitFor(t, 30*time.Second, func() error {
		if msg := errorsText(rt); !strings.Contains(msg, "gets no more input") || !strings.Contains(msg, KeyExternalMaxBytes) {
			return fmt.Errorf("no report of the stalled window yet; errors:\n%s", msg)
		}
		return nil
	})
}

// TestAStuckBoltIsReportedWhenInputComesLater: a bolt whose execute
// hangs (here: holds every input) takes exactly as many inputs as it may
// while nothing else waits, so its executor goes to sleep with no input to
// look at. The replays that arrive later (message timeout 1 s) wait for
// room it never gives; the run's errors must still say so, as they do
// when input already waits at the moment the process fills up.
func TestAStuckBoltIsReportedWhenInputComesLater(t *testing.T) {
	const n = 600 // all of them fit in the process: none waits at first
	waitHoldingBoltReported(t, n, n, "gets no more input")
}

// waitHoldingBoltReported runs n ids through an external bolt that holds
// every input (it may hold maxInflight; message timeout 1 s) and waits for
// a task error that says want.
func waitHoldingBoltReported(t *testing.T, n, maxInflight int, want string) {
	t.Helper()
	tp := newTopo(t, map[string]any{"test.count": n, KeyMaxSpoutPend: 0, KeyMessageTimeout: 1}).
		spout("seq", "test.Seq", 1, "id").
		ext("hold", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "hold", nil, "seq").
		bolt("sink", "test.Sink", 1, nil, "hold:shuffle").
		conf("hold", map[string]any{KeyExternalMaxInflight: maxInflight, KeyExternalHeartbeat: 100})
	rt := tp.newWithHub(t)
	runUntilTestEnds(t, rt)
	waitFor(t, 20*time.Second, func() error {
		if msg := errorsText(rt); !strings.Contains(msg, want) {
			return fmt.Errorf("no report saying %q yet; errors:\n%s", want, msg)
		}
		return nil
	})
}

// TestAHungBoltWithRoomIsReported: a bolt whose execute hangs (here:
// holds every input and sends nothing) but may hold far more inputs than
// it gets never fills up, so the stall report above never comes; its
// inputs time out and replay into it. The run's errors must still say
// that the process has sent nothing but heartbeats, instead of nothing.
func TestAHungBoltWithRoomIsReported(t *testing.T) {
	const n = 300
	waitHoldingBoltReported(t, n, 1000*n, "sent nothing but heartbeats")
}

// TestTreesWaitingInASlowProcessDoNotTimeOut: an external bolt's process
// holding many inputs it has not begun is a queue like the task's own, and
// the trees waiting in it are making progress: they must not time out and
// replay. Here a pass bolt feeds 200 inputs a second for 2 s to a process
// that takes 20 ms each and may hold all 400 (8 s of work), with a message
// timeout of 1 s; they timed out and replayed when only the batch last taken from
// the task's queue counted for the backlog (a helper's slow Python bolt
// had 12% of its trees complete, the rest replaying).
func TestTreesWaitingInASlowProcessDoNotTimeOut(t *testing.T) {
	const n = 400
	tp := newTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pace", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		ext("slow", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "slow", nil, "pace").
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").
		conf("pace", map[string]any{"test.sleep": 5}).
		conf("slow", map[string]any{KeyExternalMaxInflight: n})
	rt, st, err := tp.runWithHub(t, 60*time.Second)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errorsText(rt))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.acked) != n || len(st.failed) != 0 {
		t.Fatalf("%d of %d messages acked, %d failed (timed out while waiting in the process)", len(st.acked), n, len(st.failed))
	}
}

// A command that cannot start fails the run with its reason, after a few
// tries, instead of restarting forever.
func TestExternalCommandNotFound(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 10}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", nil, "seq")
	tp.s.Components[1].GetCommand().Argv = []string{"/nonexistent/gale-test-bolt"}
	_, _, err := tp.runWithHub(t, 60*time.Second)
	if err == nil || !strings.Contains(err.Error(), "in a row") || !strings.Contains(err.Error(), "/nonexistent/gale-test-bolt") {
		t.Fatalf("Run: %v, want a failure naming the command", err)
	}
}

// A working directory that does not exist is named as such, not blamed
// on the program ("fork/exec /usr/bin/sh: no such file or directory").
func TestExternalWorkingDirNotFound(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 10}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", nil, "seq")
	tp.s.Components[1].GetCommand().Dir = "/nonexistent/gale-test-dir"
	_, _, err := tp.runWithHub(t, 60*time.Second)
	if err == nil || !strings.Contains(err.Error(), "its working directory: stat /nonexistent/gale-test-dir: no such file or directory") {
		t.Fatalf("Run: %v, want a failure naming the directory", err)
	}
}

// A process that attaches but fails in prepare (a bad config value, say)
// fails the run with its message after a few tries, like one that cannot
// start.
func TestExternalPrepareFailureFailsTheRun(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 10}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", map[string]string{"GALE_TEST_FAIL_PREPARE": "config pass.mode: want fast or slow"}, "seq")
	rt, _, err := tp.runWithHub(t, 60*time.Second)
	if err == nil || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("Run: %v, want the task to fail", err)
	}
	if !strings.Contains(errorsText(rt), "config pass.mode: want fast or slow") {
		t.Fatalf("the process's own message is not in the task errors:\n%s", errorsText(rt))
	}
	// The process exits on its own after it gave up: its exit status is
	// what the final error reports, not the SIGKILL of a hasty restart.
	if !strings.Contains(err.Error(), "last: external process exit status") {
		t.Fatalf("Run: %v, want the process's own exit status as the last error", err)
	}
}

// rawAttach opens an Attach stream by hand, to send what no SDK would.
func rawAttach(t *testing.T, addr string, hello *galev1.AttachHello) (galev1.AttachService_AttachClient, *galev1.TaskContext, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := galev1.NewAttachServiceClient(conn).Attach(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
	f, err := s.Recv()
	if err != nil {
		return nil, nil, err
	}
	return s, f.GetWelcome(), nil
}

// runAttachedTopo runs seq -> ext -> sink until the test ends, ext being an
// attached bolt (with token, if any) whose processes the test plays with
// rawAttach. It returns the runtime, the Attach address and Run's result.
func runAttachedTopo(t *testing.T, conf map[string]any, token string) (*Runtime, string, <-chan error) {
	t.Helper()
	tp := newTopo(t, conf).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil)
	shuffle := &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}
	tp.s.Components = append(tp.s.Components[:1], &galev1.ComponentSpec{
		Id: "ext", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: 1,
		Implementation: &galev1.ComponentSpec_Attached{Attached: &galev1.AttachedComponent{Token: token}},
		Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"id"}}},
		Inputs:         []*galev1.InputSpec{{Component: "seq", Stream: "default", Grouping: shuffle}},
	}, tp.s.Components[1])
	tp.s.Components[2].Inputs = []*galev1.InputSpec{{Component: "ext", Stream: "default", Grouping: shuffle}}
	hub, addr := attachServer(t)
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Attach: hub, AttachAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	runErr := make(chan error, 1)
	go func() { runErr <- rt.Run(ctx) }()
	return rt, addr, runErr
}

// passOn answers an inputs frame as a pass-through bolt: each input
// emitted again, anchored to itself, then acked.
func passOn(t *testing.T, s galev1.AttachService_AttachClient, in *galev1.TupleBatch) {
	t.Helper()
	var emits []*galev1.Emit
	var acks []uint64
	for _, tu := range in.GetTuples() {
		emits = append(emits, &galev1.Emit{Values: tu.GetValues(), Anchors: []uint64{tu.GetId()}})
		acks = append(acks, tu.GetId())
	}
	for _, f := range []*galev1.AttachRequest{
		{Frame: &galev1.AttachRequest_Emits{Emits: &galev1.EmitBatch{Emits: emits}}},
		{Frame: &galev1.AttachRequest_Acks{Acks: &galev1.InputAcks{Acked: acks}}},
	} {
		if err := s.Send(f); err != nil {
			t.Fatal(err)
		}
	}
}

// behaveToTheEnd plays a well-behaved pass-through process until the node
// ends the stream: inputs passed on, end of input answered with finished.
// It returns how many inputs it passed on.
func behaveToTheEnd(t *testing.T, s galev1.AttachService_AttachClient) (inputs int) {
	t.Helper()
	for {
		f, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return inputs
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if in := f.GetInputs(); in != nil {
			passOn(t, s, in)
			inputs += len(in.GetTuples())
		}
		if f.GetEndOfInput() != nil {
			if err := s.Send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Finished{Finished: &galev1.Finished{}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// An attached component: processes attach by themselves; the node checks
// tokens, hands out free tasks, and answers protocol mistakes with errors
// while the task goes on.
func TestAttachedComponent(t *testing.T) {
	const n = 200
	rt, addr, runErr := runAttachedTopo(t, map[string]any{"test.count": n}, "s3cret")

	hello := &galev1.AttachHello{Topology: "t", Component: "ext", Token: "wrong", Sdk: "raw-test", Pid: 1}
	var err2 error
	waitFor(t, 10*time.Second, func() error {
		if _, _, err2 = rawAttach(t, addr, hello); status.Code(err2) == codes.NotFound {
			return err2
		}
		return nil
	})
	if status.Code(err2) != codes.PermissionDenied {
		t.Fatalf("wrong token: %v, want PermissionDenied", err2)
	}
	hello.Token = "s3cret"
	s, w, err := rawAttach(t, addr, hello)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if w.GetTaskId() == 0 || w.GetComponent() != "ext" || len(w.GetSourceFields()["seq:default"].GetNames()) != 1 {
		t.Fatalf("welcome %v", w)
	}
	if _, _, err := rawAttach(t, addr, hello); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second process: %v, want ResourceExhausted", err)
	}

	// Mistakes first: each gets an error frame; the stream goes on.
	send := func(f *galev1.AttachRequest) {
		if err := s.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Emits{Emits: &galev1.EmitBatch{Emits: []*galev1.Emit{
		{Stream: "nope", Values: []*galev1.Value{{}}},
		{Values: []*galev1.Value{{}, {}}},
		{Values: []*galev1.Value{{}}, Anchors: []uint64{999}},
	}}}})
	send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Acks{Acks: &galev1.InputAcks{Acked: []uint64{12345}}}})
	send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_NextDone{NextDone: &galev1.NextDone{}}})
	wantErrors := []string{`undeclared stream "nope"`, "2 values for fields [id]", "anchored to input 999", "ack of input 12345", "unexpected next_done"}
	got := 0
	seen := map[uint64]bool{}
	for got < len(wantErrors) || len(seen) < n {
		f, err := s.Recv()
		if err != nil {
			t.Fatalf("recv: %v (errors so far %d)", err, got)
		}
		switch fr := f.GetFrame().(type) {
		case *galev1.AttachResponse_Error:
			if !strings.Contains(fr.Error.GetMessage(), wantErrors[got]) {
				t.Fatalf("error %d %q, want it to mention %q", got, fr.Error.GetMessage(), wantErrors[got])
			}
			got++
		case *galev1.AttachResponse_Inputs:
			for _, tu := range fr.Inputs.GetTuples() {
				seen[tu.GetId()] = true
			}
			passOn(t, s, fr.Inputs)
		}
	}
	// End of input comes; answer finished; the node ends the stream OK.
	behaveToTheEnd(t, s)
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	v, _ := states.Load(t.Name())
	st := v.(*testState)
	checkAllAcked(t, st, n)
	if e := errorsText(rt); strings.Count(e, "\n") < len(wantErrors) {
		t.Fatalf("errors not in the status:\n%s", e)
	}
}

// A process that stops (a signal, sdk/ATTACH.md "Ending") sends its last
// acks and emits and then half-closes its stream: the node handles them
// before it fails what the process still held. Handling the stream's end
// first would fail (and replay) trees that had completed.
func TestAttachedProcessStopLosesNoAckItSent(t *testing.T) {
	// Few trees in flight, so that the spout is far from its end (after
	// which failed trees are not replayed) when the stopping rounds are over.
	const n = 2000
	_, addr, runErr := runAttachedTopo(t, map[string]any{"test.count": n, KeyMaxSpoutPend: 40}, "")
	hello := &galev1.AttachHello{Topology: "t", Component: "ext", Sdk: "raw-test", Pid: 1}
	// Rounds of: attach, pass one inputs frame on, half-close at once. A
	// message may have failed before (an earlier round's process held it):
	// what counts is that it does not fail after this ack.
	var stopped []uint64
	failedBefore := map[uint64]int{}
	failures := func(m uint64) int {
		v, _ := states.Load(t.Name())
		st := v.(*testState)
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.failed[m]
	}
	for round := 0; round < 5; round++ {
		var s galev1.AttachService_AttachClient
		waitFor(t, 10*time.Second, func() error {
			var err error
			s, _, err = rawAttach(t, addr, hello)
			return err // NotFound until the task runs, ResourceExhausted until the last round's session ended
		})
		for {
			f, err := s.Recv()
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if in := f.GetInputs(); in != nil {
				passOn(t, s, in)
				for _, tu := range in.GetTuples() {
					m := uint64(tu.GetValues()[0].GetIntValue()) + 1 // test.Seq's message id
					stopped = append(stopped, m)
					failedBefore[m] = failures(m)
				}
				break
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		for { // the node ends the stream once it has read the half-close
			if _, err := s.Recv(); err != nil {
				break
			}
		}
	}
	// Then a process that runs to the end.
	var s galev1.AttachService_AttachClient
	waitFor(t, 10*time.Second, func() error {
		var err error
		s, _, err = rawAttach(t, addr, hello)
		return err
	})
	behaveToTheEnd(t, s)
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	v, _ := states.Load(t.Name())
	st := v.(*testState)
	checkAllAcked(t, st, n)
	st.mu.Lock()
	defer st.mu.Unlock()
	t.Logf("%d messages acked by processes that stopped right after", len(stopped))
	for _, m := range stopped {
		if st.failed[m] != failedBefore[m] {
			t.Fatalf("message %d failed after its ack, sent before the half-close: the ack was lost (%d messages acked by stopping processes)", m, len(stopped))
		}
	}
}

// An attached process may connect to any node: one that hosts no task of
// the component relays it to one that does.
func TestAttachedProcessIsRelayedToTheNodeWithTheTask(t *testing.T) {
	a, b, client := twoNodes(t)
	ctx := context.Background()
	const n = 300
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil)
	tp.s.Name = "relay"
	tp.s.Components = append(tp.s.Components[:1], &galev1.ComponentSpec{
		Id: "ext", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: 1,
		Implementation: &galev1.ComponentSpec_Attached{Attached: &galev1.AttachedComponent{}},
		Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"id"}}},
		Inputs:         []*galev1.InputSpec{{Component: "seq", Stream: "default", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}}},
	}, tp.s.Components[1])
	tp.s.Components[2].Inputs = []*galev1.InputSpec{{Component: "ext", Stream: "default", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}}}
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	// Find the node that hosts ext, and attach to the other one.
	var other string
	waitFor(t, 20*time.Second, func() error {
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "relay"})
		if err != nil {
			return err
		}
		for _, c := range st.GetComponents() {
			if c.GetId() == "ext" && len(c.GetTasks()) == 1 && c.GetTasks()[0].GetNode() != "" {
				other = a.Addr()
				if c.GetTasks()[0].GetNode() == "a" {
					other = b.Addr()
				}
				return nil
			}
		}
		return errors.New("ext not assigned yet")
	})
	hello := &galev1.AttachHello{Topology: "relay", Component: "ext", Sdk: "raw-test", Pid: 1}
	var s galev1.AttachService_AttachClient
	waitFor(t, 20*time.Second, func() error {
		var err error
		s, _, err = rawAttach(t, other, hello)
		return err
	})
	if seen := behaveToTheEnd(t, s); seen < n {
		t.Fatalf("the relayed process saw %d inputs, want %d", seen, n)
	}
	checkAllAcked(t, stateFor(t), n)
}

// A managed process that never attaches (its program forgot to call the
// SDK's run, or hangs before it) is reported while the task waits for it,
// instead of the task showing as running in silence; and a stop does not
// wait for a stream that never began.
func TestAProcessThatNeverAttachesIsReported(t *testing.T) {
	old := attachWarnAfter
	attachWarnAfter = 300 * time.Millisecond
	t.Cleanup(func() { attachWarnAfter = old })
	tp := newTopo(t, map[string]any{"test.count": 10}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", nil, "seq")
	tp.s.Components[1].GetCommand().Argv = []string{"sleep", "60"}
	rt := tp.newWithHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	waitFor(t, 30*time.Second, func() error {
		if !strings.Contains(errorsText(rt), "has not attached to the node 300ms after it started") {
			return fmt.Errorf("no report of the process that does not attach; errors:\n%s", errorsText(rt))
		}
		return nil
	})
	if n := strings.Count(errorsText(rt), "has not attached"); n != 1 {
		t.Fatalf("reported %d times, want once:\n%s", n, errorsText(rt))
	}
	stopAt := time.Now()
	cancel()
	<-done // "topology stopped"
	// The process is stopped with SIGTERM at once, not after the grace
	// given to a process whose stream was ended (5 s).
	if d := time.Since(stopAt); d > 4*time.Second {
		t.Fatalf("stopping took %v", d)
	}
}

// A managed process that exits 0 without attaching says so, with what it
// printed (to stdout, when that is all it wrote), rather than "exited
// with status 0 while its task was running".
func TestAProcessThatExitsWithoutAttachingSaysSo(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 10}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", nil, "seq")
	tp.s.Components[1].GetCommand().Argv = []string{"sh", "-c", "echo config missing, bye; exit 0"}
	rt, _, err := tp.runWithHub(t, 60*time.Second)
	if err == nil || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("Run: %v, want the task to fail", err)
	}
	for _, want := range []string{"exited with status 0 without attaching", "its last output (stdout): config missing, bye"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v\nwant %q in it", err, want)
		}
	}
	if strings.Contains(errorsText(rt), "while its task was running") {
		t.Errorf("task errors say the process ran:\n%s", errorsText(rt))
	}
}

// An attached bolt that holds its inputs for 20 message timeouts keeps
// their trees alive with reset_timeout frames (Storm's resetTimeout): none
// times out. Its held inputs hold every timeout back by themselves only
// while it settles some (Runtime.localBacklog; for at most 5 s here), so
// the hold is longer than that. A reset of an input it does not hold is a
// protocol error.
func TestAnAttachedBoltResetsTimeouts(t *testing.T) {
	const n = 30
	_, addr, runErr := runAttachedTopo(t, map[string]any{"test.count": n, KeyMessageTimeout: 0.3, "test.max_replays": 0}, "")
	var s galev1.AttachService_AttachClient
	waitFor(t, 10*time.Second, func() error {
		var err error
		s, _, err = rawAttach(t, addr, &galev1.AttachHello{Topology: "t", Component: "ext", Sdk: "raw-test", Pid: 1})
		return err
	})
	send := func(f *galev1.AttachRequest) {
		if err := s.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	frames := make(chan *galev1.AttachResponse, 64)
	go func() {
		defer close(frames)
		for {
			f, err := s.Recv()
			if err != nil {
				return
			}
			frames <- f
		}
	}()
	send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Acks{Acks: &galev1.InputAcks{ResetTimeout: []uint64{4242}}}})
	var held []*galev1.Tuple
	var sawError bool
	reset := time.NewTicker(100 * time.Millisecond)
	defer reset.Stop()
	release := time.After(6 * time.Second)
	for len(held) < n || !sawError {
		select {
		case f := <-frames:
			if e := f.GetError(); e != nil {
				if !strings.Contains(e.GetMessage(), "reset timeout of input 4242") {
					t.Fatalf("error %q, want one about the reset of input 4242", e.GetMessage())
				}
				sawError = true
			}
			held = append(held, f.GetInputs().GetTuples()...)
		case <-reset.C:
			var ids []uint64
			for _, tu := range held {
				ids = append(ids, tu.GetId())
			}
			send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Acks{Acks: &galev1.InputAcks{ResetTimeout: ids}}})
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d inputs came, error frame %v", len(held), n, sawError)
		}
	}
	for {
		select {
		case <-reset.C:
			var ids []uint64
			for _, tu := range held {
				ids = append(ids, tu.GetId())
			}
			send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Acks{Acks: &galev1.InputAcks{ResetTimeout: ids}}})
			continue
		case <-release:
		}
		break
	}
	passOn(t, s, &galev1.TupleBatch{Tuples: held})
	for f := range frames {
		if f.GetEndOfInput() != nil {
			send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Finished{Finished: &galev1.Finished{}}})
		}
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	v, _ := states.Load(t.Name())
	st := v.(*testState)
	checkAllAcked(t, st, n)
	if len(st.failed) != 0 {
		t.Fatalf("%d trees timed out while the process held and reset them", len(st.failed))
	}
}
