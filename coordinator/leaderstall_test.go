package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gale-stream/gale/coordinator/etcdtest"
)

// A leader in the middle of a reconcile when etcd stops answering (its
// cluster lost its quorum) stops leading once its session expires. etcd's
// client retries the reconcile's read for as long as its context lasts,
// and the leader went on leading in its own eyes for the whole outage.
func TestALeaderStuckInAReconcileStopsLeadingWhenItsSessionExpires(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := StartEmbedded(ctx, EmbeddedConfig{Dir: t.TempDir(), ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	target := m.Endpoints()[0][len("http://"):]
	proxy := etcdtest.StartProxy(t, target)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.Addr()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg := DefaultLeaderConfig("a")
	cfg.Resync = 20 * time.Millisecond // it reconciles all the time: one is under way when etcd stalls
	l, _ := startLeaderWith(t, NewStore(c), cfg)
	waitFor(t, 10*time.Second, func() error {
		if !l.IsLeader() || l.Reconciles() < 3 {
			return errors.New("a does not lead yet")
		}
		return nil
	})
	proxy.Stall()
	waitFor(t, cfg.SessionTTL+5*time.Second, func() error {
		if l.IsLeader() {
			return errors.New("a still leads, its session expired, etcd silent")
		}
		return nil
	})
}
