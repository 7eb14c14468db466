package node

import (
	"sync"
	"time"

	"github.com/gale-stream/gale/node/transfer"
	"github.com/gale-stream/gale/router"
)

// unsentAcks holds acker operations, and tree results for spouts, that
// could not be sent to their task's node, to send again: an operation
// lost leaves its tree incomplete until a timeout replays it (the acker's
// message timeout; for a lost result, the spout's sweep after three). A
// send fails while the task's node is down and the assignment has not
// moved it yet, and in the moment between one node switching its routes
// and another: when an acker's node died, the bolts of a node that had not
// yet read the new assignment sent the acks of trees begun at the acker's
// new copy to the dead node, and those trees waited out the message
// timeout (one run of three in a helper's kill -9 test). Held operations
// go again every resendEvery, to wherever the task then runs, until they
// are older than the message timeout (their trees timed out by then).
type unsentAcks struct {
	mu  sync.Mutex
	ops map[int32][]unsentOp // by destination task
	n   int
}

type unsentOp struct {
	op router.AckOp
	at int64 // Nanotime of the first failed send
}

// maxUnsentAcks bounds the operations held (about 2 MiB at 32 bytes
// each); what does not fit is left to the timeouts, as before.
const maxUnsentAcks = 1 << 16

// resendEvery is how often held operations are sent again.
const resendEvery = 50 * time.Millisecond

// holdUnsent keeps ops (the caller keeps the slice) for task dest, whose
// node did not take them.
func (rt *Runtime) holdUnsent(dest int32, ops []router.AckOp) {
	at := router.Nanotime()
	held := make([]unsentOp, len(ops))
	for i, op := range ops {
		held[i] = unsentOp{op: op, at: at}
	}
	rt.unsent.hold(dest, held)
}

// hold keeps ops for dest, up to maxUnsentAcks in all.
func (u *unsentAcks) hold(dest int32, ops []unsentOp) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ops == nil {
		u.ops = map[int32][]unsentOp{}
	}
	ops = ops[:min(len(ops), maxUnsentAcks-u.n)]
	u.ops[dest] = append(u.ops[dest], ops...)
	u.n += len(ops)
}

// resendUnsent sends the held operations again: to the task here if it
// runs here now, to its node otherwise; what fails again is held again,
// unless it is older than the message timeout.
func (rt *Runtime) resendUnsent(now int64) {
	u := &rt.unsent
	u.mu.Lock()
	held := u.ops
	u.ops, u.n = nil, 0
	u.mu.Unlock()
	expired := now - int64(rt.settings.MessageTimeout)
	for dest, ops := range held {
		kept := ops[:0]
		for _, o := range ops {
			if o.at >= expired {
				kept = append(kept, o)
			}
		}
		if ops = kept; len(ops) == 0 {
			continue
		}
		plain := make([]router.AckOp, len(ops))
		for i, o := range ops {
			plain[i] = o.op
		}
		if rt.localTask(dest) != nil {
			// Acks routes acker operations by root and results by their
			// spout task, here or (a stale view) on to the task's node.
			_ = rt.Acks(plain, transfer.AckMeta{})
			continue
		}
		if rt.remote.SendAcks(dest, plain) != nil {
			u.hold(dest, ops) // with the time of their first failed send
		}
	}
}

// unsentLen is how many operations are held.
func (rt *Runtime) unsentLen() int {
	u := &rt.unsent
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// backlogReporter is a Remote that can send this node's backlog to the
// other nodes of the run without acker operations (remoteRoutes).
type backlogReporter interface {
	SendBacklog(backlog time.Duration)
}

// backlogEvery is how often a node with work waiting tells the other nodes
// of its run how old the oldest is. Acker operations carry it too, but a
// node whose tasks ack less often than a report holds timeouts back
// (remoteBacklogWindow, one to two of them) would have its backlog age out
// at the ackers while its work still waits: a bolt taking 2.5 s a tuple
// had every tree waiting behind it time out and replay.
const backlogEvery = remoteBacklogWindow / 2

// resendUnsentLoop sends held operations again every resendEvery, and
// this node's backlog to the other nodes every backlogEvery while it has
// one, until the run ends (distributed runs).
func (rt *Runtime) resendUnsentLoop(done <-chan struct{}) {
	tick := time.NewTicker(resendEvery)
	defer tick.Stop()
	reporter, _ := rt.remote.(backlogReporter)
	var lastReport int64
	for {
		select {
		case <-done:
			return
		case <-rt.ending:
			return
		case <-tick.C:
			if rt.unsentLen() > 0 {
				rt.resendUnsent(router.Nanotime())
			}
			now := router.Nanotime()
			if reporter != nil && len(rt.ackers) > 0 && now-lastReport >= backlogEvery {
				if backlog := rt.localBacklog(now); backlog > 0 {
					lastReport = now
					reporter.SendBacklog(time.Duration(backlog))
				}
			}
		}
	}
}
