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
// by Flush calls the task makes between inputs and when it runs idle).
// Destinations given a frame gap (SetFrameGap: tasks on other nodes, where
// each batch is a network frame) get partial batches at most once a gap.
// Used by one goroutine only.
type Outbox struct {
	maxSize  []int32 // size bound by destination task id
	maxBytes int     // byte bound of every batch
	linger   int64
	deliver  Deliver
	open     []*Batch // by destination task id
	active   []int32  // destination ids with an open batch
	due      int64    // when the first open batch is due (dueAt), 0 when none
	sent     uint64   // items delivered
	// Frame gaps by destination task id (SetFrameGap), 0 for a
	// destination without one.
	gap      []int64
	gapMin   []int32 // a partial batch this full goes at an idle moment anyway
	lastSent []int64 // Nanotime of the last batch sent to a destination with a gap; neverSent before the first
}

// neverSent is lastSent before a destination's first batch: far enough in
// the past that any gap has passed, yet far from overflowing when a gap is
// added. (Nanotime counts from the machine's boot, so 0 would hold the
// first batch of a machine up for less than the gap.)
const neverSent = math.MinInt64 / 2

// NewOutbox makes an outbox for destination task ids 1..maxTask.
func NewOutbox(maxTask int32, maxSize int, linger time.Duration, deliver Deliver) *Outbox {
	o := &Outbox{
		maxSize:  make([]int32, maxTask+1),
		maxBytes: math.MaxInt,
		linger:   int64(linger),
		deliver:  deliver,
		open:     make([]*Batch, maxTask+1),
		gap:      make([]int64, maxTask+1),
		gapMin:   make([]int32, maxTask+1),
		lastSent: make([]int64, maxTask+1),
	}
	for d := range o.maxSize {
		o.SetMaxSize(int32(d), maxSize)
		o.lastSent[d] = neverSent
	}
	return o
}

// SetMaxSize sets the size bound of dest's batches (at least 1; at most
// 2^31-1). A batch already open is sent once it reaches the new bound.
func (o *Outbox) SetMaxSize(dest int32, n int) {
	o.maxSize[dest] = int32(min(max(n, 1), math.MaxInt32))
}

// SetFrameGap makes dest's partial batches wait until gap has passed since
// the last batch sent to dest, unless they hold at least minItems: for a
// task on another node, where a batch is a network frame that costs tens of
// microseconds of CPU on the two nodes whatever its size, so that a
// trickle of tuples does not cost a frame each. A full batch (the size or
// the byte bound) still goes at once; a partial one is due at the later of
// its linger bound and a gap after the last batch to dest, and an idle
// flush (FlushIdle) sends it sooner if it holds minItems or the gap has
// passed: a destination that got nothing for a gap gets its first tuples
// without delay. A gap of 0 (the default) removes the rule. The gap is
// measured on Nanotime, so the times given to Batch, Flush and FlushIdle
// must be Nanotime readings once a gap is set.
func (o *Outbox) SetFrameGap(dest int32, gap time.Duration, minItems int) {
	o.gap[dest] = max(int64(gap), 0)
	o.gapMin[dest] = int32(min(max(minItems, 1), math.MaxInt32))
	o.recomputeDue()
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
		if due := o.dueAt(dest); o.due == 0 || due < o.due {
			o.due = due
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
	if o.gap[dest] > 0 {
		o.lastSent[dest] = Nanotime()
	}
	o.recomputeDue()
	return o.deliver(dest, b)
}

// dueAt returns when dest's open batch is due: once it is Linger old and,
// for a destination with a frame gap, the gap has passed since the last
// batch sent to it.
func (o *Outbox) dueAt(dest int32) int64 {
	due := o.open[dest].Born + o.linger
	if o.gap[dest] > 0 {
		due = max(due, o.lastSent[dest]+o.gap[dest])
	}
	return due
}

func (o *Outbox) recomputeDue() {
	o.due = 0
	for _, d := range o.active {
		if due := o.dueAt(d); o.due == 0 || due < o.due {
			o.due = due
		}
	}
}

// Pending reports whether any batch is open.
func (o *Outbox) Pending() bool { return len(o.active) > 0 }

// NextDeadline returns when the first open batch is due by the linger
// bound (and its destination's frame gap), or 0 when nothing is open.
func (o *Outbox) NextDeadline() int64 { return o.due }

// Flush sends every open batch that is due by now: lingered for the
// linger bound and, where a frame gap is set, a gap after the last batch
// to its destination. Cheap when nothing is due.
func (o *Outbox) Flush(now int64) error {
	if o.due == 0 || now < o.due {
		return nil
	}
	return o.sendWhere(func(d int32) bool { return now >= o.dueAt(d) })
}

// sendWhere sends the open batches of the destinations ready picks.
func (o *Outbox) sendWhere(ready func(dest int32) bool) error {
	var first error
	for i := 0; i < len(o.active); {
		if d := o.active[i]; ready(d) {
			if err := o.send(d); err != nil && first == nil {
				first = err
			}
			continue // send swapped another destination into slot i
		}
		i++
	}
	return first
}

// FlushIdle is for a task that ran out of work: it sends every open batch
// holding at least n items, except that a batch to a destination with a
// frame gap goes only if the gap has passed since the last one (then
// whatever it holds) or it holds at least the gap's minimum and n.
func (o *Outbox) FlushIdle(n int, now int64) error {
	return o.sendWhere(func(d int32) bool {
		size := o.open[d].Len()
		if o.gap[d] == 0 {
			return size >= n
		}
		return now >= o.lastSent[d]+o.gap[d] || size >= max(n, int(o.gapMin[d]))
	})
}

// FrameGap returns dest's frame gap (SetFrameGap), 0 when it has none.
func (o *Outbox) FrameGap(dest int32) time.Duration { return time.Duration(o.gap[dest]) }

// PendingWithoutGap reports whether a batch to a destination without a
// frame gap is open: one that an idle flush with a lower minimum would
// send.
func (o *Outbox) PendingWithoutGap() bool {
	for _, d := range o.active {
		if o.gap[d] == 0 {
			return true
		}
	}
	return false
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
