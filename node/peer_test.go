package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/coordinator/etcdtest"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"
)

func waitFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startPeer(t *testing.T, name string, etcd ...string) *Peer {
	t.Helper()
	return startPeerWith(t, name, func(cfg *PeerConfig) { cfg.Etcd = etcd })
}

func startPeerWith(t *testing.T, name string, edit func(*PeerConfig)) *Peer {
	t.Helper()
	cfg := DefaultPeerConfig()
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Name = name
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GALE_TEST_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	edit(&cfg)
	p, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
		p.Shutdown(ctx) // safe twice
	})
	return p
}

func code(err error) codes.Code { return status.Code(err) }

func TestPeerRunsSubmittedTopologies(t *testing.T) {
	t.Run("embedded-etcd", func(t *testing.T) { testPeerRuns(t, startPeer(t, "solo")) })
	t.Run("external-etcd", func(t *testing.T) { testPeerRuns(t, startPeer(t, "solo", etcdtest.Start(t)...)) })
}

func testPeerRuns(t *testing.T, p *Peer) {
	ctx := context.Background()
	client, conn := dialPeer(t, p)

	// Every service of the port answers the health check by name.
	for _, svc := range []string{"", galev1.CoordinatorService_ServiceDesc.ServiceName, galev1.TransferService_ServiceDesc.ServiceName, galev1.AttachService_ServiceDesc.ServiceName} {
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q = %v, %v", svc, h, err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		nodes, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
		if err != nil {
			return err
		}
		if len(nodes.GetNodes()) != 1 || !nodes.GetNodes()[0].GetLeader() {
			return fmt.Errorf("nodes %v", nodes.GetNodes())
		}
		return nil
	})

	const n = 3000
	finite := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	finite.s.Name = "finite"
	resp, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: finite.s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: finite.s}); code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate submit = %v", err)
	}
	waitFor(t, 20*time.Second, func() error {
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "finite"})
		if err != nil {
			return err
		}
		if st.GetSummary().GetState() != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			return fmt.Errorf("state %v", st.GetSummary().GetState())
		}
		for _, c := range st.GetComponents() {
			if c.GetId() == "seq" && c.GetCounters().GetAcked() != n {
				return fmt.Errorf("spout acked %d", c.GetCounters().GetAcked())
			}
			for _, task := range c.GetTasks() {
				if task.GetNode() != "solo" {
					return fmt.Errorf("task %d on %q", task.GetTaskId(), task.GetNode())
				}
			}
		}
		return nil
	})
	checkAllAcked(t, stateFor(t), n)
	if resp.GetId() == "" {
		t.Fatal("no run id")
	}

	// Bad input gets clear codes.
	bad := newTopo(t, nil).spout("s", "no.Such", 1, "id")
	bad.s.Name = "bad"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: bad.s}); code(err) != codes.InvalidArgument {
		t.Fatalf("invalid submit = %v", err)
	}
	if _, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "nope"}); code(err) != codes.NotFound {
		t.Fatalf("status of unknown = %v", err)
	}
	if _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "nope"}); code(err) != codes.NotFound {
		t.Fatalf("kill unknown = %v", err)
	}
	if _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "finite", WaitSeconds: proto.Int32(-1)}); code(err) != codes.InvalidArgument {
		t.Fatalf("kill with a negative wait = %v", err)
	}
	if _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "finite", WaitSeconds: proto.Int32(86401)}); code(err) != codes.InvalidArgument {
		t.Fatalf("kill with a wait over a day = %v", err)
	}

	// Kill removes it; the name is free again.
	if _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "finite", WaitSeconds: proto.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		l, err := client.ListTopologies(ctx, &galev1.ListTopologiesRequest{})
		if err != nil {
			return err
		}
		if len(l.GetTopologies()) != 0 {
			return fmt.Errorf("still listed: %v", l.GetTopologies())
		}
		return nil
	})
}

func TestPeerActivatesAndDeactivates(t *testing.T) {
	p := startPeer(t, "solo")
	ctx := context.Background()
	client, _ := dialPeer(t, p)
	endless := newTopo(t, map[string]any{"test.count": 1 << 40, "test.per_call": 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	endless.s.Name = "endless"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: endless.s, StartInactive: true}); err != nil {
		t.Fatal(err)
	}
	emitted := func() uint64 {
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "endless"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range st.GetComponents() {
			if c.GetId() == "seq" {
				return c.GetCounters().GetEmitted()
			}
		}
		return 0
	}
	time.Sleep(300 * time.Millisecond) // let it run, inactive
	if e := emitted(); e != 0 {
		t.Fatalf("inactive topology emitted %d tuples", e)
	}
	if _, err := client.ActivateTopology(ctx, &galev1.ActivateTopologyRequest{Name: "endless"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if emitted() == 0 {
			return errors.New("nothing emitted after activation")
		}
		return nil
	})
	if _, err := client.DeactivateTopology(ctx, &galev1.DeactivateTopologyRequest{Name: "endless"}); err != nil {
		t.Fatal(err)
	}
	var last uint64
	waitFor(t, 10*time.Second, func() error {
		e := emitted()
		if e != last {
			last = e
			return fmt.Errorf("still emitting (%d)", e)
		}
		return nil
	})
	// Rebalance: a bad component or count is refused; a good one restarts
	// the run with the new parallelism.
	if _, err := client.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: "endless", Parallelism: map[string]int32{"nope": 2}}); code(err) != codes.InvalidArgument {
		t.Fatalf("rebalance of an unknown component = %v", err)
	}
	if _, err := client.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: "endless", Parallelism: map[string]int32{"sink": 0}}); code(err) != codes.InvalidArgument {
		t.Fatalf("rebalance to 0 tasks = %v", err)
	}
	if _, err := client.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: "nope"}); code(err) != codes.NotFound {
		t.Fatalf("rebalance of an unknown topology = %v", err)
	}
	if _, err := client.ActivateTopology(ctx, &galev1.ActivateTopologyRequest{Name: "endless"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: "endless", Parallelism: map[string]int32{"sink": 3}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "endless"})
		if err != nil {
			return err
		}
		for _, c := range st.GetComponents() {
			if c.GetId() != "sink" {
				continue
			}
			if len(c.GetTasks()) != 3 {
				return fmt.Errorf("sink has %d tasks", len(c.GetTasks()))
			}
			busy := 0
			for _, task := range c.GetTasks() {
				if task.GetCounters().GetExecuted() > 0 {
					busy++
				}
			}
			if busy != 3 {
				return fmt.Errorf("%d of 3 sink tasks executed tuples", busy)
			}
		}
		return nil
	})
}

func stateFor(t *testing.T) *testState {
	v, _ := states.Load(t.Name())
	return v.(*testState)
}

func TestSecondNodeJoinsThroughGossip(t *testing.T) {
	a := startPeer(t, "a")
	// b is given only a's gossip address: it learns etcd from gossip.
	b := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	ctx := context.Background()
	client, _ := dialPeer(t, b)
	waitFor(t, 10*time.Second, func() error {
		nodes, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
		if err != nil {
			return err
		}
		if len(nodes.GetNodes()) != 2 {
			return fmt.Errorf("nodes %v", nodes.GetNodes())
		}
		for _, n := range nodes.GetNodes() {
			if n.GetGossipAddr() == "" || n.GetGrpcAddr() == "" {
				return fmt.Errorf("node without addresses: %v", n)
			}
		}
		return nil
	})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	aclient, _ := dialPeer(t, a)
	waitFor(t, 10*time.Second, func() error {
		nodes, err := aclient.ListNodes(ctx, &galev1.ListNodesRequest{})
		if err != nil {
			return err
		}
		if len(nodes.GetNodes()) != 1 || nodes.GetNodes()[0].GetName() != "a" || !nodes.GetNodes()[0].GetLeader() {
			return fmt.Errorf("after b left: %v", nodes.GetNodes())
		}
		return nil
	})
}

