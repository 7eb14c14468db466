package router

import (
	"context"
	"sync"
)

// Queue is a bounded FIFO between goroutines, such as the input queue of
// a task executor. Backpressure is explicit: Push blocks while the queue
// is full and TryPush returns ErrFull, so a slow consumer slows its
// producers (and in the end the spouts) instead of growing memory or
// dropping tuples.
//
// Queue is a buffered channel plus a close protocol: any number of
// goroutines may Push, TryPush and Close concurrently, and consumers
// receive from C(), typically in a select loop. Close never races with a
// send: sends run under a read lock after checking that the queue is
// open, and Close closes the channel under the write lock, after it has
// woken every blocked Push.
//
// Queue holds values by copy; queue pointers or recycled batches to keep
// the per-item cost to one channel operation.
type Queue[T any] struct {
	ch chan T

	// done is closed first by Close, to wake the Pushes blocked on a
	// full channel: they hold the read lock that Close needs.
	done      chan struct{}
	closeOnce sync.Once

	mu     sync.RWMutex // read: sending on ch; write: closing ch
	closed bool         // guarded by mu
}

// NewQueue returns an open queue that holds up to capacity values. It
// panics if capacity < 1, as make does for a negative size: a queue that
// holds nothing turns every push into a rendezvous, which is never what a
// caller sizing a queue meant.
func NewQueue[T any](capacity int) *Queue[T] {
	if capacity < 1 {
		panic("router: NewQueue with capacity < 1")
	}
	return &Queue[T]{ch: make(chan T, capacity), done: make(chan struct{})}
}

// Push adds v to the queue, waiting while the queue is full. It returns
// nil once v is queued, ErrClosed if the queue is or gets closed first, or
// ctx's error if ctx ends first. ctx is only consulted while Push waits: if
// there is room, v is queued even when ctx has ended.
func (q *Queue[T]) Push(ctx context.Context, v T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	// Fast path without the three-way select, for the common case of a
	// queue with room.
	select {
	case q.ch <- v:
		return nil
	default:
	}
	select {
	case q.ch <- v:
		return nil
	case <-q.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TryPush adds v to the queue if it has room, without waiting. It returns
// ErrFull if the queue is full and ErrClosed if it is closed.
func (q *Queue[T]) TryPush(v T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.ch <- v:
		return nil
	default:
		return ErrFull
	}
}

// C returns the channel consumers receive from. It is closed by Close once
// no Push can send any more, so a consumer that ranges over it gets every
// queued value and then ends.
func (q *Queue[T]) C() <-chan T { return q.ch }

// Closed returns a channel that is closed once Close starts: a producer
// waiting on something else before it pushes (a ByteBudget) gives up then.
func (q *Queue[T]) Closed() <-chan struct{} { return q.done }

// Len returns the number of queued values; a snapshot, for metrics and
// heuristics (such as flushing when the input runs dry).
func (q *Queue[T]) Len() int { return len(q.ch) }

// Cap returns the capacity the queue was made with.
func (q *Queue[T]) Cap() int { return cap(q.ch) }

// Close closes the queue: Push and TryPush return ErrClosed from then on
// (a Push blocked on a full queue returns ErrClosed at once), and once
// consumers have received the values left in the queue, C() reports
// closed. Close is safe to call more than once and from any goroutine.
func (q *Queue[T]) Close() {
	// Wake the blocked Pushes first: they hold read locks, and Lock would
	// wait for them forever if no consumer makes room.
	q.closeOnce.Do(func() { close(q.done) })
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
