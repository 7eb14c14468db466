package router

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestQueueFIFO(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := NewQueue[int](4)
	if q.Cap() != 4 || q.Len() != 0 {
		t.Fatalf("Cap %d Len %d, want 4 0", q.Cap(), q.Len())
	}
	for i := range 4 {
		if err := q.Push(context.Background(), i); err != nil {
			t.Fatalf("Push(%d): %v", i, err)
		}
	}
	if q.Len() != 4 {
		t.Fatalf("Len %d, want 4", q.Len())
	}
	for i := range 4 {
		if got := <-q.C(); got != i {
			t.Fatalf("received %d, want %d", got, i)
		}
	}
}

func TestQueueTryPushFull(t *testing.T) {
	q := NewQueue[string](2)
	for _, v := range []string{"a", "b"} {
		if err := q.TryPush(v); err != nil {
			t.Fatalf("TryPush(%q): %v", v, err)
		}
	}
	if err := q.TryPush("c"); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPush on a full queue: %v, want ErrFull", err)
	}
	<-q.C()
	if err := q.TryPush("c"); err != nil {
		t.Fatalf("TryPush after a receive: %v", err)
	}
}

// TestQueuePushBlocksUntilRoom: Push on a full queue waits for a consumer.
func TestQueuePushBlocksUntilRoom(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := NewQueue[int](1)
	if err := q.TryPush(1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Push(context.Background(), 2) }()
	select {
	case err := <-done:
		t.Fatalf("Push on a full queue returned %v without waiting", err)
	case <-time.After(20 * time.Millisecond):
		// Still blocked, as it should be. (A wait that proves a negative
		// cannot poll; a short one only weakens the test, never flakes it.)
	}
	if got := <-q.C(); got != 1 {
		t.Fatalf("received %d, want 1", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Push: %v", err)
	}
	if got := <-q.C(); got != 2 {
		t.Fatalf("received %d, want 2", got)
	}
}

func TestQueuePushContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := NewQueue[int](1)
	if err := q.Push(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := q.Push(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Push past the deadline: %v, want context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := q.Push(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Push with a cancelled context on a full queue: %v, want context.Canceled", err)
	}
	// With room, the value goes in even though ctx has ended.
	<-q.C()
	if err := q.Push(ctx, 3); err != nil {
		t.Fatalf("Push with room and a cancelled context: %v, want nil", err)
	}
}

func TestQueueClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := NewQueue[int](4)
	for i := range 3 {
		if err := q.TryPush(i); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	q.Close() // idempotent
	if err := q.Push(context.Background(), 9); !errors.Is(err, ErrClosed) {
		t.Errorf("Push after Close: %v, want ErrClosed", err)
	}
	if err := q.TryPush(9); !errors.Is(err, ErrClosed) {
		t.Errorf("TryPush after Close: %v, want ErrClosed", err)
	}
	// The consumer drains what was queued, then sees the channel closed.
	var got []int
	for v := range q.C() {
		got = append(got, v)
	}
	if len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Errorf("drained %v, want [0 1 2]", got)
	}
}

// TestQueueCloseWakesBlockedPush: a Push waiting on a full queue with no
// consumer returns ErrClosed when the queue closes, instead of hanging
// (and Close does not hang waiting for it).
func TestQueueCloseWakesBlockedPush(t *testing.T) {
	defer goleak.VerifyNone(t)
	q := NewQueue[int](1)
	if err := q.TryPush(0); err != nil {
		t.Fatal(err)
	}
	const pushers = 8
	errs := make(chan error, pushers)
	var started sync.WaitGroup
	started.Add(pushers)
	for i := range pushers {
		go func() {
			started.Done()
			errs <- q.Push(context.Background(), i+1)
		}()
	}
	started.Wait()
	q.Close()
	for range pushers {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("blocked Push after Close: %v, want ErrClosed", err)
		}
	}
	if v, ok := <-q.C(); !ok || v != 0 {
		t.Errorf("first receive %d, %v; want 0, true", v, ok)
	}
	if _, ok := <-q.C(); ok {
		t.Error("channel still open after draining")
	}
}

// TestQueueCloseRace races producers (Push and TryPush) against Close and
// a draining consumer: nothing panics (no send on a closed channel), every
// push that reported success is received exactly once, and every other
// push reports ErrClosed or ErrFull. Run with -race.
func TestQueueCloseRace(t *testing.T) {
	defer goleak.VerifyNone(t)
	for round := range 50 {
		q := NewQueue[int](4)
		var ok, closed, full atomic.Int64
		var wg sync.WaitGroup
		for p := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					var err error
					if (p+i)%2 == 0 {
						err = q.Push(context.Background(), 1)
					} else {
						err = q.TryPush(1)
					}
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, ErrClosed):
						closed.Add(1)
					case errors.Is(err, ErrFull):
						full.Add(1)
					default:
						t.Errorf("push: unexpected error %v", err)
					}
				}
			}()
		}
		received := make(chan int64)
		go func() {
			var n int64
			for v := range q.C() {
				n += int64(v)
			}
			received <- n
		}()
		closers := round%3 + 1
		for range closers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(round%5) * 50 * time.Microsecond)
				q.Close()
			}()
		}
		wg.Wait()
		if got := <-received; got != ok.Load() {
			t.Fatalf("round %d: received %d values, %d pushes succeeded", round, got, ok.Load())
		}
		if total := ok.Load() + closed.Load() + full.Load(); total != 6*200 {
			t.Fatalf("round %d: %d outcomes for %d pushes", round, total, 6*200)
		}
	}
}

func TestNewQueuePanicsOnZeroCapacity(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewQueue(0) did not panic")
		}
	}()
	NewQueue[int](0)
}

// BenchmarkQueue measures a Push and a receive through the queue against a
// plain buffered channel in the same run, to show what the close protocol
// costs.
func BenchmarkQueue(b *testing.B) {
	ch := make(chan int, 128)
	start := time.Now()
	for i := range b.N {
		ch <- i
		<-ch
	}
	baseline := time.Since(start)
	q := NewQueue[int](128)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := q.Push(ctx, i); err != nil {
			b.Fatal(err)
		}
		<-q.C()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(baseline), "x-chan")
}