// submitEndless submits topology "endless" through client, a spout of ids
// to a sink, with a bolt between them that takes pace ms a tuple if pace
// is more than 0 (the sink keeps every id it sees, and the package's
// memory tests bound the live heap), and waits until ids reach the sink.
// It returns how many the sink has seen.
func submitEndless(t *testing.T, client galev1.CoordinatorServiceClient, pace float64) (sunk func() int) {
	t.Helper()
	endless := newTopo(t, map[string]any{"test.count": 1 << 40, "test.per_call": 4}).
		spout("seq", "test.Seq", 1, "id")
	if pace > 0 {
		endless.bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
			bolt("sink", "test.Sink", 1, nil, "pass:shuffle").
			conf("pass", map[string]any{"test.sleep": pace})
	} else {
		endless.bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	}
	endless.s.Name = "endless"
	if _, err := client.SubmitTopology(context.Background(), &galev1.SubmitTopologyRequest{Spec: endless.s}); err != nil {
		t.Fatal(err)
	}
	sunk = func() int {
		st := stateFor(t)
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.sunk)
	}
	waitFor(t, 10*time.Second, func() error {
		if sunk() == 0 {
			return errors.New("nothing flowing yet")
		}
		return nil
	})
	return sunk
}

func TestNodeRecoversFromEtcdRestart(t *testing.T) {
	srv := etcdtest.StartServer(t)
	p := startPeer(t, "solo", srv.Endpoints()...)
	ctx := context.Background()
	client, conn := dialPeer(t, p)
	sunk := submitEndless(t, client, 0)
	// etcd dies for longer than the node's lease and comes back.
	srv.Stop()
	before := sunk()
	time.Sleep(4 * time.Second)
	if sunk() == before {
		t.Fatal("the topology stopped while etcd was down; running tasks should not depend on etcd")
	}
	// Its lease lost, the node says its Coordinator API is not serving,
	// and a client is told the node is up without its etcd.
	coordHealth := func() healthpb.HealthCheckResponse_ServingStatus {
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: galev1.CoordinatorService_ServiceDesc.ServiceName})
		if err != nil {
			t.Fatal(err)
		}
		return h.GetStatus()
	}
	waitFor(t, 10*time.Second, func() error {
		if h := coordHealth(); h != healthpb.HealthCheckResponse_NOT_SERVING {
			return fmt.Errorf("the Coordinator API's health is %v without etcd", h)
		}
		return nil
	})
	if _, _, err := coordinator.DialCoordinator(ctx, p.Addr(), nil, time.Second); err == nil || !strings.Contains(err.Error(), "is up but cannot reach its etcd") {
		t.Errorf("dialling the node without its etcd: %v", err)
	}
	// The node's health says so at once: a client does not wait out its
	// timeout first (every command of an outage took it).
	start := time.Now()
	lctx, lcancel := context.WithTimeout(ctx, time.Minute)
	_, _, err := coordinator.DialCoordinator(lctx, p.Addr(), nil, time.Hour)
	lcancel()
	if err == nil || !strings.Contains(err.Error(), "is up but cannot reach its etcd") || time.Since(start) > 30*time.Second {
		t.Errorf("dialling the node without its etcd, with a timeout of an hour: %v after %v", err, time.Since(start))
	}
	// A drain cannot move tasks without etcd: it says so instead of
	// waiting out its whole time.
	dctx, dcancel := context.WithTimeout(ctx, time.Hour)
	if err := p.Drain(dctx); err == nil || !strings.Contains(err.Error(), "is etcd reachable?") || dctx.Err() != nil {
		t.Errorf("drain without etcd: %v (its context: %v)", err, dctx.Err())
	}
	dcancel()
	srv.Restart(t)
	waitFor(t, 20*time.Second, func() error {
		if h := coordHealth(); h != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("the Coordinator API's health is %v after the etcd restart", h)
		}
		return nil
	})
	waitFor(t, 20*time.Second, func() error {
		nodes, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
		if err != nil {
			return err
		}
		if len(nodes.GetNodes()) != 1 || !nodes.GetNodes()[0].GetLeader() {
			return fmt.Errorf("nodes after the etcd restart: %v", nodes.GetNodes())
		}
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "endless"})
		if err != nil {
			return err
		}
		for _, c := range st.GetComponents() {
			for _, task := range c.GetTasks() {
				if task.GetNode() != "solo" {
					return fmt.Errorf("task %d assigned to %q", task.GetTaskId(), task.GetNode())
				}
			}
		}
		return nil
	})
	before = sunk()
	waitFor(t, 10*time.Second, func() error {
		if sunk() == before {
			return errors.New("not flowing after the etcd restart")
		}
		return nil
	})
}

func TestTopologySpreadOverTwoNodes(t *testing.T) {
	_, b, client := twoNodes(t)
	ctx := context.Background()
	const n = 5000
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 2}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "pass:fields:id")
	tp.s.Name = "spread"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	waitAcked(t, st, n)
	status, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "spread"})
	if err != nil {
		t.Fatal(err)
	}
	if status.GetSummary().GetNodes() != 2 {
		t.Fatalf("topology on %d nodes, want 2", status.GetSummary().GetNodes())
	}
	// The status gathers the counters of the tasks on both nodes.
	waitFor(t, 10*time.Second, func() error {
		status, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "spread"})
		if err != nil {
			return err
		}
		for _, c := range status.GetComponents() {
			if c.GetId() == "sink" && c.GetCounters().GetExecuted() < n {
				return fmt.Errorf("sinks executed %d of %d", c.GetCounters().GetExecuted(), n)
			}
			if c.GetId() == "sink" && c.GetCounters().GetProcessLatency() == nil {
				return errors.New("sinks have no process latency")
			}
			if c.GetId() == "seq" && c.GetCounters().GetAcked() != n {
				return fmt.Errorf("spouts acked %d of %d", c.GetCounters().GetAcked(), n)
			}
			if c.GetId() == "seq" && c.GetCounters().GetCompleteLatency() == nil {
				return errors.New("spouts have no complete latency")
			}
			for _, task := range c.GetTasks() {
				if task.GetCounters() == nil {
					return fmt.Errorf("task %d on %s has no counters", task.GetTaskId(), task.GetNode())
				}
			}
		}
		// And each node's run, in node order.
		var runs []string
		for _, r := range status.GetRuns() {
			runs = append(runs, r.GetNode()+" "+r.GetState().String())
		}
		if want := "a NODE_RUN_STATE_FINISHED, b NODE_RUN_STATE_FINISHED"; strings.Join(runs, ", ") != want {
			return fmt.Errorf("runs %q, want %q", runs, want)
		}
		return nil
	})
	checkSunk(t, st, n)
	_ = b
}

// TestResetTimeoutSparesHeldTreesAcrossNodes holds every input for seven
// message timeouts on two nodes, touching them: neither the acker's
// timeout nor the spouts' own sweep for lost results (three timeouts)
// may fail a tree that a bolt keeps alive.
func TestResetTimeoutSparesHeldTreesAcrossNodes(t *testing.T) {
	_, _, client := twoNodes(t)
	ctx := context.Background()
	const n = 20
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 1, KeyMessageTimeout: 0.3, "test.max_replays": 0}).
		spout("seq", "test.Seq", 1, "id").
		bolt("hold", "test.Hold", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "hold:shuffle").
		conf("hold", map[string]any{"test.hold_ms": 2100, "test.touch_ms": 100, KeyTickFreq: 0.05})
	tp.s.Name = "held"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	waitAcked(t, st, n)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.failed) != 0 {
		t.Fatalf("%d trees failed while their inputs were held and touched", len(st.failed))
	}
}

