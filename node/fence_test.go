package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/coordinator/etcdtest"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

func TestStallFence(t *testing.T) {
	const limit = int64(time.Second)
	var none *stallFence
	if none.check(router.Nanotime()) != nil || none.held() {
		t.Fatal("a nil fence (local mode) holds tasks")
	}
	f := newStallFence(time.Duration(limit))
	start := f.lastBeat.Load()
	if c := f.check(start + limit/2); c != nil {
		t.Fatal("the fence holds tasks half a limit after a beat")
	}
	if gap := f.beat(start + limit/2); gap != 0 || f.held() {
		t.Fatalf("a beat on time reported a stall of %v (held %v)", gap, f.held())
	}
	// The watchdog was late: the fence engages, once.
	if gap := f.beat(start + limit/2 + 3*limit); gap != time.Duration(3*limit) || !f.held() {
		t.Fatalf("a beat 3 limits late: stall %v, held %v", gap, f.held())
	}
	lifted := f.check(start + 4*limit)
	if lifted == nil || f.stallCount() != 1 || len(f.engage) != 1 {
		t.Fatalf("held fence: check %v, stalls %d, engage signals %d", lifted, f.stallCount(), len(f.engage))
	}
	<-f.engage
	// A confirmation made before another stall does not lift the fence.
	seen := f.stallCount()
	if !f.lift(seen) || f.held() {
		t.Fatal("lift with the current stall count left the fence held")
	}
	select {
	case <-lifted:
	default:
		t.Fatal("lifting did not release the waiting tasks")
	}
	// An executor sees the watchdog's last beat too old before the
	// watchdog runs: it engages the fence itself.
	last := f.lastBeat.Load()
	if f.check(last+2*limit) == nil || !f.held() || f.stallCount() != 2 {
		t.Fatalf("an executor after a stall went on (held %v, stalls %d)", f.held(), f.stallCount())
	}
	if f.lift(seen) || !f.held() {
		t.Fatal("a confirmation from before the second stall lifted the fence")
	}
	if !f.lift(f.stallCount()) || f.held() {
		t.Fatal("the second confirmation did not lift the fence")
	}

	// Cut off from etcd alone: the fence holds until the node is no
	// longer (dropCut), and executors waiting on it do not make it a
	// stall's.
	f.holdCut()
	if c := f.check(f.lastBeat.Load()); c == nil || !f.held() {
		t.Fatal("a cut-off node's tasks went on")
	}
	if !f.dropCut() || f.held() {
		t.Fatal("dropCut did not lift a fence held for a cut alone")
	}
	// A stall while cut off: only etcd's confirmation lifts it.
	f.holdCut()
	f.beat(f.lastBeat.Load() + 2*limit)
	if f.dropCut() || !f.held() {
		t.Fatal("dropCut lifted a fence that a stall held too")
	}
	if !f.lift(f.stallCount()) || f.held() {
		t.Fatal("the confirmation did not lift the fence")
	}
}

// A node that stalled (its goroutines frozen: SIGSTOP, a paused VM) may
// have had its tasks moved to other nodes meanwhile: its tasks wait until
// etcd confirms them, and while etcd does not answer they wait on. (A node
// that only lost etcd goes on: TestNodeRecoversFromEtcdRestart.)
func TestAStalledNodesTasksWaitForEtcd(t *testing.T) {
	srv := etcdtest.StartServer(t)
	p := startPeer(t, "solo", srv.Endpoints()...)
	client, _ := dialPeer(t, p)
	sunk := submitEndless(t, client, 0.05)
	srv.Stop()
	// The node stalls: its watchdog's last beat is far behind, as after
	// a SIGSTOP (the test cannot freeze the test binary's goroutines).
	p.fence.lastBeat.Store(router.Nanotime() - 10*p.fence.limit)
	var held int
	waitFor(t, 10*time.Second, func() error {
		if !p.fence.held() {
			return errors.New("the fence is not held")
		}
		n := sunk()
		time.Sleep(200 * time.Millisecond)
		if m := sunk(); m != n {
			return fmt.Errorf("still sinking: %d -> %d", n, m)
		}
		held = n
		return nil
	})
	time.Sleep(time.Second)
	if n := sunk(); n != held || !p.fence.held() {
		t.Fatalf("the stalled node's tasks went on without etcd: sunk %d -> %d (fence held: %v)", held, n, p.fence.held())
	}
	srv.Restart(t)
	waitFor(t, 20*time.Second, func() error {
		if p.fence.held() {
			return errors.New("the fence still holds")
		}
		if n := sunk(); n <= held {
			return fmt.Errorf("sunk %d, not more than %d", n, held)
		}
		return nil
	})
	if s := p.fence.stallCount(); s < 1 {
		t.Errorf("stalls %d, want at least 1", s)
	}
}

