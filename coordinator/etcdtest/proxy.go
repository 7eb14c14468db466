package etcdtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to an address (an etcd's client URL, in
// the tests that use it), so that a test can cut, stall or slow the way
// between a node and its etcd while the others keep theirs.
type Proxy struct {
	l     net.Listener
	to    string
	delay atomic.Int64 // ns added to every chunk each way (SetDelay)
	done  chan struct{}

	mu      sync.Mutex
	conns   map[net.Conn]bool
	cut     bool // connections are closed and new ones refused (SetCut)
	stalled bool // connections stay open and nothing is forwarded (Stall)
	closed  bool // the test ended: every connection closed, new ones refused
}

// StartProxy starts a proxy to to on a free 127.0.0.1 port. The test's
// cleanup closes every connection, also one accepted while the cleanups
// run: a connection left open keeps the etcd behind it from closing (its
// server waits for its connections), and a test hung in its cleanup.
func StartProxy(t testing.TB, to string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, to: to, done: make(chan struct{}), conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		p.closed = true
		p.closeAllLocked()
		p.mu.Unlock()
		close(p.done)
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

// Addr is the proxy's HOST:PORT.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// SetCut cuts the way (every connection is closed, new ones refused) or
// opens it again.
func (p *Proxy) SetCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		p.closeAllLocked()
	}
}

// Stall keeps every connection open and forwards nothing from now on, as
// an etcd whose cluster lost its quorum: it takes requests and answers
// none.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// SetDelay delays every chunk by d each way, in order, from now on: a
// slow but live network.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *Proxy) closeAllLocked() {
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// keep records c for SetCut and the cleanup to close, or closes it at
// once if the way is cut or the test ended.
func (p *Proxy) keep(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) isStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

func (p *Proxy) serve(c net.Conn) {
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
	p.pipe(d, c)
	p.pipe(c, d)
}

// pipe forwards src to dst: a reader stamps each chunk with when it may go
// (now and the delay) and a writer sends it then, so that chunks in
// flight overlap their delays as on a slow link.
func (p *Proxy) pipe(dst, src net.Conn) {
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
			if n > 0 && !p.isStalled() {
				ch <- chunk{time.Now().Add(time.Duration(p.delay.Load())), buf[:n]}
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
			if wait := time.Until(c.at); wait > 0 {
				select {
				case <-time.After(wait):
				case <-p.done:
					return
				}
			}
			if _, err := dst.Write(c.b); err != nil {
				return
			}
		}
	}()
}
