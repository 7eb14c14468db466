package etcdtest

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with itself.
func echoServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// roundTrip sends a line through the proxy and reads it back, or fails
// within the deadline.
func roundTrip(c net.Conn, r *bufio.Reader, deadline time.Duration) (time.Duration, error) {
	start := time.Now()
	c.SetDeadline(start.Add(deadline))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	_, err := r.ReadString('\n')
	return time.Since(start), err
}

func TestProxyForwardsDelaysStallsAndCuts(t *testing.T) {
	p := StartProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := roundTrip(c, r, 5*time.Second); err != nil {
		t.Fatalf("forwarding: %v", err)
	}
	p.SetDelay(100 * time.Millisecond)
	if took, err := roundTrip(c, r, 5*time.Second); err != nil || took < 200*time.Millisecond {
		t.Fatalf("with 100 ms each way: %v after %v, want at least 200 ms", err, took)
	}
	p.SetDelay(0)
	p.SetCut(true)
	if _, err := roundTrip(c, r, 5*time.Second); err == nil {
		t.Fatal("a cut connection still forwards")
	}
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		if _, err := roundTrip(c2, bufio.NewReader(c2), 5*time.Second); err == nil {
			t.Fatal("a new connection forwards while the way is cut")
		}
		c2.Close()
	}
	p.SetCut(false)
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	r3 := bufio.NewReader(c3)
	if _, err := roundTrip(c3, r3, 5*time.Second); err != nil {
		t.Fatalf("after the cut mended: %v", err)
	}
	p.Stall()
	if _, err := roundTrip(c3, r3, 300*time.Millisecond); err == nil {
		t.Fatal("a stalled proxy still forwards")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("a stalled connection is closed (%v), want it open and silent", err)
	}
}
