package node

import (
	"context"
	"time"

	"github.com/gale-stream/gale/router"
)

// acker is one acker task: Storm's XOR tracking of tuple trees.
//
// Every tuple in a tree has a random 53-bit edge id. The spout sends INIT
// with the xor of its root tuple's edges; every bolt that acks an input
// sends ACK with the input's edge id xored with the ids of the tuples it
// emitted anchored to it. Each edge id thus enters the xor exactly twice
// (once when created, once when acked), and the tree is complete when the
// xor returns to zero, whatever order the operations arrive in (an ACK may
// overtake its INIT). A FAIL fails the tree at once.
//
// Timeouts are progress-aware. Storm fails any tree older than the message
// timeout, so under backpressure (a long queue before a slow bolt) it
// replays trees that were merely waiting, which adds load and makes the
// queue longer. Here a tree's clock is its last progress (the last
// operation on it), and a tree that has made no progress for the timeout
// still waits while any task holds work at least that old: a tuple of the
// tree was emitted no later than the tree's last progress, so if it is
// still queued or executing somewhere, some task's oldest batch is at least
// as old (Runtime.maxBacklog). A task that itself made no progress for
// three timeouts (stuck) does not hold timeouts back. Lost tuples and tuples a
// bolt never acks therefore still time out, once the queues have turned
// over. A bolt that holds a tuple on purpose (a window until it fires)
// keeps its tree alive with TOUCH operations (BoltCollector.ResetTimeout,
// Storm's resetTimeout), which are progress without an xor.
type acker struct {
	rt    *Runtime
	t     *task
	table *ackerTable

	tickDur int64 // the coarse clock's tick: MessageTimeout/16
	timeout uint16
	margin  int64
	now     int64                     // Nanotime of the batch or sweep being processed
	results map[int32]*[]router.AckOp // per spout task, sent after each batch
	// last and lastTask cache the results of the spout task whose tree
	// finished last: the trees of a batch mostly have one owner, and a
	// map assignment per tree was a fifth of the acker's time.
	last     *[]router.AckOp
	lastTask int32
	expired  uint64 // trees failed by the timeout
	failed   uint64 // trees failed, timeouts included
	complete uint64
}

const ackerTicksPerTimeout = 16

func newAcker(rt *Runtime, t *task) *acker {
	a := &acker{rt: rt, t: t, table: newAckerTable(rt.settings.MaxSpoutPending * 2), results: map[int32]*[]router.AckOp{}}
	a.tickDur = max(int64(rt.settings.MessageTimeout)/ackerTicksPerTimeout, 1)
	a.timeout = ackerTicksPerTimeout
	// Batches fill and linger for a little while before they are queued,
	// so a waiting tuple may be slightly older than the batch that shows
	// it; the margin absorbs that.
	a.margin = max(int64(rt.settings.MessageTimeout)/10, int64(100*time.Millisecond))
	return a
}

func (a *acker) epoch(now int64) uint16 { return uint16((now - a.rt.started) / a.tickDur) }

func (a *acker) run(ctx context.Context) {
	sweep := time.NewTicker(time.Duration(2 * a.tickDur))
	defer sweep.Stop()
	in := a.t.inbox.C()
	var stats taskStats
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return
			}
			a.t.took(b)
			now := router.Nanotime()
			a.now = now
			a.t.headBorn.Store(b.Born)
			a.process(b.Acks, a.epoch(now), &stats)
			b.Release()
			a.flushResults()
			a.t.lastProgress.Store(now)
			if len(in) == 0 {
				a.t.headBorn.Store(0)
			}
			stats.acked = a.complete
			stats.failed = a.failed
			stats.publish(&a.t.counters)
		case <-sweep.C:
			// Apply what is already queued first: an ack waiting in this
			// queue is progress the sweep must see.
			for drained := false; !drained; {
				select {
				case b, ok := <-in:
					if !ok {
						return
					}
					a.t.took(b)
					a.now = router.Nanotime()
					a.process(b.Acks, a.epoch(a.now), &stats)
					b.Release()
				default:
					drained = true
				}
			}
			a.now = router.Nanotime()
			a.sweep(a.now)
			a.flushResults()
			stats.failed = a.failed
			stats.publish(&a.t.counters)
		case <-ctx.Done():
			if !a.t.here.Load() {
				a.handOver()
			}
			return
		}
	}
}

