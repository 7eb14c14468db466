package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gale-stream/gale/router"
)

// A node runs a task only while the current assignment gives it that task.
// A node that stalls (SIGSTOP, a paused or migrated VM, a swap storm) stops
// renewing its lease in etcd while its goroutines stand still; the leader
// sees the lease expire and gives its tasks to other nodes, which start
// them. When the node resumes, its tasks go on with what was queued (and a
// spout where it was) until the node's next read of the assignments stops
// them: a few milliseconds when etcd answers, and for as long as it does
// not when etcd is away too. Meanwhile two copies of a task run, and a
// sink writes what the new copy writes too (a helper's walkthrough:
// thousands of stale lines per resume, and 32 s of a second spout while
// etcd was frozen).
//
// So a node that stalled fences its tasks until etcd confirms what they
// are: a watchdog beats every stallBeat, and a beat later than the stall
// limit (a third of the lease's TTL: renewed every quarter, the lease may
// lapse three quarters of the TTL after a stall began) engages the
// fence. Executors look at the fence before each batch, spout call or
// tick; they also engage it themselves when the watchdog's last beat is
// older than the limit, because after a stall every goroutine
// resumes at once and a task may run before the watchdog does. The node
// lifts the fence once its lease is confirmed (renewed, or the node
// registered again) and a read of the assignments after that has stopped
// the tasks that moved away.
//
// A node cut off from etcd alone, while the others reach it, loses its
// lease the same way, and its tasks move while it runs them. Nodes say by
// gossip whether their renewals succeed (MemberMeta.EtcdLost), and a node
// whose renewals fail while another node's succeed holds its tasks with
// the same fence a little before etcd can expire its lease (cutOff,
// checkCut): the node renews its lease itself and knows when it sent the
// last renewal etcd answered, and etcd counts the TTL from that
// renewal's arrival, so the fence holds before the leader can move a
// task (it held them only some 3 s after, when it waited for the lease to
// be lost first). The fence lifts once etcd confirms the tasks, or once
// the others lose etcd as well (an outage, in which no task can move: a
// node keeps its tasks running, since stopping every task of the cluster
// while etcd restarts would be worse).
//
// An executor looks at the fence before each batch and each tuple of it
// (a batch to a slow bolt can take seconds), but a tuple that is being
// executed finishes.

// stallBeat is how often a node's watchdog beats.
const stallBeat = 100 * time.Millisecond

// stallFence holds a node's tasks after the node stalled, or while it is
// cut off from etcd alone; nil holds none (local mode).
type stallFence struct {
	limit    int64        // a beat older than this (ns) is a stall
	lastBeat atomic.Int64 // router.Nanotime of the watchdog's last beat
	engaged  atomic.Bool

	mu     sync.Mutex
	lifted chan struct{} // closed when the fence lifts; made anew on engage
	// stalls counts the stalls (and cuts) that engaged the fence: a
	// confirmation lifts it only if none came since it began.
	stalls int
	// stalled: the node stalled since the fence engaged (not only cut
	// off), so only etcd's confirmation lifts it.
	stalled bool
	// engage tells the node to confirm its tasks (capacity 1).
	engage chan struct{}
}

func newStallFence(limit time.Duration) *stallFence {
	f := &stallFence{limit: int64(limit), lifted: make(chan struct{}), engage: make(chan struct{}, 1)}
	close(f.lifted)
	f.lastBeat.Store(router.Nanotime())
	return f
}

// beat records the watchdog's beat at now and reports the gap since the
// last one when it was a stall (0 otherwise), engaging the fence.
func (f *stallFence) beat(now int64) time.Duration {
	// Engaged before the beat is stored: an executor that looks in
	// between sees either the old beat or the fence.
	gap := now - f.lastBeat.Load()
	if gap > f.limit {
		f.hold()
	}
	f.lastBeat.Store(now)
	if gap <= f.limit {
		return 0
	}
	return time.Duration(gap)
}

// check is an executor's look at the fence at now: nil to go on, or a
// channel closed when the fence lifts.
func (f *stallFence) check(now int64) <-chan struct{} {
	switch {
	case f == nil:
		return nil
	case f.engaged.Load():
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.lifted // closed already if it lifted since
	case now-f.lastBeat.Load() > f.limit:
		return f.hold()
	}
	return nil
}

// hold engages the fence for a stall and returns the channel that
// lifting it closes.
func (f *stallFence) hold() <-chan struct{} { return f.engageFor(true) }

