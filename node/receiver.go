package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gale-stream/gale/node/transfer"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// The Runtime is the transfer.Receiver of its run: frames from other
// nodes land in the same queues local emitters use.

// Sources implements transfer.Receiver.
func (rt *Runtime) Sources() transfer.Sources {
	return func(task int32, stream string) *sdk.Source {
		if task < 1 || int(task) >= len(rt.tasks) {
			return nil
		}
		if os := rt.tasks[task].comp.streams[stream]; os != nil {
			return os.src
		}
		return nil
	}
}

func (rt *Runtime) localTask(id int32) *task {
	if id < 1 || int(id) >= len(rt.tasks) || !rt.tasks[id].here.Load() {
		return nil
	}
	return rt.tasks[id]
}

// Deliver implements transfer.Receiver. It never blocks: a batch goes
// into the task's queue if there is room and nothing from other nodes is
// waiting before it, or else into the task's overflow lane, which a pump
// goroutine empties into the queue in order (see lane). The batch's
// tuples go back to c once they are in the queue.
func (rt *Runtime) Deliver(dest int32, b *router.Batch, c transfer.Credits) error {
	t := rt.localTask(dest)
	if t == nil || t.comp.system {
		return fmt.Errorf("task %d: %w", dest, transfer.ErrTaskNotHere)
	}
	return rt.offer(t, b, c)
}