// TestTreesWaitingOnASlowNodeDoNotTimeOut: a bolt that takes 2.2 s a
// tuple runs on the node without the acker, with a message timeout of
// 0.3 s (two tuples, so that its batch does not run for the 5 s after
// which a task counts as stuck). The trees waiting behind it are held back
// by the backlog its node reports, which it reported only with acker
// operations: a task that acks once every 2.2 s sends them less often than
// the one to two seconds a report holds timeouts back, and its trees
// timed out and replayed (a Python bolt of 3 s a tuple on three nodes
// replayed its inputs in a loop and never finished).
func TestTreesWaitingOnASlowNodeDoNotTimeOut(t *testing.T) {
	_, _, client := twoNodes(t)
	ctx := context.Background()
	const n = 2
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 1, KeyMessageTimeout: 0.3, "test.max_replays": 0}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		conf("pass", map[string]any{"test.sleep": 2200})
	tp.s.Name = "slownode"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	defer client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "slownode", WaitSeconds: proto.Int32(0)})
	nodeOf := map[string]string{}
	waitFor(t, 10*time.Second, func() error {
		stat, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "slownode"})
		if err != nil {
			return err
		}
		for _, c := range stat.GetComponents() {
			for _, task := range c.GetTasks() {
				nodeOf[c.GetId()] = task.GetNode()
			}
		}
		if nodeOf["pass"] == "" || nodeOf[sdk.AckerComponent] == "" {
			return fmt.Errorf("tasks on %v", nodeOf)
		}
		return nil
	})
	if nodeOf["pass"] == nodeOf[sdk.AckerComponent] {
		t.Fatalf("the slow bolt and the acker run on one node (%v): the test needs them apart", nodeOf)
	}
	st := stateFor(t)
	waitFor(t, 30*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.acked)+len(st.failed) != n {
			return fmt.Errorf("%d acked and %d failed of %d", len(st.acked), len(st.failed), n)
		}
		return nil
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.failed) != 0 {
		t.Fatalf("%d of %d trees failed while they waited behind a slow bolt on another node (tasks on %v)", len(st.failed), n, nodeOf)
	}
}

// waitCompleted waits until acked (slowSpread's) counts n messages.
func waitCompleted(t *testing.T, acked func() int, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		if got := acked(); got != n {
			return fmt.Errorf("%d of %d messages completed", got, n)
		}
		return nil
	})
}

// waitAcked waits until n messages were acked.
func waitAcked(t *testing.T, st *testState, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.acked) != n {
			return fmt.Errorf("%d of %d messages acked (%d failed)", len(st.acked), n, len(st.failed))
		}
		return nil
	})
}

// checkSunk checks that every id below n reached a sink.
func checkSunk(t *testing.T, st *testState, n int) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := int64(0); i < int64(n); i++ {
		if st.sunk[i] < 1 {
			t.Fatalf("id %d never reached a sink", i)
		}
	}
}

// TestStatusShowsTheQueueOfASlowBolt fills the queues of a bolt that
// takes a millisecond a tuple, on two nodes, and reads them through the
// status of the node that gathers the other's.
func TestStatusShowsTheQueueOfASlowBolt(t *testing.T) {
	_, _, client := twoNodes(t)
	ctx := context.Background()
	// No acking: nothing but the queues holds the spout back.
	tp := newTopo(t, map[string]any{"test.count": 1 << 40, "test.sleep": 1, KeyAckers: 0, KeyQueueSize: 8}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "pass:shuffle")
	tp.s.Name = "slow"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	defer client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "slow", WaitSeconds: proto.Int32(0)})
	start := time.Now()
	waitFor(t, 30*time.Second, func() error {
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "slow"})
		if err != nil {
			return err
		}
		if n := st.GetSummary().GetNodes(); n != 2 {
			return fmt.Errorf("on %d nodes", n)
		}
		full := 0
		for _, c := range st.GetComponents() {
			for _, task := range c.GetTasks() {
				q := task.GetQueue()
				if c.GetId() == "seq" {
					if q != nil {
						return fmt.Errorf("spout task %d has a queue: %v", task.GetTaskId(), q)
					}
					continue
				}
				// Every bolt's, here or gathered from the other node.
				if q == nil {
					return fmt.Errorf("task %d (%s on %s) has no queue", task.GetTaskId(), c.GetId(), task.GetNode())
				}
				if q.GetCapacityBatches() != 8 || q.GetCapacityBytes() != uint64(DefaultSettings().QueueBytes) {
					return fmt.Errorf("task %d: bounds %d batches, %d bytes", task.GetTaskId(), q.GetCapacityBatches(), q.GetCapacityBytes())
				}
				if c.GetId() == "pass" && q.GetBatches() >= 6 && q.GetHeadAgeMicros() > 0 {
					full++
				}
			}
		}
		if full != 2 {
			return fmt.Errorf("%d of 2 slow tasks show a full queue", full)
		}
		return nil
	})
	t.Logf("queues seen after %v", time.Since(start))
}

// crash stops a node the way kill -9 would, as far as one process can: its
// lease is not revoked and it does not leave gossip, so the cluster only
// learns of it when the lease expires and probes fail.
func (p *Peer) crash() {
	p.stopped.Do(func() {
		p.server.Stop()
		p.gossip.Shutdown()
		p.stopRuns()
		p.cancel()
		p.wg.Wait()
		p.connMu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.connMu.Unlock()
		p.client.Close()
	})
}

func TestTasksOfACrashedNodeMoveAndEveryMessageCompletes(t *testing.T) {
	_, b, client := twoNodes(t)
	ctx := context.Background()
	const n = 3000
	acked := slowSpread(t, client, "failover", n)
	b.crash()
	crashed := time.Now()
	waitFor(t, 20*time.Second, func() error {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "failover"})
		if err != nil {
			return err
		}
		for _, c := range s.GetComponents() {
			for _, task := range c.GetTasks() {
				if task.GetNode() != "a" {
					return fmt.Errorf("task %d still on %q", task.GetTaskId(), task.GetNode())
				}
			}
		}
		return nil
	})
	moved := time.Since(crashed)
	// Reported, not asserted (no timed assertions in tests): the README
	// records the measured failover time.
	t.Logf("tasks of the crashed node reassigned in %v", moved.Round(time.Millisecond))
	waitCompleted(t, acked, n, 60*time.Second)
}

// TestANodeBackAtAnotherAddressIsReached: a node that dies and comes back
// under its name at another gRPC address gets tuples there from the runs
// that sent to it before (each looks the address up afresh in etcd once
// sends fail): they dialled the old address for as long as they lasted.
func TestANodeBackAtAnotherAddressIsReached(t *testing.T) {
	a, b, client := twoNodes(t)
	ctx := context.Background()
	const n = 8000
	acked := slowSpread(t, client, "moved", n)
	oldAddr := b.Addr()
	b.crash()
	onlyOn := func(node string) error {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "moved"})
		if err != nil {
			return err
		}
		for _, c := range s.GetComponents() {
			for _, task := range c.GetTasks() {
				if task.GetNode() != node {
					return fmt.Errorf("task %d on %q", task.GetTaskId(), task.GetNode())
				}
			}
		}
		return nil
	}
	waitFor(t, 20*time.Second, func() error { return onlyOn("a") })
	b2 := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	if b2.Addr() == oldAddr {
		t.Skipf("the new node got the old address %s again", oldAddr)
	}
	// The topology balances on join: b takes tasks of the running run,
	// whose tasks on a must reach them at b's new address.
	waitFor(t, 30*time.Second, func() error {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "moved"})
		if err != nil {
			return err
		}
		for _, c := range s.GetComponents() {
			for _, task := range c.GetTasks() {
				if c.GetId() == "sink" && task.GetNode() == "b" && task.GetCounters().GetExecuted() > 0 {
					return nil
				}
			}
		}
		return errors.New("no sink task on b executed a tuple yet")
	})
	waitCompleted(t, acked, n, 60*time.Second)
}

