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
// Taking and giving are an atomic add each while the budget has room, so
// a queue of small tuples pays next to nothing for the bound.
type ByteBudget struct {
	limit   int64
	held    atomic.Int64
	waiters atomic.Int32

	mu    sync.Mutex
	freed chan struct{} // closed and replaced by Give when someone waits
}

// NewByteBudget returns a budget of limit bytes (at least 1).
func NewByteBudget(limit int64) *ByteBudget {
	return &ByteBudget{limit: max(limit, 1), freed: make(chan struct{})}
}

// Limit returns the budget's bound.
func (b *ByteBudget) Limit() int64 { return b.limit }

// Held returns the bytes taken and not yet given back: a snapshot.
func (b *ByteBudget) Held() int64 { return b.held.Load() }

// TryTake takes n bytes if they fit (or nothing is held) and reports
// whether it did. Zero bytes always fit.
func (b *ByteBudget) TryTake(n int64) bool {
	if n <= 0 {
		return true
	}
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

// Take takes n bytes, waiting while they do not fit. It returns nil once
// they are taken, ctx's error if ctx ends first, or ErrClosed if closed is
// closed first (closed may be nil).
func (b *ByteBudget) Take(ctx context.Context, n int64, closed <-chan struct{}) error {
	if b.TryTake(n) {
		return nil
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	for {
		// Read the channel before trying again: a Give between the try
		// and the wait closes this channel, so no wake-up is lost.
		b.mu.Lock()
		freed := b.freed
		b.mu.Unlock()
		if b.TryTake(n) {
			return nil
		}
		select {
		case <-freed:
		case <-closed:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Give gives back n bytes taken before.
func (b *ByteBudget) Give(n int64) {
	if n <= 0 {
		return
	}
	b.held.Add(-n)
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		close(b.freed)
		b.freed = make(chan struct{})
		b.mu.Unlock()
	}
}
