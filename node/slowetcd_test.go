package node

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// startDelayProxy forwards TCP connections to an address, delaying
// every chunk by *delay each way (in order) once set: a slow but live
// network between one node and its etcd.
func startDelayProxy(t *testing.T, to string, delay *atomic.Int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	// keep records a connection for the cleanup to close (a connection
	// left open keeps the etcd behind it from closing), or closes it if
	// the cleanup ran.
	keep := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	t.Cleanup(func() {
		close(done)
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			at time.Time
			b  []byte
		}
		ch := make(chan chunk, 1024)
		go func() {
			defer close(ch)
			for {
				buf := make([]byte, 32<<10)
				n, err := src.Read(buf)
				if n > 0 {
					ch <- chunk{time.Now().Add(time.Duration(delay.Load())), buf[:n]}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer dst.Close()
			defer src.Close()
			for c := range ch {
				select {
				case <-time.After(time.Until(c.at)):
				case <-done:
					return
				}
				if _, err := dst.Write(c.b); err != nil {
					return
				}
			}
		}()
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !keep(c) {
				continue
			}
			d, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			if !keep(d) {
				c.Close()
				continue
			}
			pipe(d, c)
			pipe(c, d)
		}
	}()
	return l.Addr().String()
}

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
	var delay atomic.Int64
	slow := startDelayProxy(t, strings.TrimPrefix(a.EtcdEndpoints()[0], "http://"), &delay)
	b := startPeerWith(t, "b", func(cfg *PeerConfig) {
		cfg.Etcd, cfg.Join = []string{"http://" + slow}, []string{a.GossipAddr()}
	})
	client, _ := dialPeer(t, a)
	ctx := context.Background()
	waitForNodes(t, client, 2)
	delay.Store(int64(700 * time.Millisecond))
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
