package coordinator

import (
	"context"
	"errors"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/spec"
)

// balancing lets a node that joins take the topology's running tasks
// (spec.KeyBalanceOnJoin), for the tests of how the leader moves them.
func balancing(s *galev1.TopologySpec) *galev1.TopologySpec {
	s.Config = map[string]*galev1.Value{spec.KeyBalanceOnJoin: {Kind: &galev1.Value_BoolValue{BoolValue: true}}}
	return s
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startLeader(t *testing.T, s *Store, name string) (*Leader, context.CancelFunc) {
	t.Helper()
	return startLeaderWith(t, s, DefaultLeaderConfig(name))
}

// startLeaderWith runs a leader with cfg (quiet) until the test ends or the
// returned stop is called.
func startLeaderWith(t *testing.T, s *Store, cfg LeaderConfig) (*Leader, context.CancelFunc) {
	t.Helper()
	cfg.Log = quietLog()
	l, err := NewLeader(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return l, stop
}

func assignment(s *Store, name string) (*galev1.Assignment, error) {
	all, _, err := s.Assignments(context.Background())
	if err != nil {
		return nil, err
	}
	a := all[name]
	if a == nil {
		return nil, fmt.Errorf("no assignment for %s", name)
	}
	return a, nil
}

func perNode(a *galev1.Assignment) map[string]int {
	m := map[string]int{}
	for _, n := range a.GetTasks() {
		m[n]++
	}
	return m
}

func TestLeaderAssignsStablyAsNodesComeAndGo(t *testing.T) {
	forEachEtcd(t, testLeaderAssignsStablyAsNodesComeAndGo)
}

func testLeaderAssignsStablyAsNodesComeAndGo(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	l1 := registerNode(t, s, "n1", 1)
	registerNode(t, s, "n2", 1)
	startLeader(t, s, "n1")
	// 2+2+2 tasks and 1 acker: 7 tasks.
	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: balancing(testSpec("wc", 2, 2, 2)), Id: "wc-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	var first *galev1.Assignment
	waitFor(t, 10*time.Second, func() error {
		a, err := assignment(s, "wc")
		if err != nil {
			return err
		}
		if len(a.GetTasks()) != 7 {
			return fmt.Errorf("%d tasks assigned", len(a.GetTasks()))
		}
		first = a
		return nil
	})
	if c := perNode(first); c["n1"]+c["n2"] != 7 || c["n1"] < 3 || c["n2"] < 3 {
		t.Fatalf("unbalanced: %v", c)
	}
	if first.GetTopologyId() != "wc-1" || first.GetLeader() != "n1" {
		t.Fatalf("assignment %v", first)
	}

	// A third node joins: it takes its share, nothing else moves.
	registerNode(t, s, "n3", 1)
	var second *galev1.Assignment
	waitFor(t, 10*time.Second, func() error {
		a, err := assignment(s, "wc")
		if err != nil {
			return err
		}
		if perNode(a)["n3"] == 0 {
			return errors.New("n3 got nothing yet")
		}
		second = a
		return nil
	})
	for task, node := range second.GetTasks() {
		if node != "n3" && first.GetTasks()[task] != node {
			t.Fatalf("task %d moved from %s to %s, not to the new node", task, first.GetTasks()[task], node)
		}
	}
	if c := perNode(second); c["n3"] < 2 || c["n1"] > 3 || c["n2"] > 3 {
		t.Fatalf("after join: %v", c)
	}

	// n1's lease ends (the node died): only its tasks move.
	if _, err := s.Client().Revoke(ctx, l1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		a, err := assignment(s, "wc")
		if err != nil {
			return err
		}
		if perNode(a)["n1"] != 0 {
			return errors.New("n1 still has tasks")
		}
		for task, node := range a.GetTasks() {
			if was := second.GetTasks()[task]; was != "n1" && was != node {
				return fmt.Errorf("task %d moved from live node %s to %s", task, was, node)
			}
		}
		return nil
	})

	// Killing the topology removes its assignment.
	if err := s.UpdateTopology(ctx, "wc", func(r *galev1.TopologyRecord) error {
		r.State = galev1.TopologyState_TOPOLOGY_STATE_KILLED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if _, err := assignment(s, "wc"); err == nil {
			return errors.New("assignment still there")
		}
		if _, err := s.Topology(ctx, "wc"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("killed topology record: %v", err)
		}
		return nil
	})
}

func TestFencedWriteFailsOnceDeposed(t *testing.T) { forEachEtcd(t, testFencedWriteFailsOnceDeposed) }

func testFencedWriteFailsOnceDeposed(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	registerNode(t, s, "a", 1)
	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: balancing(testSpec("t", 1)), Id: "t-1"}); err != nil {
		t.Fatal(err)
	}
	la, err := NewLeader(s, LeaderConfig{Name: "a", SessionTTL: time.Second, Resync: time.Hour, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	sessA, err := concurrency.NewSession(s.Client(), concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	elA := concurrency.NewElection(sessA, electionPrefix)
	if err := elA.Campaign(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := la.Reconcile(ctx, elA); err != nil {
		t.Fatalf("reconcile as leader: %v", err)
	}
	// a's session ends (as if it stalled past its TTL) and b is elected.
	sessA.Close()
	sessB, err := concurrency.NewSession(s.Client(), concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	defer sessB.Close()
	elB := concurrency.NewElection(sessB, electionPrefix)
	if err := elB.Campaign(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// a still believes it leads; its write must be refused.
	registerNode(t, s, "c", 1) // a change, so a would write
	err = la.Reconcile(ctx, elA)
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("deposed leader's reconcile = %v, want ErrNotLeader", err)
	}
	lb, _ := NewLeader(s, LeaderConfig{Name: "b", SessionTTL: time.Second, Resync: time.Hour, Log: quietLog()})
	if err := lb.Reconcile(ctx, elB); err != nil {
		t.Fatalf("new leader's reconcile: %v", err)
	}
	a, err := assignment(s, "t")
	if err != nil || a.GetLeader() != "b" {
		t.Fatalf("assignment %v, %v: want one written by b", a, err)
	}
}

func TestOneLeaderAtATimeAndFailover(t *testing.T) { forEachEtcd(t, testOneLeaderAtATimeAndFailover) }

func testOneLeaderAtATimeAndFailover(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	leaders := map[string]*Leader{}
	stops := map[string]context.CancelFunc{}
	for _, n := range []string{"x", "y", "z"} {
		leaders[n], stops[n] = startLeader(t, s, n)
	}
	current := func() (string, error) {
		var who []string
		for n, l := range leaders {
			if l.IsLeader() {
				who = append(who, n)
			}
		}
		if len(who) != 1 {
			return "", fmt.Errorf("%d leaders: %v", len(who), who)
		}
		return who[0], nil
	}
	var first string
	waitFor(t, 10*time.Second, func() (err error) { first, err = current(); return err })
	if got, err := leaders["x"].CurrentLeader(context.Background()); err != nil || got != first {
		t.Fatalf("CurrentLeader = %q, %v; want %q", got, err, first)
	}
	stops[first]()
	delete(leaders, first)
	start := time.Now()
	var second string
	waitFor(t, 10*time.Second, func() (err error) { second, err = current(); return err })
	if second == first {
		t.Fatalf("leadership did not move")
	}
	t.Logf("leadership moved from %s to %s in %v", first, second, time.Since(start).Round(time.Millisecond))
}

func TestLeaderMarksAFinishedRunFinished(t *testing.T) {
	forEachEtcd(t, testLeaderMarksAFinishedRunFinished)
}

// testLeaderMarksAFinishedRunFinished: once the nodes' reports for the
// current run cover every spout and bolt task (ackers never end), the
// leader marks the topology FINISHED and its assignment no longer changes:
// a node joining later gets none of its tasks. Reports of another run, or
// that leave a task out, change nothing.
func testLeaderMarksAFinishedRunFinished(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	registerNode(t, s, "n1", 1)
	registerNode(t, s, "n2", 1)
	l, _ := startLeader(t, s, "n1")
	// Tasks 1-2 and 3 are c0 and c1; task 4 is the acker.
	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: balancing(testSpec("fin", 2, 1)), Id: "fin-2", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error { _, err := assignment(s, "fin"); return err })
	state := func() galev1.TopologyState {
		rec, err := s.Topology(ctx, "fin")
		if err != nil {
			t.Fatal(err)
		}
		return rec.GetState()
	}
	// A stale run's report and an incomplete one.
	if err := s.ReportFinished(ctx, "fin", "n2", "fin-1", []int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportFinished(ctx, "fin", "n1", "fin-2", []int32{1}); err != nil {
		t.Fatal(err)
	}
	// A node joining makes the leader reconcile: still running.
	registerNode(t, s, "n3", 1)
	waitFor(t, 10*time.Second, func() error {
		a, err := assignment(s, "fin")
		if err != nil {
			return err
		}
		if perNode(a)["n3"] == 0 {
			return fmt.Errorf("n3 got no task: %v", a.GetTasks())
		}
		return nil
	})
	if st := state(); st != galev1.TopologyState_TOPOLOGY_STATE_ACTIVE {
		t.Fatalf("state %v before every task finished", st)
	}
	// n1 reports again (reports add up), n2 for this run: all done.
	reported := time.Now()
	if err := s.ReportFinished(ctx, "fin", "n1", "fin-2", []int32{2}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportFinished(ctx, "fin", "n2", "fin-2", []int32{3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if st := state(); st != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			return fmt.Errorf("state %v", st)
		}
		return nil
	})
	// The record says when, for the topology's uptime to stop there.
	if rec, err := s.Topology(ctx, "fin"); err != nil {
		t.Fatal(err)
	} else if ms := rec.GetFinishedUnixMillis(); ms < reported.UnixMilli() || ms > time.Now().UnixMilli() {
		t.Errorf("finished at %d, want between %d and now", ms, reported.UnixMilli())
	}
	last, err := assignment(s, "fin")
	if err != nil {
		t.Fatal(err)
	}
	before := l.Reconciles()
	registerNode(t, s, "n4", 1)
	waitFor(t, 10*time.Second, func() error {
		if l.Reconciles() == before {
			return errors.New("no reconcile yet")
		}
		return nil
	})
	// The last assignment stays as it was: where the tasks ran.
	a, err := assignment(s, "fin")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(a.GetTasks(), last.GetTasks()) || a.GetVersion() != last.GetVersion() || state() != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
		t.Fatalf("after n4 joined: assignment %v (was %v), state %v", a.GetTasks(), last.GetTasks(), state())
	}
}

func TestLeaderFinishesAKillItsNodeLeft(t *testing.T) {
	forEachEtcd(t, testLeaderFinishesAKillItsNodeLeft)
}

// testLeaderFinishesAKillItsNodeLeft: a kill with a wait is recorded in the
// topology (deactivated, kill_at_unix_millis) by the node that took the
// request, which then waits. If that node dies during the wait, nobody
// marks the topology killed; the leader does once the wait is over (plus
// killGrace), woken by the kill's time rather than its resync.
func testLeaderFinishesAKillItsNodeLeft(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	registerNode(t, s, "n1", 2)
	cfg := DefaultLeaderConfig("n1")
	cfg.Resync = time.Hour // only the kill's timer can finish it in time
	l, _ := startLeaderWith(t, s, cfg)

	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: testSpec("doomed", 1, 1), Id: "doomed-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, SubmittedUnixMillis: 7}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error { _, err := assignment(s, "doomed"); return err })

	// What KillTopology does before its wait; the node then "dies": no one
	// marks the topology killed.
	svc := NewService(s, l, nil, nil)
	asked := time.Now()
	if _, err := svc.startKill(ctx, "doomed", 7, asked.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Topology(ctx, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetState() != galev1.TopologyState_TOPOLOGY_STATE_INACTIVE || rec.GetKillAtUnixMillis() == 0 {
		t.Fatalf("during the wait: state %v, kill at %d; want inactive with a kill time", rec.GetState(), rec.GetKillAtUnixMillis())
	}
	// A kill under way is not undone or changed by other commands.
	for what, err := range map[string]error{
		"activate":   svc.setState(ctx, "doomed", galev1.TopologyState_TOPOLOGY_STATE_ACTIVE),
		"deactivate": svc.setState(ctx, "doomed", galev1.TopologyState_TOPOLOGY_STATE_INACTIVE),
	} {
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "is being killed") {
			t.Errorf("%s during a kill: %v, want FailedPrecondition: is being killed", what, err)
		}
	}
	if _, err := svc.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: "doomed"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("rebalance during a kill: %v, want FailedPrecondition", err)
	}

	waitFor(t, 15*time.Second, func() error {
		if _, err := s.Topology(ctx, "doomed"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("record still there (%v)", err)
		}
		if _, err := assignment(s, "doomed"); err == nil {
			return errors.New("assignment still there")
		}
		return nil
	})
	took := time.Since(asked)
	if took < 2*time.Second {
		t.Fatalf("removed after %v, before the kill's wait of 2s was over", took)
	}
	t.Logf("the leader finished the kill %v after it was asked (wait 2s, grace %v)", took.Round(time.Millisecond), killGrace)
}

func TestIdleLeaderStaysIdle(t *testing.T) { forEachEtcd(t, testIdleLeaderStaysIdle) }

// testIdleLeaderStaysIdle: once its assignments are written, a leader with
// nothing to do does not reconcile again until something changes (its own
// writes and a far resync do not count). A leader that woke at once for
// "no kill under way" reconciled thousands of times a second, four etcd
// reads each, and took a third of its node's CPU from the tasks.
func testIdleLeaderStaysIdle(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	registerNode(t, s, "n1", 1)
	cfg := DefaultLeaderConfig("n1")
	cfg.Resync = time.Hour
	l, _ := startLeaderWith(t, s, cfg)
	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: testSpec("idle", 2, 1), Id: "idle-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error { _, err := assignment(s, "idle"); return err })
	before := l.Reconciles()
	// Observing an absence takes a wait; the bound below is loose enough
	// that only a leader in a loop can exceed it.
	time.Sleep(500 * time.Millisecond)
	if n := l.Reconciles() - before; n > 2 {
		t.Fatalf("an idle leader reconciled %d times in 500ms", n)
	}
	// It still wakes for a change: a node joining.
	before = l.Reconciles()
	registerNode(t, s, "n2", 1)
	waitFor(t, 10*time.Second, func() error {
		if l.Reconciles() == before {
			return errors.New("no reconcile after a node joined")
		}
		return nil
	})
}

// TestAFollowerWhoseSessionExpiredCampaignsAgain: a follower's campaign
// waits for the leader to go; if its session's lease expires meanwhile (a
// stalled node on a loaded machine), its candidacy key is gone and it
// waited for ever, never leading again. It now campaigns again at once,
// with a new session.
func TestAFollowerWhoseSessionExpiredCampaignsAgain(t *testing.T) {
	forEachEtcd(t, testAFollowerWhoseSessionExpiredCampaignsAgain)
}

func testAFollowerWhoseSessionExpiredCampaignsAgain(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	la, _ := startLeader(t, s, "a")
	waitFor(t, 10*time.Second, func() error {
		if !la.IsLeader() {
			return errors.New("a does not lead yet")
		}
		return nil
	})
	startLeader(t, s, "b")
	candidacy := func() (clientv3.LeaseID, error) {
		resp, err := c.Get(ctx, electionPrefix+"/", clientv3.WithPrefix())
		if err != nil {
			return 0, err
		}
		for _, kv := range resp.Kvs {
			if string(kv.Value) == "b" {
				return clientv3.LeaseID(kv.Lease), nil
			}
		}
		return 0, errors.New("b has no candidacy key")
	}
	var lease clientv3.LeaseID
	waitFor(t, 10*time.Second, func() (err error) { lease, err = candidacy(); return err })
	if _, err := c.Revoke(ctx, lease); err != nil { // as if its lease expired
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		l, err := candidacy()
		if err == nil && l == lease {
			err = errors.New("b still shows its old candidacy")
		}
		return err
	})
	if !la.IsLeader() {
		t.Fatal("a stopped leading")
	}
}

// TestANewLeaderWaitsForNodesToRegisterAgain: right after an election
// (which follows any etcd restart) a node with tasks may not be registered
// yet because it is taking its key back under a new lease. The new leader
// changes no assignment while it waits for such a node, rather than move
// every task onto the nodes registered so far; it does not wait for a node
// that gossip reports gone, and one that does not come back loses its
// tasks when the grace ends.
func TestANewLeaderWaitsForNodesToRegisterAgain(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := context.Background()
	registerNode(t, s, "n1", 1)
	l2 := registerNode(t, s, "n2", 1)
	l3 := registerNode(t, s, "n3", 1)
	// It balances on join: n3 takes its share again when it comes back.
	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: balancing(testSpec("wc", 2, 2, 2)), Id: "wc-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	_, stop := startLeader(t, s, "n1")
	spread := func() (*galev1.Assignment, error) {
		a, err := assignment(s, "wc")
		if err != nil {
			return nil, err
		}
		if c := perNode(a); len(a.GetTasks()) != 7 || c["n1"] == 0 || c["n2"] == 0 || c["n3"] == 0 {
			return nil, fmt.Errorf("assignment %v", c)
		}
		return a, nil
	}
	var first *galev1.Assignment
	waitFor(t, 10*time.Second, func() (err error) { first, err = spread(); return err })
	stop()
	reconciled := func(l *Leader) {
		t.Helper()
		waitFor(t, 10*time.Second, func() error {
			if l.Reconciles() == 0 {
				return errors.New("no reconcile yet")
			}
			return nil
		})
	}

	// n2 and n3 lost their leases; a new leader is elected with a grace
	// of a minute. Gossip says n3 died; n2 is registering again.
	for _, l := range []clientv3.LeaseID{l2, l3} {
		if _, err := s.Client().Revoke(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultLeaderConfig("n1")
	cfg.RegisterGrace = time.Minute
	cfg.Gone = func(node string) bool { return node == "n3" }
	l, stop := startLeaderWith(t, s, cfg)
	reconciled(l)
	if a, _ := assignment(s, "wc"); a.GetVersion() != first.GetVersion() {
		t.Fatalf("assignment rewritten while n2 registers again: %v", perNode(a))
	}
	// n2 is back: n3's tasks move, n2's stay.
	registerNode(t, s, "n2", 1)
	var second *galev1.Assignment
	waitFor(t, 10*time.Second, func() error {
		a, err := assignment(s, "wc")
		if err != nil {
			return err
		}
		if perNode(a)["n3"] != 0 {
			return errors.New("n3's tasks have not moved yet")
		}
		second = a
		return nil
	})
	for task, node := range first.GetTasks() {
		if node != "n3" && second.GetTasks()[task] != node {
			t.Fatalf("task %d moved from %s to %s", task, node, second.GetTasks()[task])
		}
	}

	// n3 comes back and takes its share; then it loses its lease for good
	// and a new leader, with no word from gossip, waits out its grace.
	l3 = registerNode(t, s, "n3", 1)
	waitFor(t, 10*time.Second, func() (err error) { _, err = spread(); return err })
	before, _ := assignment(s, "wc")
	stop()
	if _, err := s.Client().Revoke(ctx, l3); err != nil {
		t.Fatal(err)
	}
	cfg.Gone, cfg.RegisterGrace = nil, 2*time.Second
	l, _ = startLeaderWith(t, s, cfg)
	reconciled(l)
	elected := time.Now()
	if a, _ := assignment(s, "wc"); a.GetVersion() != before.GetVersion() {
		t.Fatalf("assignment rewritten during the grace: %v", perNode(a))
	}
	waitFor(t, 10*time.Second, func() error {
		a, err := assignment(s, "wc")
		if err != nil {
			return err
		}
		if perNode(a)["n3"] != 0 {
			return errors.New("n3 still has tasks")
		}
		return nil
	})
	t.Logf("the tasks of a node that did not come back moved %v after the election (grace 2s)", time.Since(elected).Round(time.Millisecond))
}
