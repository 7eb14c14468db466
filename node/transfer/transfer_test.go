package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	srcWords = sdk.NewSource("split", "default", []string{"word", "n"})
	srcOdd   = sdk.NewSource("split", "odd", []string{"n"})
)

// recorder is a Receiver that keeps what arrives; tasks >= 100 are "not
// here"; block, when set, holds back the credit of tasks below blockBelow
// (default: all) until closed, as a full queue would.
type recorder struct {
	mu     sync.Mutex
	tuples map[int32][]sdk.Tuple
	acks   []router.AckOp
	eoi    [][2]int32
	block  chan struct{}
	// deliveries counts Deliver calls: one per destination of a frame.
	deliveries int
	// ackFrames counts Acks calls: one per acks frame.
	ackFrames int
	// blockBelow limits block to tasks below it (0: every task).
	blockBelow int32
}

// testWindow is the credit window of the tests' senders, in tuples.
const testWindow = 1024

func newRecorder() *recorder { return &recorder{tuples: map[int32][]sdk.Tuple{}} }

func (r *recorder) Sources() Sources {
	return func(task int32, stream string) *sdk.Source {
		if task < 1 || task > 10 {
			return nil
		}
		switch stream {
		case "default":
			return srcWords
		case "odd":
			return srcOdd
		}
		return nil
	}
}

func (r *recorder) Deliver(dest int32, b *router.Batch, c Credits) error {
	if dest >= 100 {
		return ErrTaskNotHere
	}
	r.mu.Lock()
	r.deliveries++
	for i := range b.Tuples {
		r.tuples[dest] = append(r.tuples[dest], *b.Tuples[i].Clone())
	}
	r.mu.Unlock()
	n, bytes := len(b.Tuples), b.ValueBytes
	b.Release()
	if r.block != nil && (r.blockBelow == 0 || dest < r.blockBelow) {
		// The task's queue is full: credit comes back once it drains.
		go func() {
			<-r.block
			c.Return(dest, n, bytes)
		}()
		return nil
	}
	c.Return(dest, n, bytes)
	return nil
}

func (r *recorder) Acks(ops []router.AckOp, _ AckMeta) error {
	r.mu.Lock()
	r.ackFrames++
	r.acks = append(r.acks, ops...)
	r.mu.Unlock()
	return nil
}

func (r *recorder) EndOfInput(from int32, to []int32) error {
	r.mu.Lock()
	for _, t := range to {
		r.eoi = append(r.eoi, [2]int32{from, t})
	}
	r.mu.Unlock()
	return nil
}

func (r *recorder) count(dest int32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tuples[dest])
}

type endpoint struct {
	srv  *grpc.Server
	ts   *Server
	addr string
	conn *grpc.ClientConn
}

