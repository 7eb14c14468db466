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

func TestByteBudgetTryTake(t *testing.T) {
	cases := []struct {
		name  string
		held  int64 // taken first
		take  int64
		fits  bool
		after int64
	}{
		{"into an empty budget", 0, 60, true, 60},
		{"up to the limit", 40, 60, true, 100},
		{"over the limit", 41, 60, false, 41},
		{"larger than the limit, nothing held", 0, 500, true, 500},
		{"larger than the limit, something held", 1, 500, false, 1},
		{"zero bytes while over the limit", 500, 0, true, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewByteBudget(100)
			if tc.held > 0 && !b.TryTake(tc.held) {
				t.Fatalf("could not take %d first", tc.held)
			}
			if got := b.TryTake(tc.take); got != tc.fits {
				t.Errorf("TryTake(%d) with %d held = %v, want %v", tc.take, tc.held, got, tc.fits)
			}
			if got := b.Held(); got != tc.after {
				t.Errorf("held %d, want %d", got, tc.after)
			}
		})
	}
}

func TestByteBudgetTakeWaitsForGive(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := NewByteBudget(100)
	b.TryTake(80)
	done := make(chan error, 1)
	go func() { done <- b.Take(context.Background(), 50, nil) }()
	select {
	case err := <-done:
		t.Fatalf("Take of 50 with 80 of 100 held returned %v without waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.Give(30) // 50 held: 50 more fit
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Take still waits after Give made room")
	}
	if got := b.Held(); got != 100 {
		t.Errorf("held %d, want 100", got)
	}
}

func TestByteBudgetTakeGivesUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := NewByteBudget(10)
	b.TryTake(10)
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan struct{})
	errs := make(chan error, 2)
	go func() { errs <- b.Take(ctx, 5, nil) }()
	go func() { errs <- b.Take(context.Background(), 5, closed) }()
	cancel()
	close(closed)
	got := []error{<-errs, <-errs}
	var canceled, isClosed bool
	for _, err := range got {
		canceled = canceled || errors.Is(err, context.Canceled)
		isClosed = isClosed || errors.Is(err, ErrClosed)
	}
	if !canceled || !isClosed {
		t.Errorf("Take errors %v, want context.Canceled and ErrClosed", got)
	}
	if b.Held() != 10 {
		t.Errorf("held %d after two failed takes, want 10", b.Held())
	}
}

// TestByteBudgetBoundsConcurrentTakers: producers take and a consumer
// gives back, concurrently; what is held never exceeds the limit (every
// item is smaller), and everything taken is given back (no lost wake-up
// stalls it).
func TestByteBudgetBoundsConcurrentTakers(t *testing.T) {
	defer goleak.VerifyNone(t)
	const limit, item, producers, each = 1000, 300, 4, 2000
	b := NewByteBudget(limit)
	q := make(chan int64, 64)
	var peak atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := int64(1 + (i*37+p)%item)
				if err := b.Take(context.Background(), n, nil); err != nil {
					t.Error(err)
					return
				}
				for h := b.Held(); h > peak.Load(); h = b.Held() {
					peak.Store(h)
				}
				q <- n
			}
		}()
	}
	go func() { wg.Wait(); close(q) }()
	taken := 0
	for n := range q {
		b.Give(n)
		taken++
	}
	if taken != producers*each {
		t.Fatalf("consumed %d items, want %d", taken, producers*each)
	}
	if b.Held() != 0 {
		t.Errorf("held %d at the end, want 0", b.Held())
	}
	if p := peak.Load(); p > limit {
		t.Errorf("held up to %d, want at most %d", p, limit)
	}
}

// TestByteBudgetLargeTakeIsNotStarved: producers of small items keep a
// budget busy; a take of more than the whole budget, which gets in only
// when nothing is held, still gets its turn, because later takers queue
// behind it. (Without the queue it waited for ever: the small takes kept
// what is held above zero.)
func TestByteBudgetLargeTakeIsNotStarved(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := NewByteBudget(100)
	q := make(chan int64, 1024)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := b.Take(context.Background(), 10, stop); err != nil {
					return
				}
				select {
				case q <- 10:
				case <-stop:
					b.Give(10)
					return
				}
			}
		}()
	}
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for {
			select {
			case n := <-q:
				time.Sleep(50 * time.Microsecond)
				b.Give(n)
			case <-stop:
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond) // the small producers are going
	done := make(chan error, 1)
	go func() { done <- b.Take(context.Background(), 150, nil) }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a take larger than the budget waited 10 s behind small ones")
		b.Give(1 << 40) // let it in, so that it ends
		<-done
	}
	close(stop)
	wg.Wait()
	<-consumerDone
}

// TestByteBudgetCanceledWaiterLetsTheNextIn: a waiter at the head of the
// line that gives up does not hold up the one behind it.
func TestByteBudgetCanceledWaiterLetsTheNextIn(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := NewByteBudget(100)
	b.TryTake(60)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- b.Take(ctx, 90, nil) }() // needs 30 given back
	waitForWaiters(t, b, 1)
	second := make(chan error, 1)
	go func() { second <- b.Take(context.Background(), 40, nil) }() // fits, but is behind
	waitForWaiters(t, b, 2)
	select {
	case err := <-second:
		t.Fatalf("the second take (%v) went before the first", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first take: %v, want context.Canceled", err)
	}
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second take still waits after the first gave up")
	}
	if got := b.Held(); got != 100 {
		t.Errorf("held %d, want 100", got)
	}
}

// waitForWaiters polls until n takers wait.
func waitForWaiters(t *testing.T, b *ByteBudget, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.waiting.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d takers wait, want %d", b.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