// TestANodeJoiningMovesOnlyTheTasksThatMove: when a third node joins a
// running topology, the leader moves some tasks to it; those start there,
// and every other task keeps running where it was (it is not restarted,
// so its in-flight trees do not replay). Every message still completes.
func TestANodeJoiningMovesOnlyTheTasksThatMove(t *testing.T) {
	a, _, client := twoNodes(t)
	ctx := context.Background()
	const n = 6000
	// One acker: of the tasks the new node takes (a third of 7), at
	// least one is a spout or a bolt.
	acked := slowSpreadWith(t, client, "join", n, 1, 2)
	st := stateFor(t)
	nodeOf := func() map[int32]string {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "join"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]string{}
		for _, c := range s.GetComponents() {
			if c.GetId() == sdk.AckerComponent {
				continue // ackers move too, but have no Open to count
			}
			for _, task := range c.GetTasks() {
				out[task.GetTaskId()] = task.GetNode()
			}
		}
		return out
	}
	before := nodeOf()
	startPeerWith(t, "c", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	var after map[int32]string
	waitFor(t, 20*time.Second, func() error {
		after = nodeOf()
		for _, node := range after {
			if node == "c" {
				return nil
			}
		}
		return errors.New("no task moved to c yet")
	})
	moved := 0
	waitFor(t, 10*time.Second, func() error {
		if after = nodeOf(); len(after) == 0 {
			return errors.New("no tasks")
		}
		starts := st.startCounts()
		moved = 0
		for task, node := range after {
			want := 1
			if node != before[task] {
				want, moved = 2, moved+1
			}
			if starts[task] != want {
				return fmt.Errorf("task %d (%s -> %s) started %d times, want %d", task, before[task], node, starts[task], want)
			}
		}
		if moved == 0 {
			return errors.New("no spout or bolt moved to c yet")
		}
		return nil
	})
	t.Logf("%d of %d tasks moved to the new node", moved, len(after))
	waitCompleted(t, acked, n, 60*time.Second)
}

// TestANodeJoiningTakesNoRunningTask: by default a node that joins takes
// no task of a running topology (it would restart there and lose its
// in-memory state, a count's totals say); it takes the tasks of a
// topology submitted after it joined.
func TestANodeJoiningTakesNoRunningTask(t *testing.T) {
	a, _, client := twoNodes(t)
	ctx := context.Background()
	tp := newTopo(t, map[string]any{"test.count": 1 << 40, KeyAckers: 1, "test.per_call": 1}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "pass:shuffle").
		conf("pass", map[string]any{"test.sleep": 1.0})
	tp.s.Name = "stays"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	nodesOf := func(name string) (map[int32]string, error) { return taskNodes(client, name) }
	waitFor(t, 20*time.Second, func() error {
		if n := len(st.startCounts()); n != 6 {
			return fmt.Errorf("%d of 6 tasks started", n)
		}
		return nil
	})
	before, err := nodesOf("stays")
	if err != nil {
		t.Fatal(err)
	}
	startPeerWith(t, "c", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	// A topology submitted after c joined lands on c: the leader saw c.
	// (Its own test state: newTopo would replace this test's.)
	newState(t.Name() + "/later")
	later := (&topo{s: &galev1.TopologySpec{Name: "later", Config: map[string]*galev1.Value{
		"test.id": protoValue(t.Name() + "/later"), "test.count": protoValue(100), KeyAckers: protoValue(0),
	}}}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 2, nil, "seq:shuffle")
	waitFor(t, 20*time.Second, func() error {
		if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: later.s}); err != nil && status.Code(err) != codes.AlreadyExists {
			return err
		}
		on, err := nodesOf("later") // a kill below may have removed it
		if err != nil {
			return err
		}
		for _, node := range on {
			if node == "c" {
				return nil
			}
		}
		_, err = client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "later", WaitSeconds: proto.Int32(0)})
		return fmt.Errorf("no task of a topology submitted after c joined runs on c (kill: %v)", err)
	})
	if after, err := nodesOf("stays"); err != nil || !maps.Equal(after, before) {
		t.Fatalf("running tasks moved when c joined: %v (%v), before %v", after, err, before)
	}
	for task, n := range st.startCounts() {
		if n != 1 {
			t.Fatalf("task %d started %d times: a running task restarted when c joined", task, n)
		}
	}
}

// submitMarkers submits the "markers" topology, which lets nodes that
// join take its tasks: spouts quick (10 ids, it ends at once) and long
// (long ids), four pass tasks that take 0.5 ms a tuple, one sink, no
// acking; it returns once 100 values reached the sink.
func submitMarkers(t *testing.T, client galev1.CoordinatorServiceClient, long int) *testState {
	t.Helper()
	tp := newTopo(t, map[string]any{KeyAckers: 0, spec.KeyBalanceOnJoin: true}).
		spout("quick", "test.Seq", 1, "id").
		spout("long", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle").
		bolt("pass", "test.Pass", 4, []string{"id"}, "quick:shuffle", "long:shuffle").
		conf("quick", map[string]any{"test.count": 10}).
		conf("long", map[string]any{"test.count": long}).
		conf("pass", map[string]any{"test.sleep": 0.5})
	tp.s.Name = "markers"
	if _, err := client.SubmitTopology(context.Background(), &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	waitFor(t, 20*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.sunk) < 100 {
			return fmt.Errorf("%d values sunk so far", len(st.sunk))
		}
		return nil
	})
	return st
}

// taskNodes returns the node of every task of a topology, from its status.
func taskNodes(client galev1.CoordinatorServiceClient, name string) (map[int32]string, error) {
	s, err := client.GetTopologyStatus(context.Background(), &galev1.GetTopologyStatusRequest{Name: name})
	if err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for _, c := range s.GetComponents() {
		for _, task := range c.GetTasks() {
			out[task.GetTaskId()] = task.GetNode()
		}
	}
	return out, nil
}

// markersOn returns the state of the "markers" topology and its tasks on
// node (" component/task" each).
func markersOn(t *testing.T, client galev1.CoordinatorServiceClient, node string) (galev1.TopologyState, string) {
	t.Helper()
	s, err := client.GetTopologyStatus(context.Background(), &galev1.GetTopologyStatusRequest{Name: "markers"})
	if err != nil {
		t.Fatal(err)
	}
	on := ""
	for _, c := range s.GetComponents() {
		for _, task := range c.GetTasks() {
			if task.GetNode() == node {
				on += fmt.Sprintf(" %s/%d", c.GetId(), task.GetTaskId())
			}
		}
	}
	return s.GetSummary().GetState(), on
}

// TestAMovedTaskGetsTheMarkersOfTasksThatEnded: a bolt task that moves to
// a new node after one of its upstream tasks ended still gets that task's
// end-of-input marker (its old node got the first one), so the topology
// still finishes.
func TestAMovedTaskGetsTheMarkersOfTasksThatEnded(t *testing.T) {
	a, _, client := twoNodes(t)
	// Without acking, and with the pass tasks last, the tasks the new node
	// takes (the highest ids of the nodes above their share) include a
	// pass task.
	submitMarkers(t, client, 30000)
	startPeerWith(t, "c", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	state := func() (galev1.TopologyState, string) { return markersOn(t, client, "c") }
	waitFor(t, 20*time.Second, func() error {
		if _, onC := state(); !strings.Contains(onC, "pass/") {
			return fmt.Errorf("no pass task on c yet (c has%s)", onC)
		}
		return nil
	})
	waitFor(t, 60*time.Second, func() error {
		if s, onC := state(); s != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			return fmt.Errorf("state %v (c has%s)", s, onC)
		}
		return nil
	})
}

// TestTreesOfAMovedAckerStillComplete: when an acker task moves to a node
// that joined, the trees it tracked go on there (their state is handed
// over, and what was queued for it passed on); their spouts do not wait for
// a timeout (here a minute, and the spouts' own sweep would wait three).
func TestTreesOfAMovedAckerStillComplete(t *testing.T) {
	a, _, client := twoNodes(t)
	ctx := context.Background()
	const n = 3000
	// The ackers have the highest task ids, which move first.
	acked := slowSpreadWith(t, client, "ackers", n, 2, 60)
	startPeerWith(t, "c", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	waitFor(t, 20*time.Second, func() error {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "ackers"})
		if err != nil {
			return err
		}
		for _, c := range s.GetComponents() {
			for _, task := range c.GetTasks() {
				if c.GetId() == sdk.AckerComponent && task.GetNode() == "c" {
					return nil
				}
			}
		}
		return errors.New("no acker on c yet")
	})
	waitCompleted(t, acked, n, 40*time.Second)
}