// Acks implements transfer.Receiver: tree operations go to the acker the
// root id picks, results to the spout task that owns the tree. It never
// blocks: results go to the spouts' unbounded control queues, operations
// through the ackers' lanes (they take no credit; the spouts' pending
// bounds limit them).
//
// Operations for an acker task that moved away are passed on to its node
// once; when that is not possible, an INIT fails its tree at the spout
// that owns it (it replays), and the rest are dropped (the tree times out).
// Operations passed on to this node for an acker that is not here yet are
// held for it a while (holdEarly).
func (rt *Runtime) Acks(ops []router.AckOp, meta transfer.AckMeta) error {
	if len(rt.ackers) == 0 {
		return nil
	}
	if meta.Backlog > 0 {
		rt.remoteWork.report(router.Nanotime(), int64(meta.Backlog))
	}
	batches := map[int32]*router.Batch{}
	results := map[int32][]router.AckOp{}
	var elsewhere map[int32][]router.AckOp
	for _, op := range ops {
		switch op.Kind {
		case router.AckCompleted, router.AckFailed, router.AckAlive:
			if t := rt.localTask(op.Task); t != nil && t.ctrl != nil {
				results[op.Task] = append(results[op.Task], op)
			}
		default:
			dest := rt.ackers[op.Root%uint64(len(rt.ackers))]
			if rt.localTask(dest) == nil {
				// The sender's view of the assignment is stale.
				if elsewhere == nil {
					elsewhere = map[int32][]router.AckOp{}
				}
				elsewhere[dest] = append(elsewhere[dest], op)
				continue
			}
			b := batches[dest]
			if b == nil {
				b = router.NewBatch()
				b.Born = router.Nanotime()
				batches[dest] = b
			}
			b.Acks = append(b.Acks, op)
		}
	}
	for task, r := range results {
		rt.tasks[task].ctrl.push(r)
	}
	for dest, ops := range elsewhere {
		if meta.Forwarded {
			rt.holdEarly(rt.tasks[dest], ops)
			continue
		}
		// Not on this goroutine: it reads a Transfer stream, which must
		// never wait for a send (see package transfer). Once the run has
		// ended, nothing waits for these operations any more.
		rt.forwarders.goRun(func() { rt.passOn(dest, ops, false) })
	}
	var first error
	for dest, b := range batches {
		if err := rt.offer(rt.tasks[dest], b, nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// earlyGrace is how long operations passed on to an acker task that is
// not here yet wait for the assignment that brings it.
const earlyGrace = 2 * time.Second

// holdEarly keeps operations another node passed on to acker task t, which
// does not run here: that node saw t move here, and this one will see it
// soon (its handover often arrives first). Reassign queues them then; if t
// has not come after earlyGrace, they fail as passOn fails them; if the
// run ends first, they are dropped (nothing waits for them any more).
//
// The sender's view may be the stale one instead (t moved on elsewhere):
// its trees then fail earlyGrace later than they would have.
func (rt *Runtime) holdEarly(t *task, ops []router.AckOp) {
	t.markerMu.Lock()
	first := len(t.early) == 0
	t.early = append(t.early, ops...)
	gen := t.earlyGen
	t.markerMu.Unlock()
	if t.here.Load() {
		// Reassign brought t here meanwhile (it sets here before it takes
		// what is held): queue them now.
		rt.queueEarly(t)
		return
	}
	if !first {
		return // the first one's timer covers these too
	}
	started := rt.forwarders.goRun(func() {
		select {
		case <-time.After(earlyGrace):
		case <-rt.ending:
			t.takeEarly()
			return
		}
		t.markerMu.Lock()
		var late []router.AckOp
		if t.earlyGen == gen { // else they were taken, and others have their own timer
			late, t.early = t.early, nil
			t.earlyGen++
		}
		t.markerMu.Unlock()
		if len(late) > 0 {
			rt.passOn(t.id, late, true)
		}
	})
	if !started {
		t.takeEarly() // the run ended: nothing waits for them
	}
}

// queueEarly puts the operations held for acker task t, which runs here
// now, in its queue. It never blocks (the Transfer reader calls it): a
// full queue overflows into the task's lane, and a closed one means the
// run is stopping, when nothing waits for them any more.
func (rt *Runtime) queueEarly(t *task) {
	if early := t.takeEarly(); len(early) > 0 {
		b := router.NewBatch()
		b.Born = router.Nanotime()
		b.Acks = append(b.Acks, early...)
		_ = rt.offer(t, b, nil)
	}
}

// takeEarly returns and forgets the operations held for t.
func (t *task) takeEarly() []router.AckOp {
	t.markerMu.Lock()
	defer t.markerMu.Unlock()
	early := t.early
	t.early = nil
	t.earlyGen++
	return early
}

// passOn forwards operations for acker task dest, which does not run here,
// to its node, once. What cannot go fails: an INIT's tree at its spout.
func (rt *Runtime) passOn(dest int32, ops []router.AckOp, forwarded bool) {
	if !forwarded && rt.remote != nil && rt.remote.ForwardAcks(dest, ops) == nil {
		return
	}
	now := uint64(router.Nanotime())
	byTask := map[int32][]router.AckOp{}
	for _, op := range ops {
		if op.Kind == router.AckInit && op.Task != 0 {
			byTask[op.Task] = append(byTask[op.Task], router.AckOp{Kind: router.AckFailed, Root: op.Root, Task: op.Task, Value: now})
		}
	}
	for task, r := range byTask {
		rt.sendResults(task, r)
	}
}

// sendResults hands tree results (completed, failed) to the spout task
// that owns the trees, here or on its node. The caller keeps ops. A result
// that cannot be sent is held and sent again (unsent.go); one lost on the
// way leaves the tree pending at the spout, whose own sweep fails it
// eventually.
func (rt *Runtime) sendResults(task int32, ops []router.AckOp) {
	if t := rt.localTask(task); t != nil {
		if t.ctrl != nil {
			t.ctrl.push(ops)
		}
		return
	}
	if rt.remote != nil && rt.remote.SendAcks(task, ops) != nil {
		rt.holdUnsent(task, ops)
	}
}

// EndOfInput implements transfer.Receiver: the marker takes the same lane
// as the tuples before it, so it cannot overtake them.
//
// Every task keeps the markers it was sent, here or not: a task that comes
// here later (Reassign) gets them then, since the node that sent them sends
// them only once more, when the assignment changes, and that may reach
// this node before the task does.
func (rt *Runtime) EndOfInput(from int32, to []int32) error {
	for _, id := range to {
		if id < 1 || int(id) >= len(rt.tasks) {
			continue
		}
		t := rt.tasks[id]
		t.noteMarker(from)
		if !t.here.Load() {
			continue
		}
		b := router.NewBatch()
		b.Born = router.Nanotime()
		b.EndOfInput = from
		if err := rt.offer(t, b, nil); err != nil {
			return err
		}
	}
	return nil
}

// lane is the overflow of a local task's queue for what arrives from other
// nodes while the queue is full. The Transfer streams must never wait for
// a queue (see package transfer), so they append here and a pump
// goroutine, started when the lane fills and ending when it is empty,
// pushes the batches into the queue in order, blocking as local emitters
// do. What a lane holds is bounded by the credit the task's senders got:
// each sending node has at most a window of tuples, and a window of
// bytes of their values (plus one batch), for the task that are not yet
// in its queue. Acker operations and markers take no credit; they
// are bounded by the spouts' pending trees and the number of upstream
// tasks.
type lane struct {
	mu      sync.Mutex
	items   []laneItem
	pumping bool
}

type laneItem struct {
	b     *router.Batch
	c     transfer.Credits // nil: takes no credit
	n     int              // tuples to return to c
	bytes int              // and bytes of their values
}

// offer queues b for t without blocking: into the queue when it has room
// and the lane is empty (the fast path), or else into the lane.
func (rt *Runtime) offer(t *task, b *router.Batch, c transfer.Credits) error {
	n, bytes := len(b.Tuples), b.ValueBytes
	l := &t.lane
	l.mu.Lock()
	if !l.pumping {
		err := t.tryPush(b)
		if !errors.Is(err, router.ErrFull) {
			l.mu.Unlock()
			if err != nil { // closed: the run is stopping here
				b.Release()
			}
			if c != nil {
				c.Return(t.id, n, bytes)
			}
			return err
		}
		l.pumping = true
		go rt.pump(t)
	}
	l.items = append(l.items, laneItem{b: b, c: c, n: n, bytes: bytes})
	l.mu.Unlock()
	return nil
}

// pump empties t's lane into its queue. It ends when the lane is empty;
// once the queue is closed (the run stopped), it drops what is left.
func (rt *Runtime) pump(t *task) {
	l := &t.lane
	for {
		l.mu.Lock()
		if len(l.items) == 0 {
			l.pumping = false
			l.items = l.items[:0:0] // let a burst's backing array go
			l.mu.Unlock()
			return
		}
		it := l.items[0]
		l.items[0] = laneItem{}
		l.items = l.items[1:]
		l.mu.Unlock()
		if err := t.push(context.Background(), it.b); err != nil {
			it.b.Release()
		}
		if it.c != nil {
			it.c.Return(t.id, it.n, it.bytes)
		}
	}
}

var _ transfer.Receiver = (*Runtime)(nil)
