package router

import (
	"math"
	"time"
	_ "unsafe" // for go:linkname nanotime
)

// Nanotime returns the runtime's monotonic clock in nanoseconds: the same
// clock as time.Now's monotonic reading, at a fraction of the cost, which
// matters when it is read once per batch on every task.
//
//go:linkname Nanotime runtime.nanotime
func Nanotime() int64

// Deliver hands a full or lingering batch to the destination task: a local
// queue push, or a network send. It may block: that is how backpressure
// reaches the emitter. It returns an error only when the destination is gone
// for good (the run is stopping); the batch is then released by Deliver.
type Deliver func(dest int32, b *Batch) error

// Outbox batches one emitting task's output per destination task, with a
// size bound (a batch is sent when it holds MaxSize items; it may differ
// by destination), a byte bound (or once its values hold MaxBytes bytes:
// Batch.ValueBytes) and a linger
// bound (a partial batch is sent once its first item is Linger old, checked
// by Flush calls the task makes between inputs and when it runs idle). Used
// by one goroutine only.
type Outbox struct {
	maxSize  []int32 // size bound by destination task id
	maxBytes int     // byte bound of every batch
	linger   int64
	deliver  Deliver
	open     []*Batch // by destination task id
	active   []int32  // destination ids with an open batch
	oldest   int64    // Born of the oldest open batch, 0 when none
	sent     uint64   // items delivered
}

// NewOutbox makes an outbox for destination task ids 1..maxTask.
func NewOutbox(maxTask int32, maxSize int, linger time.Duration, deliver Deliver) *Outbox {
	o := &Outbox{
		maxSize:  make([]int32, maxTask+1),
		maxBytes: math.MaxInt,
		linger:   int64(linger),
		deliver:  deliver,
		open:     make([]*Batch, maxTask+1),
	}
	for d := range o.maxSize {
		o.SetMaxSize(int32(d), maxSize)
	}
	return o
}

// SetMaxSize sets the size bound of dest's batches (at least 1; at most
// 2^31-1). A batch already open is sent once it reaches the new bound.
func (o *Outbox) SetMaxSize(dest int32, n int) {
	o.maxSize[dest] = int32(min(max(n, 1), math.MaxInt32))
}

// SetMaxBytes sets the byte bound of every batch (at least 1; none until
// set): a batch is sent once its values hold n bytes, however few tuples
// it has.
func (o *Outbox) SetMaxBytes(n int) { o.maxBytes = max(n, 1) }

// Batch returns the open batch for dest, opening one if needed. The caller
// adds one item and then calls Added.
func (o *Outbox) Batch(dest int32, now int64) *Batch {
	b := o.open[dest]
	if b == nil {
		b = NewBatch()
		b.Born = now
		o.open[dest] = b
		o.active = append(o.active, dest)
		if o.oldest == 0 || now < o.oldest {
			o.oldest = now
		}
	}
	return b
}

// Added sends dest's batch if it reached the size or the byte bound.
func (o *Outbox) Added(dest int32) error {
	b := o.open[dest]
	if b.Len() < int(o.maxSize[dest]) && b.ValueBytes < o.maxBytes {
		return nil
	}
	return o.send(dest)
}

func (o *Outbox) send(dest int32) error {
	b := o.open[dest]
	o.open[dest] = nil
	for i, d := range o.active {
		if d == dest {
			last := len(o.active) - 1
			o.active[i] = o.active[last]
			o.active = o.active[:last]
			break
		}
	}
	o.sent += uint64(b.Len())
	o.recomputeOldest()
	return o.deliver(dest, b)
}

func (o *Outbox) recomputeOldest() {
	o.oldest = 0
	for _, d := range o.active {
		if born := o.open[d].Born; o.oldest == 0 || born < o.oldest {
			o.oldest = born
		}
	}
}

// Pending reports whether any batch is open.
func (o *Outbox) Pending() bool { return len(o.active) > 0 }

// NextDeadline returns when the oldest open batch reaches the linger bound,
// or 0 when nothing is open.
func (o *Outbox) NextDeadline() int64 {
	if o.oldest == 0 {
		return 0
	}
	return o.oldest + o.linger
}

// Flush sends every open batch that has lingered for the linger bound by
// now. Cheap when nothing is due.
func (o *Outbox) Flush(now int64) error {
	if o.oldest == 0 || now-o.oldest < o.linger {
		return nil
	}
	var first error
	for i := 0; i < len(o.active); {
		d := o.active[i]
		if now-o.open[d].Born >= o.linger {
			if err := o.send(d); err != nil && first == nil {
				first = err
			}
			continue // send swapped another destination into slot i
		}
		i++
	}
	return first
}

// FlushFull sends every open batch holding at least n items.
func (o *Outbox) FlushFull(n int) error {
	var first error
	for i := 0; i < len(o.active); {
		d := o.active[i]
		if o.open[d].Len() >= n {
			if err := o.send(d); err != nil && first == nil {
				first = err
			}
			continue
		}
		i++
	}
	return first
}

// FlushAll sends every open batch.
func (o *Outbox) FlushAll() error {
	var first error
	for len(o.active) > 0 {
		if err := o.send(o.active[len(o.active)-1]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Sent returns the number of items delivered so far.
func (o *Outbox) Sent() uint64 { return o.sent }