// TestTreesOfAnAckerLostWithItsNodeReplayAtOnce: when the node of the only
// acker dies, its table of trees dies with it; the spouts on the other
// node fail the trees it tracked as soon as the acker's move shows who
// lost it, and replay them. The message timeout is an hour, so neither the
// ackers' timeouts nor the spouts' sweep for lost results (three timeouts)
// can be what completes them.
func TestTreesOfAnAckerLostWithItsNodeReplayAtOnce(t *testing.T) {
	a := startPeer(t, "a")
	client, _ := dialPeer(t, a)
	ctx := context.Background()
	const n = 3000
	acked := slowSpreadWith(t, client, "lost", n, 1, 3600)
	b := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	ackerOn := func() (string, error) {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "lost"})
		if err != nil {
			return "", err
		}
		for _, c := range s.GetComponents() {
			if c.GetId() == sdk.AckerComponent {
				return c.GetTasks()[0].GetNode(), nil
			}
		}
		return "", errors.New("no acker in the status")
	}
	waitFor(t, 20*time.Second, func() error {
		if on, err := ackerOn(); err != nil || on != "b" {
			return fmt.Errorf("acker on %q (%v)", on, err)
		}
		return nil
	})
	// Trees begin with the acker on b, then b dies with their table.
	begun := acked()
	waitFor(t, 20*time.Second, func() error {
		if got := acked(); got < begun+n/10 {
			return fmt.Errorf("%d acked since the acker moved", got-begun)
		}
		return nil
	})
	b.crash()
	if got := acked(); got == n {
		t.Fatalf("every message completed before b died: the test lost nothing")
	}
	waitCompleted(t, acked, n, 60*time.Second)
	if on, err := ackerOn(); err != nil || on != "a" {
		t.Fatalf("acker on %q after b died (%v), want a", on, err)
	}
}

// TestADrainedNodeLostNoAcker: a node that drained hands its ackers'
// trees over and then leaves gossip and revokes its lease, so a sync on
// another node that reads the nodes late finds it unregistered. It did not
// lose its trees: only a node that is unregistered and that gossip did not
// see leave (one that died) did.
func TestADrainedNodeLostNoAcker(t *testing.T) {
	a := startPeer(t, "a")
	b := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	c := startPeerWith(t, "c", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	waitFor(t, 10*time.Second, func() error {
		if n := len(a.gossip.Members()); n != 3 {
			return fmt.Errorf("a's gossip has %d members, want 3", n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.crash()
	registered := map[string]bool{"a": true}
	waitFor(t, 10*time.Second, func() error {
		if !a.gossip.Gone("b") || !a.gossip.Gone("c") {
			return fmt.Errorf("gossip: b gone %v, c gone %v", a.gossip.Gone("b"), a.gossip.Gone("c"))
		}
		return nil
	})
	if a.lostWithItsNode("b", registered) {
		t.Errorf("the ackers of b, which drained and left, counted as lost with it")
	}
	if !a.lostWithItsNode("c", registered) {
		t.Errorf("the ackers of c, which crashed, did not count as lost with it")
	}
	if a.lostWithItsNode("a", registered) {
		t.Errorf("the ackers of a, registered, counted as lost")
	}
}

// TestAFailedRunRestarts: a run that fails on a node (here a bolt's first
// Prepare fails) is started again after a backoff, the status says so, and
// the topology then completes.
func TestAFailedRunRestarts(t *testing.T) {
	a := startPeer(t, "a")
	client, _ := dialPeer(t, a)
	ctx := context.Background()
	const n = 500
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle").
		conf("pass", map[string]any{"test.fail_prepare_once": true})
	tp.s.Name = "restart"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	waitFor(t, 30*time.Second, func() error {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "restart"})
		if err != nil {
			return err
		}
		if s.GetSummary().GetState() != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			return fmt.Errorf("state %v", s.GetSummary().GetState())
		}
		// The node's run reports its end a moment after the topology's
		// finished reports are stored (seen once on a loaded machine).
		if runs := s.GetRuns(); len(runs) == 1 && runs[0].GetState() != galev1.NodeRunState_NODE_RUN_STATE_FINISHED {
			return fmt.Errorf("run state %v", runs[0].GetState())
		}
		return nil
	})
	checkAllAcked(t, st, n)
	if !st.prepareFailed.Load() {
		t.Fatal("the first Prepare did not fail")
	}
	s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "restart"})
	if err != nil {
		t.Fatal(err)
	}
	runs := s.GetRuns()
	if len(runs) != 1 {
		t.Fatalf("status has %d runs, want a's: %v", len(runs), runs)
	}
	r := runs[0]
	if r.GetNode() != "a" || r.GetState() != galev1.NodeRunState_NODE_RUN_STATE_FINISHED || r.GetRestarts() != 1 ||
		!strings.Contains(r.GetError(), "the first Prepare fails") || r.GetErrorUnixMillis() == 0 {
		t.Fatalf("the run does not tell of its restart: %v", r)
	}
}

// TestAFailingRunShowsInTheStatus: a run that fails at every start (a
// bolt's Prepare) shows as restarting, with its error and the time left
// before the next start, while the topology's own state stays active; the
// run-level failure is not passed off as a task's error.
func TestAFailingRunShowsInTheStatus(t *testing.T) {
	a := startPeer(t, "a")
	client, _ := dialPeer(t, a)
	ctx := context.Background()
	tp := newTopo(t, map[string]any{"test.count": 100}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pass", "test.Pass", 1, nil, "seq:shuffle").
		conf("pass", map[string]any{"test.fail_prepare": true})
	tp.s.Name = "failing"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	var s *galev1.GetTopologyStatusResponse
	waitFor(t, 30*time.Second, func() error {
		var err error
		s, err = client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "failing"})
		if err != nil {
			return err
		}
		if len(s.GetRuns()) != 1 || s.GetRuns()[0].GetState() != galev1.NodeRunState_NODE_RUN_STATE_RESTARTING {
			return fmt.Errorf("runs %v", s.GetRuns())
		}
		return nil
	})
	r := s.GetRuns()[0]
	if r.GetNode() != "a" || !strings.Contains(r.GetError(), "every Prepare fails") || r.GetErrorUnixMillis() == 0 {
		t.Errorf("run %v: want node a and the Prepare error", r)
	}
	if in := r.GetRestartInMillis(); in < 0 || in > time.Minute.Milliseconds() {
		t.Errorf("restart in %d ms: want within the backoff", in)
	}
	if st := s.GetSummary().GetState(); st != galev1.TopologyState_TOPOLOGY_STATE_ACTIVE {
		t.Errorf("topology state %v: want the desired state, active", st)
	}
	for _, c := range s.GetComponents() {
		for _, e := range c.GetErrors() {
			if e.GetTaskId() == 0 || strings.Contains(e.GetMessage(), "the run failed") {
				t.Errorf("component %s has the run's failure as a task error: %v", c.GetId(), e)
			}
		}
	}
	// It keeps failing: a later status shows more restarts.
	waitFor(t, 30*time.Second, func() error {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "failing"})
		if err != nil {
			return err
		}
		if len(s.GetRuns()) != 1 || s.GetRuns()[0].GetRestarts() < r.GetRestarts()+1 {
			return fmt.Errorf("runs %v", s.GetRuns())
		}
		return nil
	})
	// gale list says so too (from etcd, without asking the nodes).
	waitFor(t, 10*time.Second, func() error {
		l, err := client.ListTopologies(ctx, &galev1.ListTopologiesRequest{})
		if err != nil {
			return err
		}
		if got := l.GetTopologies()[0].GetFailingNodes(); !slices.Equal(got, []string{"a"}) {
			return fmt.Errorf("failing nodes %q in the list, want [a]", got)
		}
		return nil
	})
	// Killed, it is failing nowhere: its keys are gone.
	if _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "failing", WaitSeconds: proto.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		f, err := a.store.FailingRuns(ctx)
		if err != nil {
			return err
		}
		if len(f) != 0 {
			return fmt.Errorf("failing runs after the kill: %v", f)
		}
		return nil
	})
}