// localExecuted is what the bolts of topology name on p executed (not
// its ackers, which are not held: acks for trees of other nodes' spouts
// have no effect but on those trees).
func localExecuted(p *Peer, name string) uint64 {
	p.mu.Lock()
	run := p.runs[name]
	p.mu.Unlock()
	if run == nil || run.rt == nil {
		return 0
	}
	var n uint64
	for _, st := range run.rt.TaskStats() {
		if st.Component != sdk.AckerComponent {
			n += st.Counters.Executed
		}
	}
	return n
}

// A node cut off from etcd alone, while the other nodes still reach it,
// loses its lease, and the leader moves its tasks: the node's copies must
// not run beside the new ones. It sees by gossip that the others still
// hold their leases and holds its tasks until etcd confirms them; when it
// reaches etcd again, it stops those that moved and goes on.
func TestANodeCutOffFromEtcdAloneHoldsItsTasks(t *testing.T) {
	a := startPeer(t, "a")
	proxy := etcdtest.StartProxy(t, strings.TrimPrefix(a.EtcdEndpoints()[0], "http://"))
	join := func(etcd string) func(*PeerConfig) {
		return func(cfg *PeerConfig) { cfg.Etcd, cfg.Join = []string{etcd}, []string{a.GossipAddr()} }
	}
	b := startPeerWith(t, "b", join("http://"+proxy.Addr()))
	c := startPeerWith(t, "c", join(a.EtcdEndpoints()[0]))
	client, _ := dialPeer(t, a)
	ctx := context.Background()
	waitForNodes(t, client, 3)
	submitSpread(t, client, "cut")
	waitExecuting(t, b, "cut")
	proxy.SetCut(true)
	// b holds its tasks a little before its lease can expire (3 s after
	// its last renewal); then the leader moves them to a and c.
	// (Tasks publish their counters every few batches, and a task blocked
	// in a send publishes when it reaches the fence: the counts settle
	// a little after the fence holds.)
	var held uint64
	waitFor(t, 15*time.Second, func() error {
		if !b.fence.held() {
			return errors.New("b's fence is not held")
		}
		n := localExecuted(b, "cut")
		time.Sleep(time.Second)
		if m := localExecuted(b, "cut"); m != n {
			return fmt.Errorf("b still executes: %d -> %d", n, m)
		}
		held = n
		return nil
	})
	if a.fence.held() || c.fence.held() {
		t.Fatalf("the fence holds on nodes that reach etcd: a %v, c %v", a.fence.held(), c.fence.held())
	}
	// gale status shows b's run held, and why (b answers the status
	// request over gRPC; it cannot reach etcd, which the request does not
	// need).
	status, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "cut"})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range status.GetRuns() {
		if held := run.GetHeld(); (run.GetNode() == "b") != strings.Contains(held, "cannot renew its lease") {
			t.Errorf("%s's run says it is held for %q", run.GetNode(), held)
		}
	}
	// The moved tasks run on a and c; no copy left on b ran after them.
	st, _ := states.Load(t.Name())
	state := st.(*testState)
	waitFor(t, 15*time.Second, state.restartedElsewhere)
	time.Sleep(time.Second)
	if n := localExecuted(b, "cut"); n != held {
		t.Fatalf("b's tasks ran while it was cut off: executed %d -> %d", held, n)
	}
	if n := state.staleRuns.Load(); n != 0 {
		t.Fatalf("b's tasks executed %d tuples after their new copies on other nodes had begun", n)
	}
	proxy.SetCut(false)
	waitFor(t, 20*time.Second, func() error {
		if b.fence.held() {
			return errors.New("b's fence still holds")
		}
		nodes, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
		if err != nil || len(nodes.GetNodes()) != 3 {
			return fmt.Errorf("nodes %v, %v", nodes.GetNodes(), err)
		}
		return nil
	})
}

