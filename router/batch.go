package router

import (
	"slices"
	"sync"

	"github.com/gale-stream/gale/sdk"
)

// AckKind says what an acker operation does (gale.v1.AckKind, one for one).
type AckKind uint8

// The acker operations.
const (
	AckInit      AckKind = 1 // start a tree: Value = xor of the root's edges, Task = spout task
	AckAck       AckKind = 2 // xor Value into the tree
	AckFail      AckKind = 3 // fail the tree now
	AckCompleted AckKind = 4 // acker -> spout: the tree completed
	AckFailed    AckKind = 5 // acker -> spout: the tree failed or timed out
	AckTouch     AckKind = 6 // restart the tree's timeout clock (resetTimeout); creates no entry
	AckAlive     AckKind = 7 // acker -> spout: the tree was touched
)

// AckOp is one acker operation. 24 bytes, no pointers: slices of them cost
// the garbage collector nothing to scan.
type AckOp struct {
	Root  uint64
	Value uint64
	Task  int32
	Kind  AckKind
}

// Batch is a group of tuples (or acker operations) for one destination task.
// It carries its own arenas for values and anchors, so once a pooled batch is
// warm, adding a tuple allocates nothing. Batches are recycled through a
// free list (NewBatch / Release): the prototype spent its time in the
// garbage collector otherwise.
//
// A batch is owned by one goroutine at a time: the emitter fills it, hands
// it to the destination's queue, and the consumer releases it after use.
type Batch struct {
	// Tuples are the tuples, in emission order.
	Tuples []sdk.Tuple
	// Acks are acker operations (batches for acker and spout tasks).
	Acks []AckOp
	// Born is the monotonic time (nanoseconds, see Nanotime) when the first
	// item was added. Linger bounds and the acker's backlog-aware timeout
	// read it.
	Born int64
	// EndOfInput, when nonzero, makes this batch an end-of-input marker from
	// that task: it sent everything it will ever send to this destination.
	EndOfInput int32
	// ValueBytes is the size of the string and bytes values added by
	// AddTuple (sdk.DataSize of them all), a lower bound of the batch's
	// encoded size: a sender splits a batch of large tuples into several
	// frames without encoding it whole first, and queues and credit
	// windows are bounded by it.
	ValueBytes int

	vals    []sdk.Value
	anchors []sdk.Anchor
}

// freeBatches recycles batches. It is a bounded free list rather than a
// sync.Pool on purpose: a sync.Pool is emptied by every garbage collection,
// so a busy topology re-allocates its batches (up to ~18 KiB each) after each
// cycle, and that allocation is what triggers the next cycle; with a tiny
// live heap the runtime then collects several times a second, and each
// collection's mark phase takes a core of two away for milliseconds, which
// showed as the p99 latency tail. The free list keeps the batches across
// collections; its bound caps what an idle topology holds on to.
//
// It is a stack: the batch released last is reused first, while its
// memory is still in the CPU's caches. (A FIFO channel, its first form,
// handed out the batch idle the longest, cold: filling a batch's tuples
// then took 15% of a node's CPU in the cluster benchmark.)
var freeBatches struct {
	mu   sync.Mutex
	list []*Batch
}

// maxFreeBatches bounds the free list.
const maxFreeBatches = 4096

// newBatch makes a batch with room for 16 tuples; it grows as it fills
// (to the batch size, 128 by default) and keeps its capacity when
// recycled. Starting small matters when a task sends to many tasks: it
// holds a partial batch for each, and with 250 tasks per word count
// component, batches made with room for 128 tuples (18 KiB) took a
// 417 MB process to 245 MB with room for 16 (`gale local`, 2026-11-29;
// throughput in `gale bench` unchanged within the noise, three runs each).
func newBatch() *Batch {
	return &Batch{
		Tuples:  make([]sdk.Tuple, 0, 16),
		vals:    make([]sdk.Value, 0, 32),
		anchors: make([]sdk.Anchor, 0, 16),
	}
}

// NewBatch returns an empty batch, recycled when one is free.
func NewBatch() *Batch {
	freeBatches.mu.Lock()
	if n := len(freeBatches.list); n > 0 {
		b := freeBatches.list[n-1]
		freeBatches.list[n-1] = nil
		freeBatches.list = freeBatches.list[:n-1]
		freeBatches.mu.Unlock()
		return b
	}
	freeBatches.mu.Unlock()
	return newBatch()
}

