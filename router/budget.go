package router

import (
	"context"
	"sync"
	"sync/atomic"
)

// ByteBudget bounds the bytes held by a queue whose other bound counts
// items: a queue of 64 batches of 128 tuples holds 8,192 tuples, a few
// hundred kilobytes of words but 8 GiB of 1 MiB images. Producers Take
// a batch's bytes before they push it, waiting while the budget is spent;
// the consumer Gives them back when it takes the batch out.
//
// One batch is always let in when nothing is held, however large, so
// that a batch over the whole budget still moves (alone) instead of
// waiting for ever: what is held stays under the limit plus one batch.
//
// Waiting is first come, first served: once a producer waits, later ones
// queue behind it, so a large batch that needs the budget nearly empty is
// not starved by a stream of small ones that would each still fit.
// While nobody waits, taking and giving are an atomic add each, so a
// queue of small tuples pays next to nothing for the bound.
type ByteBudget struct {
	limit   int64
	held    atomic.Int64
	waiting atomic.Int32 // len(queue), readable without mu

	mu    sync.Mutex
	queue []*budgetWaiter // in arrival order
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once its bytes are taken for it
}

// NewByteBudget returns a budget of limit bytes (at least 1).
func NewByteBudget(limit int64) *ByteBudget {
	return &ByteBudget{limit: max(limit, 1)}
}

// Limit returns the budget's bound.
func (b *ByteBudget) Limit() int64 { return b.limit }

// Held returns the bytes taken and not yet given back: a snapshot.
func (b *ByteBudget) Held() int64 { return b.held.Load() }

// TryTake takes n bytes if they fit (or nothing is held) and nobody is
// waiting before, and reports whether it did. Zero bytes always fit.
func (b *ByteBudget) TryTake(n int64) bool {
	if n <= 0 {
		return true
	}
	return b.waiting.Load() == 0 && b.add(n)
}

// add takes n bytes if they fit.
func (b *ByteBudget) add(n int64) bool {
	for {
		h := b.held.Load()
		if h > 0 && h+n > b.limit {
			return false
		}
		if b.held.CompareAndSwap(h, h+n) {
			return true
		}
	}
}

// Take takes n bytes, waiting (in turn) while they do not fit. It returns
// nil once they are taken, ctx's error if ctx ends first, or ErrClosed if
// closed is closed first (closed may be nil); nothing is taken then.
func (b *ByteBudget) Take(ctx context.Context, n int64, closed <-chan struct{}) error {
	if b.TryTake(n) {
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	// Count the waiter before looking at what is held: a Give that
	// lowered it before this sees no waiter, and this sees its bytes.
	b.waiting.Add(1)
	b.admitLocked()
	b.mu.Unlock()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-closed:
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Admitted meanwhile: the caller will not push, so give back.
		b.mu.Unlock()
		b.Give(n)
		return err
	default:
	}
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			b.waiting.Add(-1)
			break
		}
	}
	b.admitLocked() // the next in line may fit now
	b.mu.Unlock()
	return err
}

// Give gives back n bytes taken before, and admits waiters whose turn has
// come.
func (b *ByteBudget) Give(n int64) {
	if n <= 0 {
		return
	}
	b.held.Add(-n)
	if b.waiting.Load() > 0 {
		b.mu.Lock()
		b.admitLocked()
		b.mu.Unlock()
	}
}

// admitLocked takes the bytes of the waiters at the head of the queue
// that fit, in order; called with mu held.
func (b *ByteBudget) admitLocked() {
	for len(b.queue) > 0 && b.add(b.queue[0].n) {
		close(b.queue[0].ready)
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.waiting.Add(-1)
	}
	if len(b.queue) == 0 {
		b.queue = nil // let a burst's backing array go
	}
}