// holdCut engages the fence for a node cut off from etcd alone (see
// Peer.cutOff).
func (f *stallFence) holdCut() { f.engageFor(false) }

func (f *stallFence) engageFor(stall bool) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.engaged.Load():
		f.engaged.Store(true)
		f.lifted = make(chan struct{})
		f.stalls++
		f.stalled = stall
		select {
		case f.engage <- struct{}{}:
		default:
		}
	case stall:
		// A confirmation under way may predate this stall (its read of
		// the assignments made before the node froze again): whether the
		// fence was held for a cut or for an earlier stall, it must not
		// lift it.
		f.stalls++
		f.stalled = true
	}
	return f.lifted
}

// dropCut lifts a fence engaged only because the node was cut off from
// etcd alone, once that no longer seems so (the other nodes lost etcd
// too: an outage, in which no task can move). A fence a stall engaged
// waits for etcd.
func (f *stallFence) dropCut() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.engaged.Load() || f.stalled {
		return false
	}
	f.engaged.Store(false)
	close(f.lifted)
	return true
}

// lift lets the executors go on unless the node stalled again since the
// stall count was stalls (the confirmation may predate the new stall),
// and reports whether it did.
func (f *stallFence) lift(stalls int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalls != stalls {
		return false
	}
	if f.engaged.Load() {
		f.engaged.Store(false)
		f.stalled = false
		close(f.lifted)
	}
	return true
}

// held reports whether the fence is engaged.
func (f *stallFence) held() bool { return f != nil && f.engaged.Load() }

// why says why the fence holds the node's tasks (galev1.NodeRun.held),
// or "" while it does not.
func (f *stallFence) why() string {
	if !f.held() {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.engaged.Load():
		return ""
	case f.stalled:
		return "the node stalled; its tasks wait until etcd confirms they are still its own"
	}
	return "the node cannot renew its lease in etcd while other nodes can; its tasks wait until etcd confirms they are still its own"
}

// stallCount returns how many stalls engaged the fence.
func (f *stallFence) stallCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stalls
}

