package transfer

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"

	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// senderTo starts a recording server and a sender to it with the given
// credit window.
func senderTo(t *testing.T, window int64) (*recorder, *Sender) {
	t.Helper()
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: window}, nil)
	t.Cleanup(func() { s.Close() })
	return r, s
}

// within runs f and fails the test with stalled if it does not return
// within d, or with its error.
func within(t *testing.T, d time.Duration, stalled string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatal(stalled)
	}
}

// bigBatch returns a batch of n tuples whose first value is size bytes
// (the tuple's number, then padding) and second is the number.
func bigBatch(n, size int) *router.Batch {
	b := router.NewBatch()
	pad := strings.Repeat("x", size)
	for i := range n {
		word := fmt.Sprintf("%08d", i) + pad[8:]
		tp := b.AddTuple(srcWords, 3, []sdk.Value{sdk.String(word), sdk.Int(int64(i))}, 1)
		tp.Anchors[0] = sdk.Anchor{Root: uint64(i + 1), ID: uint64(i + 7)}
	}
	return b
}

// TestLargeTuplesGoInSeveralFrames: a batch whose frame would be 6 MB
// (over gRPC's default 4 MiB limit, which used to end the stream and lose
// the batch for ever) arrives whole and in order, in frames of about
// splitFrameBytes.
func TestLargeTuplesGoInSeveralFrames(t *testing.T) {
	r, s := senderTo(t, testWindow)
	const n, size = 300, 20000
	b := bigBatch(n, size)
	if err := s.SendTuples(1, b); err != nil {
		t.Fatal(err)
	}
	b.Release()
	small := batchOf(0, 10, srcWords, false) // the stream still works
	if err := s.SendTuples(2, small); err != nil {
		t.Fatal(err)
	}
	small.Release()
	// One tuple over gRPC's default limit goes as a frame of its own,
	// which the node's server accepts (MaxMessageBytes).
	huge := bigBatch(1, 5<<20)
	if err := s.SendTuples(3, huge); err != nil {
		t.Fatal(err)
	}
	huge.Release()
	waitFor(t, 10*time.Second, func() error {
		if got := r.count(1) + r.count(2) + r.count(3); got != n+11 {
			return fmt.Errorf("%d tuples arrived, want %d", got, n+11)
		}
		return nil
	})
	if got := len(r.tuples[3][0].Str(0)); got != 5<<20 {
		t.Errorf("the 5 MiB tuple arrived with %d bytes", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, tp := range r.tuples[1] {
		if !strings.HasPrefix(tp.Str(0), fmt.Sprintf("%08d", i)) || len(tp.Str(0)) != size || tp.Int(1) != int64(i) || tp.Anchors[0].Root != uint64(i+1) {
			t.Fatalf("tuple %d: %d bytes, n=%d, anchors %v", i, len(tp.Str(0)), tp.Int(1), tp.Anchors)
		}
	}
	// 6 MB in frames of at most 1 MiB, plus the small and the huge one.
	if min := n*size/splitFrameBytes + 1; r.deliveries < min+2 {
		t.Errorf("%d frames, want at least %d", r.deliveries, min+2)
	}
}

// TestATupleTooLargeIsNamedAndItsCreditReturned: a tuple over
// MaxTupleBytes is not sent; the error names it, the batch's other tuples
// arrive, and its credit comes back (with a window of one tuple, a
// leaked credit would stop the next send for ever).
func TestATupleTooLargeIsNamedAndItsCreditReturned(t *testing.T) {
	r, s := senderTo(t, 1)
	b := router.NewBatch()
	b.AddTuple(srcWords, 3, []sdk.Value{sdk.String("before"), sdk.Int(0)}, 0)
	b.AddTuple(srcWords, 3, []sdk.Value{sdk.Bytes(make([]byte, MaxTupleBytes)), sdk.Int(1)}, 0)
	b.AddTuple(srcWords, 3, []sdk.Value{sdk.String("after"), sdk.Int(2)}, 0)
	err := s.SendTuples(1, b)
	b.Release()
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || !errors.Is(err, ErrTupleTooLarge) {
		t.Fatalf("err = %v, want a TooLargeError", err)
	}
	if len(tooLarge.Index) != 1 || tooLarge.Index[0] != 1 || tooLarge.Bytes[0] <= MaxTupleBytes {
		t.Fatalf("too large: %+v", tooLarge)
	}
	if msg := err.Error(); !strings.Contains(msg, "#1 in its batch") || !strings.Contains(msg, fmt.Sprint(MaxTupleBytes)) {
		t.Errorf("message %q does not say which tuple and what limit", msg)
	}
	within(t, 10*time.Second, "sending after the skipped tuple stalled: its credit was not returned", func() error {
		next := batchOf(3, 1, srcWords, false)
		defer next.Release()
		for range 20 { // each waits for the credit of the one before
			if err := s.SendTuples(1, next); err != nil {
				return err
			}
		}
		return nil
	})
	waitFor(t, 10*time.Second, func() error {
		if got := r.count(1); got != 22 {
			return fmt.Errorf("%d tuples arrived, want 22", got)
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := r.tuples[1]; got[0].Str(0) != "before" || got[1].Str(0) != "after" {
		t.Fatalf("first tuples %q, %q", got[0].Str(0), got[1].Str(0))
	}
}

// TestAHugeAckBatchGoesInSeveralFrames: an acker handing over 200,000
// trees at once (4 MB of operations) arrives whole and in order, in
// frames of at most maxAcksPerFrame operations.
func TestAHugeAckBatchGoesInSeveralFrames(t *testing.T) {
	r, s := senderTo(t, testWindow)
	ops := make([]router.AckOp, 200000)
	for i := range ops {
		ops[i] = router.AckOp{Kind: router.AckInit, Root: uint64(i) * 0x9e3779b97f4a7c15, Value: uint64(i), Task: int32(i % 7)}
	}
	if err := s.SendAcks(ops, AckMeta{Forwarded: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.acks) != len(ops) {
			return fmt.Errorf("%d operations arrived", len(r.acks))
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range ops {
		if r.acks[i] != ops[i] {
			t.Fatalf("operation %d = %+v, want %+v", i, r.acks[i], ops[i])
		}
	}
	if want := (len(ops) + maxAcksPerFrame - 1) / maxAcksPerFrame; r.ackFrames != want {
		t.Errorf("%d acks frames, want %d", r.ackFrames, want)
	}
}

// TestSendsThatFailFastGiveTheirCreditBack: while a sender waits to
// reconnect, its sends fail at once; the credit they took comes back, or
// a window's worth of them would leave the task blocked for ever, even
// once the stream is open again.
func TestSendsThatFailFastGiveTheirCreditBack(t *testing.T) {
	const window = 4
	_, s := senderTo(t, window)
	first := batchOf(0, 1, srcWords, false)
	if err := s.SendTuples(1, first); err != nil {
		t.Fatal(err)
	}
	first.Release()
	s.mu.Lock()
	s.fail() // as a broken stream does: the sender backs off
	s.mu.Unlock()
	for i := range window {
		b := batchOf(i, 1, srcWords, false)
		if err := s.SendTuples(1, b); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("send %d during the backoff: %v, want ErrUnavailable", i, err)
		}
		b.Release()
	}
	within(t, 10*time.Second, "the send after the backoff waited for credit that the failed sends took", func() error {
		b := batchOf(100, 1, srcWords, false)
		defer b.Release()
		var err error
		for range 100 { // until the backoff is over
			if err = s.SendTuples(1, b); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return err
	})
}

// TestTheByteWindowHoldsTheSender: with a window of many tuples but 3 MiB,
// a receiver that gives no credit back gets three batches of 1 MiB values
// and no fourth; once it grants them back, the rest go out. Counted in
// tuples alone, this window let 32,768 tuples of any size through.
func TestTheByteWindowHoldsTheSender(t *testing.T) {
	r := newRecorder()
	r.block = make(chan struct{})
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: 1 << 20, Bytes: 3 << 20}, nil)
	defer s.Close()
	const batches = 6
	sent := make(chan int, batches)
	go func() {
		b := bigBatch(1, 1<<20)
		defer b.Release()
		for i := 0; i < batches; i++ {
			if err := s.SendTuples(1, b); err != nil {
				return
			}
			sent <- i + 1
		}
	}()
	waitFor(t, 10*time.Second, func() error {
		if got := r.count(1); got < 3 {
			return fmt.Errorf("delivered %d batches of 1 MiB, want 3 before the window is spent", got)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // a fourth would be on its way by now
	if got := r.count(1); got != 3 {
		t.Fatalf("delivered %d batches of 1 MiB with a window of 3 MiB and no credit back", got)
	}
	close(r.block)
	waitFor(t, 10*time.Second, func() error {
		if got := r.count(1); got != batches {
			return fmt.Errorf("delivered %d of %d after credit came back", got, batches)
		}
		return nil
	})
}

// tuplesOnlyReceiver stands in for a node from before byte windows: it
// grants tuples back every grantEvery tuples, never bytes, and never
// announces Credit.counts_bytes.
type tuplesOnlyReceiver struct {
	galev1.UnimplementedTransferServiceServer
	grantEvery int64
	got        atomic.Int64
}

func (o *tuplesOnlyReceiver) Transfer(stream galev1.TransferService_TransferServer) error {
	if _, err := stream.Recv(); err != nil { // the hello
		return err
	}
	var c packedColumns
	var pending int64
	for {
		f := &galev1.TransferFrame{}
		if err := stream.RecvMsg(f); err != nil {
			return nil
		}
		if f.Packed == nil {
			continue
		}
		if err := c.parse(f.Packed); err != nil {
			return err
		}
		n := int64(len(c.sourceTasks))
		o.got.Add(n)
		if pending += n; pending >= o.grantEvery {
			if err := stream.Send(&galev1.TransferResponse{Frame: &galev1.TransferResponse_Credit{Credit: &galev1.Credit{Tasks: []int32{1}, TaskTuples: []int64{pending}}}}); err != nil {
				return err
			}
			pending = 0
		}
	}
}

// TestAReceiverThatGrantsNoBytesDoesNotStallTheSender: a sender with a
// byte window, sending to a node from before byte windows (which grants
// tuples only, and does not announce Credit.counts_bytes), waits on
// tuples only: all ten batches of 1 MiB arrive though the byte window is
// 3 MiB. Counting the bytes against such a receiver stalled it after
// three for ever.
func TestAReceiverThatGrantsNoBytesDoesNotStallTheSender(t *testing.T) {
	old := &tuplesOnlyReceiver{grantEvery: 4}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	galev1.RegisterTransferServiceServer(srv, old)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	s := NewSender(dial(t, lis.Addr().String()), "a", "run-1", Window{Tuples: 8, Bytes: 3 << 20}, nil)
	defer s.Close()
	const batches = 10
	b := bigBatch(1, 1<<20)
	defer b.Release()
	within(t, 20*time.Second, "the sender stalled on bytes a receiver never grants", func() error {
		for i := 0; i < batches; i++ {
			if err := s.SendTuples(1, b); err != nil {
				return err
			}
		}
		return nil
	})
	waitFor(t, 10*time.Second, func() error {
		if got := old.got.Load(); got != batches {
			return fmt.Errorf("received %d of %d", got, batches)
		}
		return nil
	})
}