// handOver passes the state of every tree this acker tracks to the node
// its task moved to, as operations that rebuild it there (XOR is
// commutative, so they combine with whatever reached that node first): an
// INIT carrying the tree's xor and owner, an ACK carrying the xor of a tree
// whose INIT has not come, a FAIL for a failed one. The trees go on
// without a replay. If they cannot be sent, the trees with an owner fail
// now and replay, rather than wait for their spouts' sweep (three message
// timeouts). What is still queued for this acker goes on too (failQueued).
func (a *acker) handOver() {
	tb := a.table
	a.now = router.Nanotime()
	var ops []router.AckOp
	for s, k := range tb.keys {
		if k == 0 {
			continue
		}
		m := tb.metas[s]
		switch task := metaTask(m); {
		case m&metaFailedBit != 0:
			ops = append(ops, router.AckOp{Kind: router.AckFail, Root: k})
		case task != 0:
			ops = append(ops, router.AckOp{Kind: router.AckInit, Root: k, Value: tb.xors[s], Task: task})
		default:
			ops = append(ops, router.AckOp{Kind: router.AckAck, Root: k, Value: tb.xors[s]})
		}
	}
	tb.alloc(16)
	if len(ops) == 0 || a.rt.remote == nil {
		return
	}
	// In frames of about 600 KB (an operation takes about 18 bytes), below
	// the sender's own bound (maxAcksPerFrame in node/transfer).
	const perFrame = 32 << 10
	sent := 0
	for sent < len(ops) {
		n := min(len(ops)-sent, perFrame)
		if a.rt.remote.ForwardAcks(a.t.id, ops[sent:sent+n]) != nil {
			break
		}
		sent += n
	}
	for _, op := range ops[sent:] {
		if op.Kind == router.AckInit {
			a.addResult(router.AckOp{Kind: router.AckFailed, Root: op.Root, Task: op.Task, Value: uint64(a.now)})
			a.failed++
		}
	}
	a.flushResults()
}

func (a *acker) process(ops []router.AckOp, ep uint16, stats *taskStats) {
	tb := a.table
	for i := range ops {
		op := &ops[i]
		stats.executed++
		switch op.Kind {
		case router.AckInit:
			s := tb.find(op.Root)
			tb.xors[s] ^= op.Value
			m := tb.metas[s]&metaFailedBit | uint32(op.Task)&metaTaskMask
			tb.metas[s] = withEpoch(m, ep)
			a.settle(s)
		case router.AckAck:
			s := tb.find(op.Root)
			tb.xors[s] ^= op.Value
			tb.metas[s] = withEpoch(tb.metas[s], ep)
			if metaTask(tb.metas[s]) != 0 {
				a.settle(s)
			}
		case router.AckTouch:
			// A bolt still holds a tuple of the tree (resetTimeout): its
			// clock starts again, and its spout hears of it, whose own
			// sweep for lost results would fail it otherwise. A touch
			// does not create an entry: a tree this acker does not
			// track has finished, or its INIT has yet to come (and will
			// start the clock itself).
			if s := tb.lookup(op.Root); s >= 0 {
				tb.metas[s] = withEpoch(tb.metas[s], ep)
				if m := tb.metas[s]; m&metaFailedBit == 0 && metaTask(m) != 0 {
					a.addResult(router.AckOp{Kind: router.AckAlive, Root: op.Root, Task: metaTask(m)})
				}
			}
		case router.AckFail:
			s := tb.find(op.Root)
			tb.metas[s] = withEpoch(tb.metas[s]|metaFailedBit, ep)
			if metaTask(tb.metas[s]) != 0 {
				a.finish(s, router.AckFailed)
			}
		}
	}
}

// settle finishes an initialised tree whose xor is zero, or a failed one.
func (a *acker) settle(s int) {
	tb := a.table
	switch {
	case tb.metas[s]&metaFailedBit != 0:
		a.finish(s, router.AckFailed)
	case tb.xors[s] == 0:
		a.finish(s, router.AckCompleted)
	}
}

func (a *acker) finish(s int, kind router.AckKind) {
	tb := a.table
	task := metaTask(tb.metas[s])
	// Value carries the completion time, so that the complete latency the
	// spout records does not include how long the result waited for the
	// spout task to wake up.
	a.addResult(router.AckOp{Kind: kind, Root: tb.keys[s], Task: task, Value: uint64(a.now)})
	if kind == router.AckCompleted {
		a.complete++
	} else {
		a.failed++
	}
	tb.deleteAt(s)
}

// addResult queues a tree's result for its spout task (op.Task) until
// flushResults.
func (a *acker) addResult(op router.AckOp) {
	if a.last == nil || a.lastTask != op.Task {
		r := a.results[op.Task]
		if r == nil {
			r = new([]router.AckOp)
			a.results[op.Task] = r
		}
		a.last, a.lastTask = r, op.Task
	}
	*a.last = append(*a.last, op)
}

func (a *acker) flushResults() { a.takeResults(a.rt.sendResults) }

// takeResults hands the queued results to send, per spout task, and
// empties the queues.
func (a *acker) takeResults(send func(task int32, ops []router.AckOp)) {
	for task, ops := range a.results {
		if len(*ops) == 0 {
			continue
		}
		send(task, *ops)
		*ops = (*ops)[:0]
	}
}

// sweep fails the trees that made no progress for the message timeout and
// are not waiting behind older work.
func (a *acker) sweep(now int64) {
	tb := a.table
	if tb.len() == 0 {
		return
	}
	ep := a.epoch(now)
	backlog := a.rt.maxBacklog(now)
	for s := 0; s < len(tb.keys); {
		if tb.keys[s] == 0 {
			s++
			continue
		}
		idle := ep - metaEpoch(tb.metas[s]) // wraps correctly
		// idle-1 ticks is a lower bound of the real idle time.
		if idle <= a.timeout || int64(idle-1)*a.tickDur <= backlog+a.margin {
			s++
			continue
		}
		if metaTask(tb.metas[s]) == 0 {
			// Acks of a tree whose INIT never came (or of a tree that
			// already failed): drop them quietly.
			tb.deleteAt(s)
		} else {
			a.expired++
			a.finish(s, router.AckFailed)
		}
		// deleteAt may have shifted another entry into slot s: look again.
	}
}
