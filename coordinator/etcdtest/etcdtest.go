// Package etcdtest starts a real external etcd server process for tests:
// Debian's etcd-server, which `make deps` installs. Tests that need etcd
// run against it as well as against the embedded one, so that Gale is
// known to work with a stock etcd, not only with the version it embeds.
package etcdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gale-stream/gale/sdk/security"
)

// RequireEnv, set to 1 (as `make test` does), makes a missing etcd binary
// a test failure instead of a skip.
const RequireEnv = "GALE_REQUIRE_EXTERNAL_ETCD"

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Server is an etcd server process run by a test.
type Server struct {
	bin, dir, client, peer string
	tls                    security.TLSFiles // zero: plaintext
	cmd                    *exec.Cmd
	out                    *bytes.Buffer // read only once exited is closed
	exited                 chan struct{} // closed when cmd has exited
}

// Start starts an etcd server process on free 127.0.0.1 ports, waits until
// it serves, stops it when the test ends, and returns its client URLs.
func Start(t testing.TB) []string {
	return StartServer(t).Endpoints()
}

// StartServer is Start returning the server, so a test can stop and
// restart it.
func StartServer(t testing.TB) *Server {
	t.Helper()
	return startServer(t, security.TLSFiles{})
}

// StartTLS starts an etcd server process like Start that serves https
// with files (its certificate, and the CA whose client certificates it
// requires) and returns its client URLs.
func StartTLS(t testing.TB, files security.TLSFiles) []string {
	t.Helper()
	return startServer(t, files).Endpoints()
}

func startServer(t testing.TB, files security.TLSFiles) *Server {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("no etcd binary on PATH (make deps installs Debian's etcd-server): %v", err)
		}
		t.Skip("no etcd binary on PATH; `make test` installs one")
	}
	s := &Server{bin: bin, dir: t.TempDir(), tls: files}
	scheme := "http://"
	if !files.IsZero() {
		scheme = "https://"
	}
	t.Cleanup(s.Stop)
	// A port that was free a moment ago can be taken by another test
	// process before etcd binds it: then try other ports.
	for attempt := 1; ; attempt++ {
		s.client, s.peer = scheme+FreeAddr(t), "http://"+FreeAddr(t)
		out, err := s.start()
		if err == nil {
			return s
		}
		if attempt == 5 || !strings.Contains(out, "address already in use") {
			t.Fatalf("%v\n%s", err, out)
		}
		os.RemoveAll(s.dir)
	}
}

// Endpoints returns the client URLs.
func (s *Server) Endpoints() []string { return []string{s.client} }

// start starts the process and waits until it serves; on failure it
// returns the error and what the process wrote, and leaves it stopped.
func (s *Server) start() (string, error) {
	args := []string{"--name", "ext", "--data-dir", s.dir,
		"--listen-client-urls", s.client, "--advertise-client-urls", s.client,
		"--listen-peer-urls", s.peer, "--initial-advertise-peer-urls", s.peer,
		"--initial-cluster", "ext=" + s.peer, "--log-level", "error"}
	var clientTLS *tls.Config
	if !s.tls.IsZero() {
		args = append(args, "--cert-file", s.tls.Cert, "--key-file", s.tls.Key, "--trusted-ca-file", s.tls.CA, "--client-cert-auth")
		sec, err := security.Load(s.tls, "TLS")
		if err != nil {
			return "", err
		}
		clientTLS = sec.ClientTLS()
	}
	s.cmd = exec.Command(s.bin, args...)
	s.out = &bytes.Buffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return "", fmt.Errorf("start %s: %w", s.bin, err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)
	failed := func(err error) (string, error) {
		s.Stop()
		return s.out.String(), err // the process is gone: out is still
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, TLS: clientTLS, Logger: zap.NewNop()})
	if err != nil {
		return failed(err)
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Put(ctx, "/gale-test/ready", "1")
		cancel()
		if err == nil {
			return "", nil
		}
		select {
		case <-s.exited:
			return failed(fmt.Errorf("external etcd at %s exited before it served", s.client))
		default:
		}
		if time.Now().After(deadline) {
			return failed(fmt.Errorf("external etcd at %s not ready: %w", s.client, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: no graceful shutdown); its data stays.
func (s *Server) Stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
}

// Restart starts the server again on the same ports and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if out, err := s.start(); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
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