// passFence is an executor's look at its node's stall fence before it
// executes, calls its spout or ticks: it waits while the fence holds, and
// returns false if the task stopped meanwhile (it moved away).
func (e *executor) passFence(ctx context.Context) bool {
	if e.rt.fence == nil {
		return true
	}
	// The clock now, not e.now: an executor woken by a tick after a stall
	// last read it before it slept, before the watchdog's last beat.
	lifted := e.rt.fence.check(router.Nanotime())
	if lifted == nil {
		return true
	}
	e.stats.publish(&e.t.counters)
	select {
	case <-lifted:
		e.now = router.Nanotime()
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// watchStalls is the node's watchdog: it beats every stallBeat, and a beat
// that comes more than the stall limit late engages the fence (fence.go).
func (p *Peer) watchStalls(ctx context.Context) {
	tick := time.NewTicker(stallBeat)
	defer tick.Stop()
	p.fence.lastBeat.Store(router.Nanotime()) // the node's start was no stall
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if gap := p.fence.beat(router.Nanotime()); gap > 0 {
			p.log.Warn("this node stalled; its tasks wait until etcd confirms they are still its own",
				"stalled", gap.Round(time.Millisecond).String(), "limit", time.Duration(p.fence.limit).String())
		}
		p.checkCut(router.Nanotime())
	}
}

// cutMargin is how long before the earliest expiry of its lease
// (leaseUntil) a node cut off from etcd alone holds its tasks: the
// watchdog's beat, and an executor's batch, come a little after the
// moment (a tenth of the TTL, at least 300 ms).
func (p *Peer) cutMargin() time.Duration { return max(p.cfg.LeaseTTL/10, 300*time.Millisecond) }

// checkCut engages the fence, at now (router.Nanotime), while the node
// seems cut off from etcd alone (cutOff) and its lease may expire within
// cutMargin: before etcd can expire it, and so before the leader can give
// its tasks to other nodes. It lifts a fence so engaged once the other
// nodes lost etcd too (an outage). Nothing else lifts it here: a node
// whose renewals are answered again is no longer seen cut off, but its
// tasks may have moved while it was, and its fence waits for
// confirmAfterStall, which lifts it after a sync has stopped them. Nor
// does an outage that began after the lease may have expired
// (renewedAfter): the tasks may have moved before it.
func (p *Peer) checkCut(now int64) {
	until := p.leaseUntil.Load()
	if until == 0 || now < until-int64(p.cutMargin()) {
		return
	}
	switch cut, outage := p.cutOff(); {
	case cut && !p.fence.held():
		p.fence.holdCut()
		p.log.Warn("this node cannot renew its lease in etcd while other nodes renew theirs: its tasks, which the leader moves if the lease expires, wait until etcd confirms them",
			"lease_left", time.Duration(until-now).Round(time.Millisecond).String())
	case outage && p.fence.held() && !p.renewedAfter(until, now) && p.fence.dropCut():
		p.log.Info("the other nodes cannot reach etcd either (an outage: no task can move); this node's tasks go on")
	}
}

// cutOff reports whether this node, whose lease may be about to expire,
// seems cut off from etcd while the cluster still reaches it (cut): some
// other node gossip knows renews its lease (MemberMeta.EtcdLost is 0).
// Any such node can lead, or become the leader, and move this node's
// tasks once its lease expires, so they must not run here from then on.
// In an outage no node renews its lease, every node says so by gossip
// within a renewal and a gossip round of the others, and no task can
// move: outage reports that (no other node says it renews), and a node
// that knows no other (alone, or cut off from gossip too) cannot tell
// and keeps its tasks running, as a node without etcd does.
func (p *Peer) cutOff() (cut, outage bool) {
	for _, m := range p.gossip.Members() {
		if m.Name != p.cfg.Name && m.Meta.EtcdLost == 0 {
			return true, false
		}
	}
	return false, true
}

// renewedAfter reports whether some other node gossip knows says its
// renewals began to fail (MemberMeta.EtcdLost, Unix ms) after this
// node's lease could expire, at until (router.Nanotime; now is the
// clock now): that node reached etcd, and could lead, after the lease
// may have expired, so this node's tasks may have moved before the
// outage began, and only etcd can say which are still its own (a node
// cut off alone whose tasks moved to the others ran its old copies
// beside the new ones for as long as an outage that came later lasted).
// In an outage that cut every node off at once, each began to fail
// within a renewal of the others, before any lease could expire.
func (p *Peer) renewedAfter(until, now int64) bool {
	expiry := time.Now().Add(time.Duration(until - now)).UnixMilli()
	for _, m := range p.gossip.Members() {
		if m.Name != p.cfg.Name && m.Meta.EtcdLost > expiry {
			return true
		}
	}
	return false
}

// confirmAfterStall lifts the stall fence once the node's lease is
// confirmed (renewed, or registered again by keepAlive) and a sync after
// that has stopped the tasks the leader gave to other nodes meanwhile. It
// tries until it can or the node stops: while etcd does not answer, the
// tasks wait.
func (p *Peer) confirmAfterStall(ctx context.Context) {
	since := time.Now()
	var lastErr string
	for ctx.Err() == nil && p.fence.held() {
		stalls := p.fence.stallCount()
		var err error
		if p.etcdLostAt.Load() != 0 {
			// keepAlive stores the new lease before it writes the
			// node's key: the lease alone is no registration.
			err = errors.New("the node is not registered again yet")
		} else if err = p.confirmLease(ctx); err == nil {
			err = p.sync(ctx)
			if until := p.leaseUntil.Load(); err == nil && router.Nanotime() >= until-int64(p.cutMargin()) {
				// A sync slower than the lease's margin: the lease
				// renewed before it may be about to expire again.
				err = errors.New("the lease renewed before the read of the assignments may expire")
			}
		}
		if err == nil {
			if p.fence.lift(stalls) {
				p.log.Info("tasks confirmed after a stall; those still here go on", "waited", time.Since(since).Round(time.Millisecond).String())
				return
			}
			continue // it stalled again meanwhile: confirm again
		}
		if msg := err.Error(); msg != lastErr && ctx.Err() == nil {
			lastErr = msg
			p.log.Warn("after a stall, cannot confirm this node's tasks with etcd yet; they wait", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// confirmLease renews the node's lease once: it fails while etcd does not
// answer, and while the lease is lost and keepAlive has not registered
// the node again.
func (p *Peer) confirmLease(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.renewLease(cctx, clientv3.LeaseID(p.lease.Load())); err != nil {
		return fmt.Errorf("renew the node's lease: %w", err)
	}
	return nil
}
