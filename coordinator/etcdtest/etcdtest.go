// Package etcdtest starts a real external etcd server process for tests:
// Debian's etcd-server, which `make deps` installs. Tests that need etcd
// run against it as well as against the embedded one, so that Gale is
// known to work with a stock etcd, not only with the version it embeds.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// RequireEnv, set to 1 (as `make test` does), makes a missing etcd binary
// a test failure instead of a skip.
const RequireEnv = "GALE_REQUIRE_EXTERNAL_ETCD"

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts an etcd server process on free 127.0.0.1 ports, waits until
// it serves, stops it when the test ends, and returns its client URLs.
func Start(t testing.TB) []string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("no etcd binary on PATH (make deps installs Debian's etcd-server): %v", err)
		}
		t.Skip("no etcd binary on PATH; `make test` installs one")
	}
	client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	cmd := exec.Command(bin,
		"--name", "ext", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "ext="+peer, "--log-level", "error")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Put(ctx, "/gale-test/ready", "1")
		cancel()
		if err == nil {
			return []string{client}
		}
		if time.Now().After(deadline) {
			t.Fatalf("external etcd at %s not ready: %v\n%s", client, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client starts a server with Start and returns a client for it, closed
// when the test ends.
func Client(t testing.TB) *clientv3.Client {
	t.Helper()
	eps := Start(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(fmt.Errorf("connect to external etcd: %w", err))
	}
	t.Cleanup(func() { c.Close() })
	return c
}
