package node

import "container/heap"

// Replay backoff. A tree fails at once when a tuple of it cannot reach its
// task (the task's node died, and its tasks have not moved yet: about 3 s),
// so that it replays soon after rather than a message timeout later. But a
// spout replays a failed message at once, and the replay goes to the same
// unreachable task and fails at once again: without a pause the spout
// replays its in-flight messages in a tight loop until the tasks move, and
// every branch of those trees that reaches a live task (a counter) sees
// each message again at every turn: a tester's dashboard counted 12 to 75
// times the events it had been sent after one node died.
//
// So the runtime hands a spout the first failure of a message at once and
// a message that fails again, within replayBackoffReset of its last
// failure, after a pause that doubles from replayBackoffMin up to
// replayBackoffMax: a message in flight through a dead node replays about
// six times in the 3 s its tasks take to move, and within 2 s of their
// move. The message's id is what ties its failures together (a spout
// replays a message under the id it first emitted it with).
const (
	replayBackoffMin   = int64(100e6) // 100 ms
	replayBackoffMax   = int64(2e9)   // 2 s
	replayBackoffReset = 4 * replayBackoffMax
)

// refail is what the runtime remembers of a message that failed.
type refail struct {
	last  int64 // Nanotime of its last failure
	count int   // failures in a row, each within replayBackoffReset of the one before
}

// deferredFail is a failure handed to the spout at due.
type deferredFail struct {
	due int64
	id  uint64
}

// deferredFails is a min-heap by due time.
type deferredFails []deferredFail

func (h deferredFails) Len() int           { return len(h) }
func (h deferredFails) Less(i, j int) bool { return h[i].due < h[j].due }
func (h deferredFails) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deferredFails) Push(x any)        { *h = append(*h, x.(deferredFail)) }
func (h *deferredFails) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// failMessage hands the failure of message id to the spout: at once the
// first time, after a backoff when it failed again soon after (see above).
func (e *executor) failMessage(id uint64) {
	if e.refails == nil {
		e.refails = map[uint64]refail{}
	}
	r := e.refails[id]
	if e.now-r.last > replayBackoffReset {
		r.count = 0
	}
	r.count++
	r.last = e.now
	e.refails[id] = r
	if r.count == 1 {
		e.callFail(id)
		return
	}
	delay := replayBackoffMax
	if shift := r.count - 2; shift < 5 {
		delay = min(replayBackoffMin<<shift, replayBackoffMax)
	}
	heap.Push(&e.deferred, deferredFail{due: e.now + delay, id: id})
}

// releaseFails hands the spout the deferred failures that are due, and
// forgets messages that have not failed for a while.
func (e *executor) releaseFails() {
	for len(e.deferred) > 0 && e.deferred[0].due <= e.now {
		e.callFail(heap.Pop(&e.deferred).(deferredFail).id)
	}
	if len(e.refails) > 0 && e.now-e.refailsPruned > replayBackoffReset {
		e.refailsPruned = e.now
		for id, r := range e.refails {
			if e.now-r.last > replayBackoffReset {
				delete(e.refails, id)
			}
		}
	}
}

// nextFailDue is when the next deferred failure is due, 0 if none.
func (e *executor) nextFailDue() int64 {
	if len(e.deferred) == 0 {
		return 0
	}
	return e.deferred[0].due
}