// waitExecuting waits until p's tasks of topology name execute tuples.
func waitExecuting(t *testing.T, p *Peer, name string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if n := localExecuted(p, name); n == 0 {
			return fmt.Errorf("%s executed nothing yet", p.cfg.Name)
		}
		return nil
	})
}

// submitSpread submits an endless topology of three tasks of each
// component (a spout, a pass bolt taking 0.1 ms a tuple, a sink) and
// three ackers, for three nodes.
func submitSpread(t *testing.T, client galev1.CoordinatorServiceClient, name string) {
	t.Helper()
	tp := newTopo(t, map[string]any{"test.count": 1 << 40, KeyAckers: 3}).
		spout("seq", "test.Seq", 3, "id").
		bolt("pass", "test.Pass", 3, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 3, nil, "pass:shuffle").
		conf("pass", map[string]any{"test.sleep": 0.1})
	tp.s.Name = name
	if _, err := client.SubmitTopology(context.Background(), &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
}

// In an etcd outage no node renews its lease and no task can move: the
// nodes, each seeing by gossip that the others cannot renew either, keep
// their tasks running (a fence engaged for a moment is dropped), and
// once etcd is back every task is where it was, started once.
func TestTasksRunOnThroughAnEtcdOutage(t *testing.T) {
	srv := etcdtest.StartServer(t)
	a := startPeer(t, "a", srv.Endpoints()...)
	join := func(cfg *PeerConfig) { cfg.Etcd, cfg.Join = srv.Endpoints(), []string{a.GossipAddr()} }
	peers := []*Peer{a, startPeerWith(t, "b", join), startPeerWith(t, "c", join)}
	client, _ := dialPeer(t, a)
	waitForNodes(t, client, 3)
	submitSpread(t, client, "outage")
	executed := func() (n uint64) {
		for _, p := range peers {
			n += localExecuted(p, "outage")
		}
		return n
	}
	var before map[int32]string
	waitFor(t, 10*time.Second, func() (err error) {
		if executed() == 0 {
			return errors.New("nothing executed yet")
		}
		before, err = taskNodes(client, "outage")
		return err
	})
	state := stateFor(t)
	starts := state.startCounts()
	srv.Stop()
	// Every node loses its lease (etcd's TTL is 3 s); their fences, if
	// any engaged before the others' gossip came, are dropped.
	waitFor(t, 15*time.Second, func() error {
		for _, p := range peers {
			if p.etcdLostAt.Load() == 0 {
				return fmt.Errorf("%s has not lost its lease yet", p.cfg.Name)
			}
			if p.fence.held() {
				return fmt.Errorf("%s holds its tasks in an outage", p.cfg.Name)
			}
		}
		return nil
	})
	n := executed()
	waitFor(t, 10*time.Second, func() error {
		if m := executed(); m <= n {
			return fmt.Errorf("nothing executed during the outage: %d -> %d", n, m)
		}
		return nil
	})
	srv.Restart(t)
	waitFor(t, 20*time.Second, func() error {
		for _, p := range peers {
			if p.etcdLostAt.Load() != 0 || p.fence.held() {
				return fmt.Errorf("%s: lease lost %v, fence held %v", p.cfg.Name, p.etcdLostAt.Load() != 0, p.fence.held())
			}
		}
		return nil
	})
	after, err := taskNodes(client, "outage")
	if err != nil {
		t.Fatal(err)
	}
	now := state.startCounts()
	for task, node := range before {
		if after[task] != node || now[task] != starts[task] {
			t.Errorf("task %d: on %s, then on %s; started %d times, then %d", task, node, after[task], starts[task], now[task])
		}
	}
	if n := state.staleRuns.Load(); n != 0 {
		t.Errorf("%d tuples executed by a task's old copy beside its new one", n)
	}
}

// A node that stalls again while a confirmation of its first stall is
// under way (after the confirmation's read of the assignments, which the
// leader may have changed during the second stall) keeps its fence: the
// confirmation predates the stall.
func TestAStallDuringAConfirmationKeepsTheFence(t *testing.T) {
	const limit = int64(time.Second)
	f := newStallFence(time.Duration(limit))
	f.beat(f.lastBeat.Load() + 2*limit) // the first stall engages the fence
	<-f.engage
	seen := f.stallCount() // confirmAfterStall starts
	// The node freezes again before the confirmation lifts the fence; the
	// watchdog's first beat after it finds the fence still held.
	if gap := f.beat(f.lastBeat.Load() + 5*limit); gap == 0 {
		t.Fatal("the second stall was not seen")
	}
	if f.lift(seen) || !f.held() {
		t.Fatal("a confirmation made before the second stall lifted the fence")
	}
	if !f.lift(f.stallCount()) || f.held() {
		t.Fatal("a confirmation after the second stall did not lift the fence")
	}
}

// othersLost is node b's gossip view of a three-node cluster: a and c
// say their renewals fail since lost (Unix ms; 0: they renew).
func othersLost(lost int64) *Membership {
	return &Membership{members: map[string]Member{
		"a": {Name: "a", Meta: MemberMeta{EtcdLost: lost}},
		"b": {Name: "b"},
		"c": {Name: "c", Meta: MemberMeta{EtcdLost: lost}},
	}}
}

// cutTestPeer is node b with what checkCut reads: its fence, its gossip
// (a and c renew) and its lease's TTL (3 s).
func cutTestPeer() *Peer {
	return &Peer{cfg: PeerConfig{Name: "b", LeaseTTL: 3 * time.Second}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		fence: newStallFence(time.Second), gossip: othersLost(0)}
}

// A node cut off from etcd alone holds its tasks a little before etcd
// can expire its lease, not after; and once it reaches etcd again (or
// loses it again at once) it keeps them held until a sync has stopped
// those the leader moved meanwhile (confirmAfterStall): its lease back,
// it no longer seems cut off, and the watchdog lifted the fence at once,
// so that the moved tasks ran beside their new copies until the next
// sync. Only the others' losing etcd too (an outage) lifts it without
// etcd.
func TestACutOffNodeHoldsBeforeItsLeaseCanExpire(t *testing.T) {
	p := cutTestPeer()
	now := router.Nanotime()
	p.leaseUntil.Store(now + int64(time.Second)) // renewals failing: a second left
	p.checkCut(now)
	if p.fence.held() {
		t.Fatal("the fence holds a second before the lease can expire")
	}
	p.checkCut(now + int64(time.Second-p.cutMargin()))
	if !p.fence.held() {
		t.Fatalf("a node cut off from etcd alone does not hold its tasks %v before its lease can expire", p.cutMargin())
	}
	p.leaseUntil.Store(now + int64(3*time.Second)) // renewed again
	p.checkCut(now)
	if !p.fence.held() {
		t.Fatal("the fence lifted when the node renewed its lease, before a sync stopped the tasks that moved")
	}
	p.leaseUntil.Store(now) // and lost it again at once
	p.checkCut(now)
	if !p.fence.held() {
		t.Fatal("the fence lifted when the node lost its lease again, before a sync stopped the tasks that moved")
	}
	p.gossip = othersLost(time.Now().UnixMilli()) // the others lose etcd too: an outage
	p.checkCut(now)
	if p.fence.held() {
		t.Fatal("the fence still holds while every node lost etcd")
	}
}

// A node cut off from etcd alone whose lease may have expired while
// another node still renewed its own (the leader may have moved its
// tasks) keeps them held when the others lose etcd later: an outage
// that begins after the tasks moved does not give them back, and the
// old copies must not run beside the new ones until etcd confirms which
// are this node's (they ran on, for the whole outage).
func TestACutOffNodeWhoseTasksMayHaveMovedStaysHeldInALaterOutage(t *testing.T) {
	p := cutTestPeer()
	now := router.Nanotime()
	p.leaseUntil.Store(now + int64(p.cutMargin()/2))
	p.checkCut(now)
	if !p.fence.held() {
		t.Fatal("a node cut off from etcd alone does not hold its tasks")
	}
	// 5 s on, a and c still renew: b's lease has expired, its tasks moved.
	now += int64(5 * time.Second)
	p.checkCut(now)
	// Then etcd goes away for everyone.
	p.gossip = othersLost(time.Now().UnixMilli())
	p.checkCut(now + int64(time.Second))
	if !p.fence.held() {
		t.Fatal("the fence lifted in an outage that began after the node's tasks may have moved to other nodes")
	}
}

// A node whose lease may expire holds its tasks if any other node it
// knows renews its lease (that node can lead and move them), and keeps
// them running in an outage (no other node renews) or alone.
func TestCutOff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		othersLost []bool
		cut        bool
	}{
		{"alone", nil, false},
		{"one other renews", []bool{false}, true},
		{"the only other lost etcd too", []bool{true}, false},
		{"one of two others renews", []bool{true, false}, true},
		{"every other lost etcd", []bool{true, true, true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Membership{members: map[string]Member{"self": {Name: "self"}}}
			for i, lost := range tc.othersLost {
				var at int64
				if lost {
					at = time.Now().UnixMilli()
				}
				name := fmt.Sprint("n", i)
				m.members[name] = Member{Name: name, Meta: MemberMeta{EtcdLost: at}}
			}
			p := &Peer{cfg: PeerConfig{Name: "self"}, gossip: m}
			if cut, outage := p.cutOff(); cut != tc.cut || outage == tc.cut {
				t.Fatalf("cutOff() = %v, %v; want cut %v", cut, outage, tc.cut)
			}
		})
	}
}

