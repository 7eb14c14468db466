package coordinator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// waitFor polls f until it returns nil or the timeout passes.
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

func testSpec(name string, parallelism ...int32) *galev1.TopologySpec {
	s := &galev1.TopologySpec{Name: name}
	for i, p := range parallelism {
		s.Components = append(s.Components, &galev1.ComponentSpec{Id: fmt.Sprintf("c%d", i), Parallelism: p})
	}
	return s
}

func TestStoreTopologies(t *testing.T) { forEachEtcd(t, testStoreTopologies) }

func testStoreTopologies(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	rec := &galev1.TopologyRecord{Spec: testSpec("b", 1), Id: "b-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE}
	if err := s.CreateTopology(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTopology(ctx, rec); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create = %v, want ErrExists", err)
	}
	if err := s.CreateTopology(ctx, &galev1.TopologyRecord{Spec: testSpec("a", 1), Id: "a-1"}); err != nil {
		t.Fatal(err)
	}
	all, _, err := s.Topologies(ctx)
	if err != nil || len(all) != 2 || all[0].GetId() != "a-1" || all[1].GetId() != "b-1" {
		t.Fatalf("Topologies = %v, %v", all, err)
	}
	if err := s.UpdateTopology(ctx, "b", func(r *galev1.TopologyRecord) error {
		r.State = galev1.TopologyState_TOPOLOGY_STATE_INACTIVE
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Topology(ctx, "b")
	if err != nil || got.GetState() != galev1.TopologyState_TOPOLOGY_STATE_INACTIVE {
		t.Fatalf("after update: %v, %v", got, err)
	}
	if err := s.DeleteTopology(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Topology(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted topology: %v", err)
	}
	if err := s.DeleteTopology(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.UpdateTopology(ctx, "zz", func(*galev1.TopologyRecord) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
}

// registerNode registers a node under a fresh lease and returns the lease.
func registerNode(t *testing.T, s *Store, name string, slots int32) clientv3.LeaseID {
	t.Helper()
	ctx := context.Background()
	l, err := s.Client().Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterNode(ctx, &galev1.NodeInfo{Name: name, Slots: slots, State: galev1.NodeState_NODE_STATE_ALIVE}, l.ID, "inc-"+name); err != nil {
		t.Fatal(err)
	}
	return l.ID
}

// TestANodeTakesItsOwnKeyOverUnderANewLease: a process that lost its
// lease registers under a new one while the old one still lives (etcd
// restores leases with a renewed TTL when it restarts): the same
// incarnation takes its key over at once, and the key then follows the
// new lease; another process (another incarnation, or none) is refused.
func TestANodeTakesItsOwnKeyOverUnderANewLease(t *testing.T) {
	forEachEtcd(t, testANodeTakesItsOwnKeyOverUnderANewLease)
}

func testANodeTakesItsOwnKeyOverUnderANewLease(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	old := registerNode(t, s, "n1", 1) // incarnation "inc-n1"
	lease := func() clientv3.LeaseID {
		l, err := c.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	info := &galev1.NodeInfo{Name: "n1", Slots: 3, State: galev1.NodeState_NODE_STATE_ALIVE}
	for _, inc := range []string{"another-process", ""} {
		if err := s.RegisterNode(ctx, info, lease(), inc); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("incarnation %q under another lease = %v, want ErrNameTaken", inc, err)
		}
	}
	fresh := lease()
	if err := s.RegisterNode(ctx, info, fresh, "inc-n1"); err != nil {
		t.Fatalf("the same incarnation under a new lease: %v", err)
	}
	// The key left the old lease: revoking it leaves the node registered.
	if _, err := c.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	nodes, _, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].GetSlots() != 3 {
		t.Fatalf("after the old lease ended: %v, %v", nodes, err)
	}
	// And it follows the new one.
	if _, err := c.Revoke(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if nodes, _, _ = s.Nodes(ctx); len(nodes) != 0 {
		t.Fatalf("after the new lease ended: %v", nodes)
	}
	// The name is free again: any process takes it.
	if err := s.RegisterNode(ctx, info, lease(), "another-process"); err != nil {
		t.Fatalf("a free name: %v", err)
	}
}

func TestStoreNodesFollowLeases(t *testing.T) { forEachEtcd(t, testStoreNodesFollowLeases) }

func testStoreNodesFollowLeases(t *testing.T, c *clientv3.Client) {
	s := NewStore(c)
	ctx := context.Background()
	l1 := registerNode(t, s, "n1", 1)
	registerNode(t, s, "n2", 2)
	// The same name under another live lease is refused; under its own
	// lease it is updated.
	other, err := s.Client().Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterNode(ctx, &galev1.NodeInfo{Name: "n1"}, other.ID, "another-process"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name = %v, want ErrNameTaken", err)
	}
	if err := s.RegisterNode(ctx, &galev1.NodeInfo{Name: "n1", Slots: 1, State: galev1.NodeState_NODE_STATE_LEAVING}, l1, "inc-n1"); err != nil {
		t.Fatalf("re-register under the own lease: %v", err)
	}
	nodes, _, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].GetName() != "n1" || nodes[1].GetSlots() != 2 {
		t.Fatalf("Nodes = %v, %v", nodes, err)
	}
	if _, err := s.Client().Revoke(ctx, l1); err != nil {
		t.Fatal(err)
	}
	nodes, _, _ = s.Nodes(ctx)
	if len(nodes) != 1 || nodes[0].GetName() != "n2" {
		t.Fatalf("after the lease ended: %v", nodes)
	}
}
