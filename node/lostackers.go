package node

import (
	"sync"
	"sync/atomic"

	"github.com/gale-stream/gale/router"
)

// lostAckers records the acker tasks whose trees were lost with their
// node: it died, or was cut off, before it could hand them over (an acker
// that moves off a live node hands its table to the new one). The spouts
// of the run fail the trees those ackers tracked at once, so that they
// replay now, instead of at their own sweep for lost results, three
// message timeouts later (a finite topology stalled about two minutes on
// it by default).
type lostAckers struct {
	mu sync.Mutex
	// at is, per lost acker task, the Nanotime the loss was learnt at:
	// trees a spout began before it may have had their INIT sent to the
	// old copy, and fail. (Those begun between the node's death and then
	// had their INIT refused, held and sent to the new copy (unsent.go):
	// they replay needlessly, as duplicates, a few seconds' worth.)
	at  map[int32]int64
	gen atomic.Uint64 // counts AckersLost calls; spouts look at it per loop
}

// AckersLost tells the local spouts that the acker tasks in tasks lost
// their trees with the node they ran on: each fails its pending trees that
// one of them tracked and that began before now, and replays them. Trees
// begun since have gone to the tasks' new copies.
func (rt *Runtime) AckersLost(tasks []int32) {
	if len(tasks) == 0 {
		return
	}
	now := router.Nanotime()
	l := &rt.lostAckers
	l.mu.Lock()
	if l.at == nil {
		l.at = map[int32]int64{}
	}
	for _, id := range tasks {
		l.at[id] = now
	}
	l.gen.Add(1)
	l.mu.Unlock()
	for _, t := range rt.tasks[1:] {
		if t.comp.spout && t.here.Load() {
			t.ctrl.wake()
		}
	}
}

// failTreesOfLostAckers fails the pending trees whose acker lost them
// (Runtime.AckersLost) before they began there anew.
func (e *executor) failTreesOfLostAckers() {
	l := &e.rt.lostAckers
	gen := l.gen.Load()
	if gen == e.lostAckersSeen {
		return
	}
	e.lostAckersSeen = gen
	l.mu.Lock()
	at := make(map[int32]int64, len(l.at))
	for id, t := range l.at {
		if t > e.lostAckersAt {
			at[id] = t
		}
	}
	l.mu.Unlock()
	if len(at) == 0 || len(e.rt.ackers) == 0 {
		return
	}
	for _, t := range at {
		e.lostAckersAt = max(e.lostAckersAt, t)
	}
	var lost []uint64
	e.pending.each(func(root uint64, p pendingMsg) {
		if t, ok := at[e.rt.ackers[root%uint64(len(e.rt.ackers))]]; ok && p.start < t {
			lost = append(lost, root)
		}
	})
	if n := e.failPending(lost); n > 0 {
		e.tc.Log.Info("failed the trees of ackers lost with their node; they replay", "trees", n)
	}
}