func TestDrainMovesTasksBeforeLeaving(t *testing.T) {
	_, b, client := twoNodes(t)
	ctx := context.Background()
	const n = 2000
	acked := slowSpread(t, client, "drain", n)
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.Drain(dctx); err != nil {
		t.Fatal(err)
	}
	s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "drain"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range s.GetComponents() {
		for _, task := range c.GetTasks() {
			if task.GetNode() != "a" {
				t.Fatalf("after the drain, task %d is on %q", task.GetTaskId(), task.GetNode())
			}
		}
	}
	if err := b.Shutdown(dctx); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, acked, n, 60*time.Second)
}

// twoNodes starts nodes a and b (b joins a through gossip), waits until
// both are registered, and returns a and b and a client of a. With etcd
// endpoints both use that etcd; without, a's embedded one.
func twoNodes(t *testing.T, etcd ...string) (*Peer, *Peer, galev1.CoordinatorServiceClient) {
	t.Helper()
	a := startPeer(t, "a", etcd...)
	b := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Etcd, cfg.Join = etcd, []string{a.GossipAddr()} })
	client, _ := dialPeer(t, a)
	waitForNodes(t, client, 2)
	return a, b, client
}

// dialPeer connects to p's Coordinator API for the test; the connection
// closes when the test ends.
// waitForNodes waits until the cluster lists n nodes.
func waitForNodes(t *testing.T, client galev1.CoordinatorServiceClient, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		nodes, err := client.ListNodes(context.Background(), &galev1.ListNodesRequest{})
		if err != nil || len(nodes.GetNodes()) != n {
			return fmt.Errorf("nodes %v, %v", nodes.GetNodes(), err)
		}
		return nil
	})
}

func dialPeer(t *testing.T, p *Peer) (galev1.CoordinatorServiceClient, *grpc.ClientConn) {
	t.Helper()
	client, conn, err := coordinator.DialCoordinator(context.Background(), p.Addr(), nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return client, conn
}

// slowSpread submits a topology over two nodes whose pass bolt takes
// 0.5ms a tuple, and returns a func counting completed messages once at
// least a tenth completed.
func slowSpread(t *testing.T, client galev1.CoordinatorServiceClient, name string, n int) func() int {
	return slowSpreadWith(t, client, name, n, 2, 2)
}

func slowSpreadWith(t *testing.T, client galev1.CoordinatorServiceClient, name string, n, ackers, timeoutSecs int) func() int {
	t.Helper()
	// Tasks move to a node that joins only when the topology lets them.
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: ackers, KeyMessageTimeout: timeoutSecs, "test.per_call": 1, spec.KeyBalanceOnJoin: true}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "pass:shuffle").
		conf("pass", map[string]any{"test.sleep": 0.5})
	tp.s.Name = name
	if _, err := client.SubmitTopology(context.Background(), &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	acked := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.acked)
	}
	waitFor(t, 20*time.Second, func() error {
		if acked() < n/10 {
			return fmt.Errorf("%d acked so far", acked())
		}
		return nil
	})
	return acked
}

func TestASecondNodeWithTheSameNameIsRefused(t *testing.T) {
	a := startPeer(t, "a")
	cfg := DefaultPeerConfig()
	cfg.Name = "a"
	cfg.GRPCAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Etcd = a.EtcdEndpoints()
	cfg.LeaseTTL = time.Second
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	dup, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = dup.Start(ctx)
	if !errors.Is(err, coordinator.ErrNameTaken) {
		t.Fatalf("second node named a: Start = %v, want ErrNameTaken", err)
	}
}

// TestFinishedTopologyStaysFinished: a finite topology spread over two
// nodes ends by itself; its state becomes FINISHED in etcd (written by the
// leader), and later nodes joining and leaving do not start its tasks
// again: the sinks see every id exactly as often as when it finished.
func TestFinishedTopologyStaysFinished(t *testing.T) {
	a, b, client := twoNodes(t)
	ctx := context.Background()
	const n = 2000
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 2}).
		spout("seq", "test.Seq", 2, "id").
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 2, nil, "pass:shuffle")
	tp.s.Name = "once"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	finished := func() error {
		rec, err := a.store.Topology(ctx, "once")
		if err != nil {
			return err
		}
		if rec.GetState() != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			return fmt.Errorf("stored state %v", rec.GetState())
		}
		l, err := client.ListTopologies(ctx, &galev1.ListTopologiesRequest{})
		if err != nil {
			return err
		}
		for _, s := range l.GetTopologies() {
			if s.GetName() == "once" && s.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
				return nil
			}
		}
		return fmt.Errorf("listed as %v", l.GetTopologies())
	}
	waitFor(t, 30*time.Second, finished)
	st := stateFor(t)
	snapshot := func() map[int64]int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return maps.Clone(st.sunk)
	}
	before := snapshot()
	for i := int64(0); i < n; i++ {
		if before[i] < 1 {
			t.Fatalf("id %d never reached a sink", i)
		}
	}
	// A finished run keeps nothing running, on any node.
	nothingRuns := func(peers ...*Peer) error {
		for _, p := range peers {
			p.mu.Lock()
			run := p.runs["once"]
			p.mu.Unlock()
			if run != nil {
				return fmt.Errorf("node %s still runs the finished topology", p.cfg.Name)
			}
		}
		return nil
	}
	waitFor(t, 10*time.Second, func() error { return nothingRuns(a, b) })
	// Activating it again would run it again: refused.
	if _, err := client.ActivateTopology(ctx, &galev1.ActivateTopologyRequest{Name: "once"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("activate a finished topology = %v", err)
	}

	// Another topology makes sure the leader has scheduled with the new
	// membership before the checks.
	other := t.Name() + "/other"
	newState(other)
	// It follows the membership: it lets nodes that join take its tasks.
	endless := newTopo(t, map[string]any{"test.count": 1 << 40, "test.per_call": 1, spec.KeyBalanceOnJoin: true}).
		spout("seq", "test.Seq", 3, "id").
		bolt("sink", "test.Sink", 3, nil, "seq:shuffle")
	endless.s.Config["test.id"] = protoValue(other)
	endless.s.Name = "endless"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: endless.s}); err != nil {
		t.Fatal(err)
	}
	as, _, err := a.store.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := as["once"] // where it ran; it never changes again
	scheduledOn := func(want ...string) error {
		as, _, err := a.store.Assignments(ctx)
		if err != nil {
			return err
		}
		if a := as["once"]; !maps.Equal(a.GetTasks(), last.GetTasks()) || a.GetVersion() != last.GetVersion() {
			return fmt.Errorf("the finished topology was scheduled again: %v, was %v", a.GetTasks(), last.GetTasks())
		}
		on := map[string]bool{}
		for _, node := range as["endless"].GetTasks() {
			on[node] = true
		}
		if len(on) != len(want) {
			return fmt.Errorf("endless runs on %v, want %v", on, want)
		}
		for _, w := range want {
			if !on[w] {
				return fmt.Errorf("endless runs on %v, want %v", on, want)
			}
		}
		return nil
	}
	check := func(peers ...*Peer) {
		t.Helper()
		if err := finished(); err != nil {
			t.Fatal(err)
		}
		if err := nothingRuns(peers...); err != nil {
			t.Fatal(err)
		}
		if after := snapshot(); !maps.Equal(after, before) {
			t.Fatalf("the sinks saw more after the topology finished: %d distinct ids, %d before", len(after), len(before))
		}
	}

	// A node joins.
	c := startPeerWith(t, "c", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	waitFor(t, 20*time.Second, func() error { return scheduledOn("a", "b", "c") })
	check(a, b, c)

	// A node leaves.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() error { return scheduledOn("a", "c") })
	check(a, c)
}