// Release returns the batch for reuse. The batch and every *sdk.Tuple
// pointing into it must not be used afterwards.
func (b *Batch) Release() {
	clear(b.Tuples) // drop references, so recycled batches pin no garbage
	clear(b.vals)
	b.Tuples = b.Tuples[:0]
	b.Acks = b.Acks[:0]
	b.vals = b.vals[:0]
	b.anchors = b.anchors[:0]
	b.Born = 0
	b.EndOfInput = 0
	b.ValueBytes = 0
	freeBatches.mu.Lock()
	if len(freeBatches.list) < maxFreeBatches {
		freeBatches.list = append(freeBatches.list, b)
	} // else the free list is full: let the collector have it
	freeBatches.mu.Unlock()
}

// Len returns the number of items (tuples and acker operations).
func (b *Batch) Len() int { return len(b.Tuples) + len(b.Acks) }

// AddTuple appends a tuple whose values are copied into the batch's arena and
// which gets nAnchors zeroed anchors for the caller to fill. It returns a
// pointer to the new tuple, valid until the next AddTuple.
func (b *Batch) AddTuple(src *sdk.Source, task int32, values []sdk.Value, nAnchors int) *sdk.Tuple {
	vs := len(b.vals)
	for i := range values {
		// One at a time: append(b.vals, values...) calls the runtime's
		// typed copy per tuple, several times slower for a few values.
		b.vals = append(b.vals, values[i])
		s, _ := values[i].Raw() // sdk.DataSize, in the same pass
		b.ValueBytes += len(s)
	}
	t := b.newSlot(src, task)
	t.Values = b.vals[vs:len(b.vals):len(b.vals)]
	if nAnchors > 0 {
		b.addAnchors(t, nAnchors)
	}
	return t
}

// NewTuple appends a tuple with nValues null values and nAnchors zeroed
// anchors, for the caller to fill in place: a decoder needs no buffer of
// its own to copy values from. The caller adds the sdk.DataSize of the
// values it sets to ValueBytes. The pointer is valid until the next
// NewTuple or AddTuple.
func (b *Batch) NewTuple(src *sdk.Source, task int32, nValues, nAnchors int) *sdk.Tuple {
	vs := len(b.vals)
	// The arena past its length is all null values: Release clears what
	// was used, and a grown array is zeroed.
	b.vals = extend(b.vals, nValues)
	t := b.newSlot(src, task)
	t.Values = b.vals[vs:len(b.vals):len(b.vals)]
	if nAnchors > 0 {
		b.addAnchors(t, nAnchors)
	}
	return t
}

// newSlot appends a tuple from src and task, without values or anchors.
//
// It grows the slice by one and sets the fields one by one: appending a
// composite literal built the 64-byte tuple on the stack with 8-byte
// stores and copied it with 16-byte loads, which the CPU cannot forward
// from those stores, a stall of tens of cycles that was 85% of AddTuple
// (13 ns a call in a hot loop).
func (b *Batch) newSlot(src *sdk.Source, task int32) *sdk.Tuple {
	n := len(b.Tuples)
	if n == cap(b.Tuples) {
		b.Tuples = append(b.Tuples, sdk.Tuple{})
	} else {
		b.Tuples = b.Tuples[:n+1]
	}
	t := &b.Tuples[n]
	t.Anchors = nil
	t.Source = src
	t.SourceTask = task
	return t
}

// addAnchors gives t n zeroed anchors from the batch's arena.
func (b *Batch) addAnchors(t *sdk.Tuple, n int) {
	as := len(b.anchors)
	b.anchors = extend(b.anchors, n)
	t.Anchors = b.anchors[as:len(b.anchors):len(b.anchors)]
	for i := range t.Anchors {
		t.Anchors[i] = sdk.Anchor{} // Release leaves anchors (no pointers) as they were
	}
}

// extend returns s with n more elements, growing its array when full.
func extend[T any](s []T, n int) []T {
	if len(s)+n > cap(s) {
		s = slices.Grow(s, n)
	}
	return s[:len(s)+n]
}

// AddAck appends an acker operation. An ACK on the same root as the
// previous operation is xor-combined into it: a bolt acking the words of one
// sentence in a row sends one operation instead of six (the prototype gained
// ~1.5x from this).
func (b *Batch) AddAck(op AckOp) {
	if n := len(b.Acks); n > 0 && op.Kind == AckAck {
		last := &b.Acks[n-1]
		if last.Kind == AckAck && last.Root == op.Root {
			last.Value ^= op.Value
			return
		}
	}
	b.Acks = append(b.Acks, op)
}