// An executor that slept before a stall (an idle bolt with a tick) and is
// woken by its ticker after it, before the watchdog beats, holds: its own
// clock, read before it slept, is older than the watchdog's last beat.
func TestAnExecutorWokenAfterAStallHolds(t *testing.T) {
	const limit = int64(time.Second)
	f := newStallFence(time.Duration(limit))
	beat := router.Nanotime() - 5*limit // the watchdog's last beat, before the stall
	f.lastBeat.Store(beat)
	e := &executor{rt: &Runtime{fence: f}, t: &task{}}
	e.now = beat - limit/10 // the bolt went to sleep a little before that beat
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the test does not wait for a lift
	if e.passFence(ctx) {
		t.Fatal("a tick after a stall went on before etcd confirmed the task")
	}
	if !f.held() {
		t.Fatal("the executor did not engage the fence")
	}
}

// The same on three nodes: b is cut off from etcd alone, the leader
// moves its tasks to a and c; then etcd stops for everyone. b's old
// copies must stay held beside the new ones on a and c.
func TestAnOutageAfterACutDoesNotRestartTheMovedTasks(t *testing.T) {
	srv := etcdtest.StartServer(t)
	proxy := etcdtest.StartProxy(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	a := startPeer(t, "a", srv.Endpoints()...)
	join := func(etcd string) func(*PeerConfig) {
		return func(cfg *PeerConfig) { cfg.Etcd, cfg.Join = []string{etcd}, []string{a.GossipAddr()} }
	}
	b := startPeerWith(t, "b", join("http://"+proxy.Addr()))
	startPeerWith(t, "c", join(srv.Endpoints()[0]))
	client, _ := dialPeer(t, a)
	waitForNodes(t, client, 3)
	submitSpread(t, client, "cutthenout")
	waitExecuting(t, b, "cutthenout")
	proxy.SetCut(true)
	state := stateFor(t)
	// b's tasks move to a and c.
	waitFor(t, 20*time.Second, func() error {
		if !b.fence.held() {
			return errors.New("b's fence is not held")
		}
		return state.restartedElsewhere()
	})
	time.Sleep(time.Second)
	srv.Stop() // and etcd stops for everyone
	time.Sleep(6 * time.Second)
	if n := state.staleRuns.Load(); n != 0 || !b.fence.held() {
		t.Fatalf("b's fence held %v; its old copies executed %d tuples beside the new ones", b.fence.held(), n)
	}
}