// TestDelayedKillSparesAResubmittedTopology: a kill still waiting when its
// topology is killed at once and submitted again under the same name ends
// its wait without error (the run it was asked to kill is killed) and
// leaves the new run running. A second kill joining a kill under way
// succeeds too, as does the one it joined.
func TestDelayedKillSparesAResubmittedTopology(t *testing.T) {
	p := startPeer(t, "solo")
	ctx := context.Background()
	client, _ := dialPeer(t, p)
	endless := func() *galev1.TopologySpec {
		tp := newTopo(t, map[string]any{"test.count": 1 << 40}).
			spout("seq", "test.Seq", 1, "id").
			bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
		tp.s.Name = "again"
		return tp.s
	}
	state := func() galev1.TopologyState {
		l, err := client.ListTopologies(ctx, &galev1.ListTopologiesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.GetTopologies() {
			if s.GetName() == "again" {
				return s.GetState()
			}
		}
		return galev1.TopologyState_TOPOLOGY_STATE_UNSPECIFIED
	}
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: endless()}); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "again", WaitSeconds: proto.Int32(5)})
		slow <- err
	}()
	waitFor(t, 10*time.Second, func() error {
		if s := state(); s != galev1.TopologyState_TOPOLOGY_STATE_KILLING {
			return fmt.Errorf("state %v, want killing while the slow kill waits", s)
		}
		return nil
	})
	if _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "again", WaitSeconds: proto.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: endless()}); err != nil {
			return err
		}
		return nil
	})
	// The slow kill ends its wait now, against the run it was asked for.
	if err := <-slow; err != nil {
		t.Fatalf("the slow kill: %v, want success (the run it was asked to kill is gone)", err)
	}
	if s := state(); s != galev1.TopologyState_TOPOLOGY_STATE_ACTIVE {
		t.Fatalf("the resubmitted topology is %v, want active", s)
	}

	// Two kills with a wait, the second joining the first's: both succeed.
	kills := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: "again", WaitSeconds: proto.Int32(2)})
			kills <- err
		}()
	}
	for range 2 {
		if err := <-kills; err != nil {
			t.Errorf("one of two kills at once: %v", err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		if s := state(); s != galev1.TopologyState_TOPOLOGY_STATE_UNSPECIFIED {
			return fmt.Errorf("state %v, want gone", s)
		}
		return nil
	})
}

// TestAckersDefaultToOnePerNode: a topology that does not set
// topology.acker.executors gets one acker per live node at submit time
// (Storm's one per worker), written into its stored spec; one that sets
// it keeps its own number.
func TestAckersDefaultToOnePerNode(t *testing.T) {
	_, _, client := twoNodes(t)
	ctx := context.Background()
	ackerTasks := func(name string) (int, error) {
		s, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: name})
		if err != nil {
			return 0, err
		}
		for _, c := range s.GetComponents() {
			if c.GetId() == sdk.AckerComponent {
				return len(c.GetTasks()), nil
			}
		}
		return 0, nil
	}
	for _, tc := range []struct {
		name string
		conf map[string]any
		want int
	}{
		{"unset", nil, 2},
		{"null", map[string]any{KeyAckers: nil}, 2}, // YAML's "key: null" reads as unset
		{"set", map[string]any{KeyAckers: 1}, 1},
	} {
		tp := newTopo(t, tc.conf).
			spout("seq", "test.Seq", 1, "id").
			bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
		tp.s.Name = tc.name
		if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s, StartInactive: true}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() error {
			n, err := ackerTasks(tc.name)
			if err == nil && n != tc.want {
				err = fmt.Errorf("%s: %d acker tasks, want %d", tc.name, n, tc.want)
			}
			return err
		})
	}
	// The default is a number in the spec like any other: rebalance
	// changes it, and 0 turns acking off, as it does at submit.
	for _, want := range []int32{3, 0} {
		if _, err := client.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{Name: "unset", Parallelism: map[string]int32{sdk.AckerComponent: want}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() error {
			n, err := ackerTasks("unset")
			if err == nil && n != int(want) {
				err = fmt.Errorf("after rebalance to %d: %d acker tasks", want, n)
			}
			return err
		})
	}
}

// Requests that leave out what they must hold (a grpcurl call with '{}',
// a program's zero value) get InvalidArgument saying what is missing, and
// the node lives on: an empty SubmitTopology used to crash it (a nil
// pointer in the handler, no recovery), restarting every topology on it.
func TestEmptyRequestsAreRefusedClearly(t *testing.T) {
	p := startPeer(t, "a")
	client, _ := dialPeer(t, p)
	ctx := context.Background()
	for _, c := range []struct {
		call string
		do   func() error
		want string
	}{
		{"SubmitTopology", func() error { _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{}); return err }, "spec is missing"},
		{"SubmitTopology with an empty spec", func() error {
			_, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: &galev1.TopologySpec{}})
			return err
		}, "topology name is missing"},
		{"KillTopology", func() error { _, err := client.KillTopology(ctx, &galev1.KillTopologyRequest{}); return err }, "kill: name is missing"},
		{"ActivateTopology", func() error { _, err := client.ActivateTopology(ctx, &galev1.ActivateTopologyRequest{}); return err }, "activate: name is missing"},
		{"DeactivateTopology", func() error {
			_, err := client.DeactivateTopology(ctx, &galev1.DeactivateTopologyRequest{})
			return err
		}, "deactivate: name is missing"},
		{"RebalanceTopology", func() error { _, err := client.RebalanceTopology(ctx, &galev1.RebalanceTopologyRequest{}); return err }, "rebalance: name is missing"},
		{"GetTopologyStatus", func() error { _, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{}); return err }, "status: name is missing"},
	} {
		err := c.do()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want InvalidArgument: %s", c.call, err, c.want)
		}
	}
	// Still serving.
	if _, err := client.ListTopologies(ctx, &galev1.ListTopologiesRequest{}); err != nil {
		t.Fatalf("ListTopologies after the empty requests: %v", err)
	}
}

// A node told to stop while its etcd is down stops: a follower's
// campaign, cancelled, resigns with no deadline, and the node waited for
// etcd to come back before it exited.
func TestANodeStopsWhileItsEtcdIsDown(t *testing.T) {
	srv := etcdtest.StartServer(t)
	_, b, _ := twoNodes(t, srv.Endpoints()...)
	srv.Stop()
	t.Cleanup(func() { srv.Restart(t) }) // for the other node's cleanup
	stopped := make(chan error, 1)
	go func() { stopped <- b.Shutdown(context.Background()) }() // no deadline of its own
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not stop while its etcd was down")
	}
}

// A node with --etcd whose --join address does not answer yet (nodes
// started together) starts and joins once it answers; one without
// --etcd waits for it within its start's time. Both were fatal.
func TestAJoinThatDoesNotAnswerYetIsRetried(t *testing.T) {
	eps := etcdtest.Start(t)
	later := freeGossipAddr(t) // for the node that comes up later
	b := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Etcd, cfg.Join = eps, []string{later} })
	startPeerWith(t, "a", func(cfg *PeerConfig) { cfg.Etcd, cfg.GossipAddr = eps, later })
	waitFor(t, 20*time.Second, func() error {
		for _, m := range b.gossip.Members() {
			if m.Name == "a" {
				return nil
			}
		}
		return fmt.Errorf("b's gossip members %v, want a among them", b.gossip.Members())
	})

	// Without --etcd it learns etcd through gossip: it waits for the node
	// it joins.
	later = freeGossipAddr(t)
	cfg := DefaultPeerConfig()
	cfg.Name, cfg.GRPCAddr, cfg.GossipAddr, cfg.DataDir, cfg.Join = "d", "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), []string{later}
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- d.Start(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		d.Shutdown(sctx)
	})
	time.Sleep(500 * time.Millisecond) // d tries and fails to join first
	startPeerWith(t, "c", func(cfg *PeerConfig) {
		cfg.GossipAddr, cfg.EtcdClientAddr, cfg.EtcdPeerAddr = later, "127.0.0.1:0", "127.0.0.1:0"
	})
	if err := <-started; err != nil {
		t.Fatalf("d did not start once the node it joins came up: %v", err)
	}
}

