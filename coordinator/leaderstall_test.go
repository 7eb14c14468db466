package coordinator

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// stallProxy forwards TCP connections to an address until stall is
// called; from then on it keeps every connection open and forwards
// nothing, as an etcd whose cluster lost its quorum: it takes requests and
// answers none.
type stallProxy struct {
	l       net.Listener
	to      string
	stalled chan struct{}
	once    sync.Once

	mu     sync.Mutex
	conns  []net.Conn
	closed bool // the test's cleanup closed every connection
}

func startStallProxy(t *testing.T, listen, to string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{l: l, to: to, stalled: make(chan struct{})}
	// One cleanup closes every connection, also those accepted while the
	// cleanups run: a connection left open kept the etcd behind it from
	// closing (its server waits for its connections), and the test hung
	// in its cleanup until the package's timeout.
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		p.closed = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// keep records c to be closed by the cleanup, or closes it at once if the
// cleanup ran, and reports whether c is kept.
func (p *stallProxy) keep(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *stallProxy) stall() { p.once.Do(func() { close(p.stalled) }) }

func (p *stallProxy) serve(c net.Conn) {
	if !p.keep(c) {
		return
	}
	d, err := net.Dial("tcp", p.to)
	if err != nil {
		c.Close()
		return
	}
	if !p.keep(d) {
		c.Close()
		return
	}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case <-p.stalled:
					// Hold the connection open, forward nothing.
					_, _ = io.Copy(io.Discard, src)
					return
				default:
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(d, c)
	go pipe(c, d)
}

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
	proxy := startStallProxy(t, "127.0.0.1:0", target)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.l.Addr().String()}, DialTimeout: 5 * time.Second})
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
	proxy.stall()
	waitFor(t, cfg.SessionTTL+5*time.Second, func() error {
		if l.IsLeader() {
			return errors.New("a still leads, its session expired, etcd silent")
		}
		return nil
	})
}