func serve(t *testing.T, addr string, r *recorder) *endpoint {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &endpoint{srv: grpc.NewServer(ServerOptions()...), ts: NewServer(), addr: lis.Addr().String()}
	e.ts.Register("run-1", r)
	galev1.RegisterTransferServiceServer(e.srv, e.ts)
	go e.srv.Serve(lis)
	t.Cleanup(e.srv.Stop)
	return e
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func waitFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func batchOf(from, n int, src *sdk.Source, anchored bool) *router.Batch {
	b := router.NewBatch()
	for i := from; i < from+n; i++ {
		vals := []sdk.Value{sdk.String(fmt.Sprintf("w%d", i)), sdk.Int(int64(i))}
		if src == srcOdd {
			vals = vals[1:]
		}
		na := 0
		if anchored {
			na = 2
		}
		tp := b.AddTuple(src, 3, vals, na)
		for j := range tp.Anchors {
			tp.Anchors[j] = sdk.Anchor{Root: uint64(i*10 + j + 1), ID: uint64(i*100 + j)}
		}
	}
	return b
}

func TestTuplesAcksAndMarkersCrossTheStream(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	const batches, per = 50, 128
	for i := 0; i < batches; i++ {
		b := batchOf(i*per, per, srcWords, true)
		if err := s.SendTuples(int32(1+i%2), b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	odd := batchOf(0, 3, srcOdd, false)
	if err := s.SendTuples(5, odd); err != nil {
		t.Fatal(err)
	}
	odd.Release()
	ops := []router.AckOp{{Kind: router.AckInit, Root: 7, Value: 9, Task: 2}, {Kind: router.AckCompleted, Root: 8, Task: 1}}
	if err := s.SendAcks(ops, AckMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SendEndOfInput(3, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.eoi) != 2 || len(r.acks) != 2 {
			return fmt.Errorf("%d markers, %d acks", len(r.eoi), len(r.acks))
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for dest := int32(1); dest <= 2; dest++ {
		ts := r.tuples[dest]
		if len(ts) != batches*per/2 {
			t.Fatalf("task %d got %d tuples", dest, len(ts))
		}
		for k, tp := range ts {
			i := (k/per)*2*per + int(dest-1)*per + k%per // order kept per destination
			if tp.Str(0) != fmt.Sprintf("w%d", i) || tp.Int(1) != int64(i) || tp.Source != srcWords || tp.SourceTask != 3 {
				t.Fatalf("task %d tuple %d = %v %v from %d", dest, k, tp.Values, tp.Source.Stream, tp.SourceTask)
			}
			if len(tp.Anchors) != 2 || tp.Anchors[1] != (sdk.Anchor{Root: uint64(i*10 + 2), ID: uint64(i*100 + 1)}) {
				t.Fatalf("anchors %v", tp.Anchors)
			}
		}
	}
	if o := r.tuples[5]; len(o) != 3 || o[2].Source != srcOdd || o[2].Int(0) != 2 {
		t.Fatalf("odd stream: %v", o)
	}
	if r.acks[0] != ops[0] || r.acks[1] != ops[1] {
		t.Fatalf("acks %v", r.acks)
	}
	if r.eoi[0] != [2]int32{3, 1} || r.eoi[1] != [2]int32{3, 2} {
		t.Fatalf("markers %v", r.eoi)
	}
}

func TestTuplesForMovedTasksComeBackAsRejected(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	moved := make(chan *galev1.TaskMoved, 1)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, func(m *galev1.TaskMoved) { moved <- m })
	defer s.Close()
	b := batchOf(0, 4, srcWords, true)
	defer b.Release()
	if err := s.SendTuples(100, b); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-moved:
		if len(m.GetTasks()) != 1 || m.GetTasks()[0] != 100 || len(m.GetRoots()) != 8 {
			t.Fatalf("rejected %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no TaskMoved answer")
	}
}

func TestSenderReportsADeadNodeAndReconnects(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	b := batchOf(0, 10, srcWords, false)
	defer b.Release()
	if err := s.SendTuples(1, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if r.count(1) != 10 {
			return errors.New("not delivered yet")
		}
		return nil
	})
	e.srv.Stop()
	// Sends fail (possibly after one buffered send) with ErrUnavailable.
	waitFor(t, 10*time.Second, func() error {
		if err := s.SendTuples(1, b); !errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("send to a stopped node = %v", err)
		}
		return nil
	})
	// The node comes back on the same address: the sender reconnects.
	serve(t, e.addr, r)
	before := r.count(1)
	waitFor(t, 10*time.Second, func() error {
		if err := s.SendTuples(1, b); err != nil {
			return err
		}
		if r.count(1) <= before {
			return errors.New("nothing delivered after the restart")
		}
		return nil
	})
}

func TestBackpressureHoldsTheSender(t *testing.T) {
	r := newRecorder()
	r.block = make(chan struct{})
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	// The receiver blocks: the sender must eventually block too (HTTP/2
	// flow control), not buffer without bound.
	sent := make(chan int, 1)
	go func() {
		n := 0
		b := batchOf(0, 128, srcWords, false)
		defer b.Release()
		for i := 0; i < 2000; i++ {
			if err := s.SendTuples(1, b); err != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	select {
	case n := <-sent:
		t.Fatalf("sent all %d batches to a receiver that reads nothing", n)
	case <-time.After(500 * time.Millisecond):
	}
	close(r.block)
	select {
	case n := <-sent:
		waitFor(t, 10*time.Second, func() error {
			if got := r.count(1); got != n*128 {
				return fmt.Errorf("delivered %d of %d", got, n*128)
			}
			return nil
		})
	case <-time.After(20 * time.Second):
		t.Fatal("sender still blocked after the receiver resumed")
	}
}

// TestAFullTaskHoldsOnlyItsOwnTuples: while one destination task gives no
// credit back (its queue is full), its senders wait, but tuples for other
// tasks, acker operations and end-of-input markers on the same stream go
// through. A receiver that stopped reading the stream held all of them.
func TestAFullTaskHoldsOnlyItsOwnTuples(t *testing.T) {
	r := newRecorder()
	r.block, r.blockBelow = make(chan struct{}), 2 // task 1 is full
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	sent := make(chan int, 1)
	go func() {
		n := 0
		b := batchOf(0, 128, srcWords, false)
		defer b.Release()
		for i := 0; i < 100; i++ {
			if err := s.SendTuples(1, b); err != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	waitFor(t, 10*time.Second, func() error {
		if got := r.count(1); got < testWindow {
			return fmt.Errorf("task 1 got %d tuples", got)
		}
		return nil
	})
	b := batchOf(0, 128, srcWords, false)
	defer b.Release()
	for i := 0; i < 50; i++ { // far more than a window: task 2 has room
		if err := s.SendTuples(2, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendAcks([]router.AckOp{{Kind: router.AckAck, Root: 3, Value: 4}}, AckMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SendEndOfInput(3, []int32{2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.tuples[2]) != 50*128 || len(r.acks) != 1 || len(r.eoi) != 1 {
			return fmt.Errorf("behind the full task: %d of %d tuples, %d acks, %d markers", len(r.tuples[2]), 50*128, len(r.acks), len(r.eoi))
		}
		return nil
	})
	select {
	case n := <-sent:
		t.Fatalf("all %d batches went to a task that gave no credit back", n)
	default:
	}
	if got := r.count(1); got > testWindow+128 {
		t.Fatalf("task 1 got %d tuples with a window of %d", got, testWindow)
	}
	close(r.block)
	select {
	case n := <-sent:
		waitFor(t, 10*time.Second, func() error {
			if got := r.count(1); got != n*128 {
				return fmt.Errorf("task 1 got %d of %d", got, n*128)
			}
			return nil
		})
	case <-time.After(20 * time.Second):
		t.Fatal("the sender to task 1 still waits after its queue drained")
	}
}

func TestBadFramesGetClearErrors(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	e.ts.RegisterWait = 100 * time.Millisecond
	conn := dial(t, e.addr)
	cases := []struct {
		name  string
		hello *galev1.TransferHello
		frame *galev1.TransferRequest
		want  string
	}{
		{"no hello", nil, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Acks{Acks: &galev1.AckBatch{}}}, "must be a hello"},
		{"unknown run", &galev1.TransferHello{TopologyId: "nope"}, nil, "not hosted"}, // after RegisterWait
		{"no credit window", &galev1.TransferHello{TopologyId: "run-1"}, nil, "credit_window"},
		{"unknown stream", &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Tuples{Tuples: &galev1.TupleBatch{Tuples: []*galev1.Tuple{{SourceTask: 3, DestTask: 1, Stream: "zzz"}}}}}, `no stream "zzz"`},
		{"wrong arity", &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Tuples{Tuples: &galev1.TupleBatch{Tuples: []*galev1.Tuple{{SourceTask: 3, DestTask: 1}}}}}, "0 values for fields"},
		{"roots without edges", &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Tuples{Tuples: &galev1.TupleBatch{Tuples: []*galev1.Tuple{{SourceTask: 3, DestTask: 5, Stream: "odd", Values: []*galev1.Value{{}}, Roots: []uint64{1}}}}}}, "1 roots but 0 edges"},
		{"ragged acks", &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Acks{Acks: &galev1.AckBatch{Kinds: []galev1.AckKind{galev1.AckKind_ACK_KIND_ACK}}}}, "differ in length"},
		{"second hello", &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Hello{Hello: &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}}}, "second Transfer hello"},
		{"bad ack kind", &galev1.TransferHello{TopologyId: "run-1", CreditWindow: 1}, &galev1.TransferRequest{Frame: &galev1.TransferRequest_Acks{Acks: &galev1.AckBatch{Kinds: []galev1.AckKind{0}, Roots: []uint64{1}, Values: []uint64{1}, Tasks: []int32{1}}}}, "has kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := galev1.NewTransferServiceClient(conn).Transfer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.hello != nil {
				st.Send(&galev1.TransferRequest{Frame: &galev1.TransferRequest_Hello{Hello: tc.hello}})
			}
			if tc.frame != nil {
				st.Send(tc.frame)
			}
			_, err = st.Recv()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("stream ended with %v, want %q", err, tc.want)
			}
		})
	}
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