// freeGossipAddr is a 127.0.0.1 port free for TCP and UDP, as gossip
// binds both.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := tl.Addr().String()
		ul, err := net.ListenPacket("udp", addr)
		tl.Close()
		if err == nil {
			ul.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

// TestGossipSplitIsMended: the first node restarts without --join and
// comes back alone in gossip, while the other saw it fail and never
// contacts it again; etcd lists both, and the nodes join the gossip of the
// live nodes they do not know, so the split mends.
func TestGossipSplitIsMended(t *testing.T) {
	// Restored after the peers stop (cleanups run last in, first out),
	// not while their mendGossip reads it.
	t.Cleanup(func(d time.Duration) func() { return func() { gossipMendEvery = d } }(gossipMendEvery))
	gossipMendEvery = 200 * time.Millisecond
	eps := etcdtest.Start(t)
	a, b, _ := twoNodes(t, eps...)
	a.crash()
	waitFor(t, 20*time.Second, func() error {
		for _, m := range b.gossip.Members() {
			if m.Name == "a" {
				return errors.New("b still sees a in gossip")
			}
		}
		return nil
	})
	a2 := startPeerWith(t, "a", func(cfg *PeerConfig) { cfg.Etcd = eps }) // no --join
	waitFor(t, 20*time.Second, func() error {
		for _, p := range []*Peer{a2, b} {
			if n := len(p.gossip.Members()); n != 2 {
				return fmt.Errorf("a node sees %d gossip members, want 2", n)
			}
		}
		return nil
	})
}

// freeAddr returns a 127.0.0.1 address with a free port, for a node that
// must be restarted on the addresses it had.
func freeAddr(t *testing.T) string { return etcdtest.FreeAddr(t) }

// TestTasksStayPutWhenTheEtcdNodeRestarts is the cluster of the README:
// a runs the embedded etcd and leads, b and c join it. a is killed (its
// etcd with it) and started again with the same command once b and c
// have lost their leases. b and c must keep running their tasks through
// it, with their state (no task of theirs starts again), and take their
// registrations back instead of being refused by their own old keys; the
// new leader must not move tasks away from nodes that are registering
// again, so every task stays where it was; and every message completes.
func TestTasksStayPutWhenTheEtcdNodeRestarts(t *testing.T) {
	aDir := t.TempDir()
	grpcAddr, gossipAddr, etcdClient, etcdPeer := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	asA := func(cfg *PeerConfig) {
		cfg.DataDir, cfg.GRPCAddr, cfg.GossipAddr = aDir, grpcAddr, gossipAddr
		cfg.EtcdClientAddr, cfg.EtcdPeerAddr = etcdClient, etcdPeer
	}
	a := startPeerWith(t, "a", asA)
	join := func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} }
	b := startPeerWith(t, "b", join)
	c := startPeerWith(t, "c", join)
	client, _ := dialPeer(t, b)
	ctx := context.Background()
	waitForNodes(t, client, 3)
	if !a.leader.IsLeader() {
		t.Fatal("a, the first node, does not lead")
	}
	const n = 20000
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 3, KeyMessageTimeout: 2, "test.per_call": 1}).
		spout("seq", "test.Seq", 3, "id").
		bolt("pass", "test.Pass", 3, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 3, nil, "pass:shuffle").
		conf("pass", map[string]any{"test.sleep": 1.5})
	tp.s.Name = "restart"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	acked := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.acked)
	}
	nodeOf := func() (map[int32]string, error) { return taskNodes(client, "restart") }
	var before map[int32]string
	waitFor(t, 20*time.Second, func() (err error) {
		if acked() < n/20 {
			return fmt.Errorf("%d acked so far", acked())
		}
		before, err = nodeOf()
		return err
	})
	perNode := map[string]int{}
	for _, node := range before {
		perNode[node]++
	}
	if perNode["a"] == 0 || perNode["b"] == 0 || perNode["c"] == 0 {
		t.Fatalf("tasks per node %v: want some on each", perNode)
	}
	starts := st.startCounts()
	conns := map[*Peer]*grpc.ClientConn{}
	for _, p := range []*Peer{b, c} {
		_, conns[p] = dialPeer(t, p)
	}

	// kill -9 a, its etcd with it.
	killed := time.Now()
	a.etcd.Kill()
	a.crash()
	coordServing := func(p *Peer) healthpb.HealthCheckResponse_ServingStatus {
		h, err := healthpb.NewHealthClient(conns[p]).Check(ctx, &healthpb.HealthCheckRequest{Service: galev1.CoordinatorService_ServiceDesc.ServiceName})
		if err != nil {
			t.Fatal(err)
		}
		return h.GetStatus()
	}
	waitFor(t, 20*time.Second, func() error {
		for _, p := range []*Peer{b, c} {
			if h := coordServing(p); h != healthpb.HealthCheckResponse_NOT_SERVING {
				return fmt.Errorf("%s: the Coordinator API is %v: its lease is not lost yet", p.cfg.Name, h)
			}
		}
		return nil
	})
	t.Logf("b and c lost their leases %v after a died", time.Since(killed).Round(time.Millisecond))
	startPeerWith(t, "a", asA) // the same command
	restarted := time.Now()
	waitFor(t, 20*time.Second, func() error {
		for _, p := range []*Peer{b, c} {
			if h := coordServing(p); h != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("%s: the Coordinator API is %v after a came back", p.cfg.Name, h)
			}
		}
		nodes, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
		if err != nil {
			return err
		}
		leaders := 0
		for _, n := range nodes.GetNodes() {
			if n.GetLeader() {
				leaders++
			}
		}
		if len(nodes.GetNodes()) != 3 || leaders != 1 {
			return fmt.Errorf("nodes after a came back: %v", nodes.GetNodes())
		}
		return nil
	})
	t.Logf("the cluster was whole again %v after a restarted", time.Since(restarted).Round(time.Millisecond))
	waitCompleted(t, acked, n, 120*time.Second)
	after, err := nodeOf()
	if err != nil {
		t.Fatal(err)
	}
	now := st.startCounts()
	for task, node := range before {
		if after[task] != node {
			t.Errorf("task %d moved from %s to %s", task, node, after[task])
		}
		if node != "a" && now[task] != starts[task] {
			t.Errorf("task %d on %s started %d times, %d before a died: it was restarted", task, node, now[task], starts[task])
		}
	}
}

// TestMarkersReachANodeBackAtAnotherAddress: a node comes back at
// another address and takes pass tasks back after the quick spout ended:
// the pass tasks there need quick's end-of-input marker, which the run's
// sender to the old address owed (it was lost when the sender moved, and
// the topology never finished; found by a review).
func TestMarkersReachANodeBackAtAnotherAddress(t *testing.T) {
	a, b, client := twoNodes(t)
	st := submitMarkers(t, client, 40000)
	state := func() (galev1.TopologyState, string) { return markersOn(t, client, "b") }
	oldAddr := b.Addr()
	b.crash()
	waitFor(t, 20*time.Second, func() error {
		if _, onB := state(); onB != "" {
			return fmt.Errorf("b still has%s", onB)
		}
		return nil
	})
	b2 := startPeerWith(t, "b", func(cfg *PeerConfig) { cfg.Join = []string{a.GossipAddr()} })
	if b2.Addr() == oldAddr {
		t.Skip("same address")
	}
	waitFor(t, 30*time.Second, func() error {
		if _, onB := state(); !strings.Contains(onB, "pass/") {
			return fmt.Errorf("no pass task on b yet (b has%s)", onB)
		}
		return nil
	})
	waitFor(t, 60*time.Second, func() error {
		if s, onB := state(); s != galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			st.mu.Lock()
			n := len(st.sunk)
			st.mu.Unlock()
			return fmt.Errorf("state %v (b has%s), %d sunk", s, onB, n)
		}
		return nil
	})
}
