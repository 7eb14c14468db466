package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/coordinator/etcdtest"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// A node whose etcd answers slowly, but well within the lease's TTL
// (here 1.4 s a round trip against a TTL of 3 s, after the node
// started), keeps its lease: etcd renews it on every request. Its tasks
// must not be held as if it were cut off from etcd (renewed one at a
// time, each waiting for the answer to the one before, the lease's
// bound fell within the fence's margin before every answer: the fence
// held 3.5 s after etcd slowed; the client's KeepAlive stream, before
// 713610f, rode it out). Nor may it say by gossip that its renewals fail
// (the others would take an outage for what it is not).
func TestASlowEtcdDoesNotHoldANodesTasks(t *testing.T) {
	a := startPeer(t, "a")
	slow := etcdtest.StartProxy(t, strings.TrimPrefix(a.EtcdEndpoints()[0], "http://"))
	b := startPeerWith(t, "b", func(cfg *PeerConfig) {
		cfg.Etcd, cfg.Join = []string{"http://" + slow.Addr()}, []string{a.GossipAddr()}
	})
	client, _ := dialPeer(t, a)
	ctx := context.Background()
	waitForNodes(t, client, 2)
	slow.SetDelay(700 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b.fence.held() {
			t.Fatal("b holds its tasks while etcd renews its lease, slowly")
		}
		if b.etcdLostAt.Load() != 0 {
			t.Fatal("b takes its lease for lost while etcd renews it, slowly")
		}
		// Once the answers come at their new pace (the first slow one
		// comes two intervals after the last fast one, and b says for a
		// moment that its renewals fail), b says they succeed.
		if m := a.gossip.Members(); time.Until(deadline) < 7*time.Second && len(m) == 2 && m[1].Meta.EtcdLost != 0 {
			t.Fatal("b gossips that its renewals fail while etcd renews its lease, slowly")
		}
		time.Sleep(20 * time.Millisecond)
	}
	nodes, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
	if err != nil || len(nodes.GetNodes()) != 2 {
		t.Fatal(errors.New("b's lease expired"), nodes.GetNodes(), err)
	}
}