func TestStreamWaitsForARunThatIsStarting(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	e.ts.Unregister("run-1")
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	b := batchOf(0, 10, srcWords, false)
	defer b.Release()
	if err := s.SendTuples(1, b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	e.ts.Register("run-1", r) // the node's part of the run starts late
	waitFor(t, 10*time.Second, func() error {
		if r.count(1) != 10 {
			return fmt.Errorf("%d of 10 delivered", r.count(1))
		}
		return nil
	})
}

// TestMarkersLostWithAStreamAreSentAgain: an end-of-input marker sent
// while the receiving node is unreachable (or lost with a broken stream)
// reaches it once it is back, without any further send: a marker lost for
// good would leave its downstream tasks waiting for ever.
func TestMarkersLostWithAStreamAreSentAgain(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	b := batchOf(0, 10, srcWords, false)
	defer b.Release()
	if err := s.SendTuples(1, b); err != nil {
		t.Fatal(err)
	}
	if err := s.SendEndOfInput(3, []int32{1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.eoi) != 1 {
			return errors.New("first marker not delivered yet")
		}
		return nil
	})
	e.srv.Stop()
	// Task 4 ends while the node is down: the send fails (or the frame is
	// lost in the dying stream).
	waitFor(t, 10*time.Second, func() error {
		if err := s.SendTuples(1, b); !errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("send to a stopped node = %v", err)
		}
		return nil
	})
	_ = s.SendEndOfInput(4, []int32{2})
	serve(t, e.addr, r) // back, on the same address; nothing more is sent
	waitFor(t, 10*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, m := range r.eoi {
			if m == [2]int32{4, 2} {
				return nil
			}
		}
		return fmt.Errorf("markers %v: task 4's is lost", r.eoi)
	})
}

// A send refused during the reconnect backoff says why the last try
// failed: "reconnecting" alone hid a refused certificate or a dead node.
func TestARefusedSendSaysWhyTheLastTryFailed(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	s := NewSender(dial(t, addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	b := batchOf(0, 3, srcWords, false)
	defer b.Release()
	first := s.SendTuples(3, b)
	if !errors.Is(first, ErrUnavailable) || !strings.Contains(first.Error(), "open Transfer stream to "+addr) {
		t.Fatalf("first send: %v, want ErrUnavailable opening the stream", first)
	}
	second := s.SendTuples(3, b) // within the backoff
	if !errors.Is(second, ErrUnavailable) || !strings.Contains(second.Error(), "reconnecting to "+addr+" (the last try: ") || !strings.Contains(second.Error(), "connection refused") {
		t.Fatalf("second send: %v, want the reconnect naming the last try's error", second)
	}
}
