package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/coordinator/etcdtest"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/certgen"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// TestATLSClusterRunsASpreadTopology runs two nodes with mutual TLS and a
// gossip key: the second learns the first's embedded etcd (https, client
// certificates required) through encrypted gossip, tuples and acks cross
// between them on TLS Transfer streams, external bolts attach over TLS,
// and the status gathers the other
// node's counters over TLS. Clients without a certificate of the CA get
// nothing, and a node without the gossip key cannot join.
func TestATLSClusterRunsASpreadTopology(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	key := []byte("0123456789abcdef0123456789abcdef")
	a := startPeerWith(t, "a", func(cfg *PeerConfig) { cfg.TLS, cfg.GossipKey = ca.Issue(t, "a"), key })
	b := startPeerWith(t, "b", func(cfg *PeerConfig) {
		cfg.TLS, cfg.GossipKey, cfg.Join = ca.Issue(t, "b"), key, []string{a.GossipAddr()}
	})
	if eps := a.EtcdEndpoints(); len(eps) != 1 || !strings.HasPrefix(eps[0], "https://") {
		t.Fatalf("embedded etcd endpoints %v, want one https URL", eps)
	}
	cli, err := security.Load(ca.Issue(t, "cli"), "TLS")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client, conn, err := coordinator.DialCoordinator(ctx, b.Addr(), cli, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitForNodes(t, client, 2)

	const n = 3000
	tp := newTopo(t, map[string]any{"test.count": n, KeyAckers: 2}).
		spout("seq", "test.Seq", 2, "id").
		// Managed processes of this test binary (the Go SDK), which attach
		// to their node over TLS with the files the node hands them.
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 2, "pass", nil, "seq").
		bolt("sink", "test.Sink", 2, nil, "pass:fields:id")
	tp.s.Name = "spread-tls"
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: tp.s}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	waitAcked(t, st, n)
	waitFor(t, 10*time.Second, func() error {
		status, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: "spread-tls"})
		if err != nil {
			return err
		}
		if status.GetSummary().GetNodes() != 2 {
			return fmt.Errorf("topology on %d nodes, want 2", status.GetSummary().GetNodes())
		}
		for _, c := range status.GetComponents() {
			if c.GetId() == "sink" && c.GetCounters().GetExecuted() < n {
				return fmt.Errorf("sinks executed %d of %d (both nodes' counters)", c.GetCounters().GetExecuted(), n)
			}
		}
		return nil
	})
	checkSunk(t, st, n)

	t.Run("a client without a certificate gets nothing", func(t *testing.T) {
		for _, sec := range []*security.Security{nil, mustLoad(t, security.TLSFiles{CA: ca.File})} {
			if _, conn, err := coordinator.DialCoordinator(ctx, a.Addr(), sec, time.Second); err == nil {
				conn.Close()
				t.Fatalf("a client with %+v reached the node", sec.Files())
			}
		}
	})
	t.Run("the embedded etcd wants a client certificate", func(t *testing.T) {
		get := func(files security.TLSFiles) error {
			c, err := clientv3.New(clientv3.Config{Endpoints: a.EtcdEndpoints(), DialTimeout: time.Second, TLS: mustLoad(t, files).ClientTLS(), Logger: zap.NewNop()})
			if err != nil {
				return err
			}
			defer c.Close()
			gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err = c.Get(gctx, "/gale/v1/nodes/a")
			return err
		}
		if err := get(ca.Issue(t, "etcd-reader")); err != nil {
			t.Fatalf("a client certificate of the CA cannot read the embedded etcd: %v", err)
		}
		if err := get(security.TLSFiles{CA: ca.File}); err == nil {
			t.Fatal("read the embedded etcd without a client certificate")
		}
	})
	t.Run("a node without the gossip key cannot join", func(t *testing.T) {
		cfg := DefaultPeerConfig()
		cfg.Name, cfg.GRPCAddr, cfg.GossipAddr, cfg.DataDir = "c", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
		cfg.TLS, cfg.GossipKey, cfg.Join = ca.Issue(t, "c"), []byte("another key of thirty-two bytes!"), []string{a.GossipAddr()}
		cfg.Log = b.log
		p, err := NewPeer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err = p.Start(sctx)
		if err == nil {
			t.Fatal("a node with another gossip key joined")
		}
		if errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrGossipKey) || !strings.Contains(err.Error(), "--gossip-key-file must be the same file on every node") {
			t.Fatalf("start: %v; want it to fail the join at once, saying the gossip keys differ", err)
		}
	})
}

// TestANodeReachesAnExternalEtcdOverTLS runs a node against a real etcd
// server process that serves https and requires client certificates:
// with the node's own files when one CA signs all, and with --etcd-*
// files when etcd has a CA of its own.
func TestANodeReachesAnExternalEtcdOverTLS(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	etcdCA := securitytest.NewCA(t, "etcd")
	for _, tc := range []struct {
		name      string
		server    security.TLSFiles // the etcd's
		node, cli security.TLSFiles
		etcd      func() security.TLSFiles // the node's files for etcd
	}{
		{"one CA for all", ca.Issue(t, "etcd"), ca.Issue(t, "n"), ca.Issue(t, "cli"), func() security.TLSFiles { return security.TLSFiles{} }},
		{"a CA of etcd's own", etcdCA.Issue(t, "etcd"), security.TLSFiles{}, security.TLSFiles{}, func() security.TLSFiles { return etcdCA.Issue(t, "n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps := etcdtest.StartTLS(t, tc.server)
			p := startPeerWith(t, "n", func(cfg *PeerConfig) { cfg.Etcd, cfg.TLS, cfg.EtcdTLS = eps, tc.node, tc.etcd() })
			cli, err := security.Load(tc.cli, "TLS")
			if err != nil {
				t.Fatal(err)
			}
			client, conn, err := coordinator.DialCoordinator(context.Background(), p.Addr(), cli, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			waitFor(t, 10*time.Second, func() error {
				nodes, err := client.ListNodes(context.Background(), &galev1.ListNodesRequest{})
				if err != nil || len(nodes.GetNodes()) != 1 || !nodes.GetNodes()[0].GetLeader() {
					return fmt.Errorf("nodes %v, %v", nodes.GetNodes(), err)
				}
				return nil
			})
		})
	}
	t.Run("etcd files with an http endpoint are refused", func(t *testing.T) {
		cfg := DefaultPeerConfig()
		cfg.Etcd, cfg.EtcdTLS = []string{"http://127.0.0.1:2379"}, etcdCA.Issue(t, "x")
		if _, err := NewPeer(cfg); err == nil || !strings.Contains(err.Error(), "not https") {
			t.Fatalf("NewPeer = %v; want an error naming the http endpoint", err)
		}
	})
}

// TestATLSNodeRefusesAPlaintextEtcd: a node with TLS takes its
// topologies (and the commands of their external components) from etcd,
// so it must not use an http etcd, whether given or advertised through
// gossip by a node without TLS (or by anyone who reaches the gossip port).
func TestATLSNodeRefusesAPlaintextEtcd(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	plain := startPeer(t, "plain")
	cfg := DefaultPeerConfig()
	cfg.Name, cfg.GRPCAddr, cfg.GossipAddr, cfg.DataDir = "t", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.TLS, cfg.Join = ca.Issue(t, "t"), []string{plain.GossipAddr()}
	cfg.Log = plain.log
	p, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "is not https") || !strings.Contains(err.Error(), "learned through gossip") {
		t.Fatalf("Start = %v; want a refusal of the http etcd learned through gossip", err)
	}

	for _, tc := range []struct {
		name string
		edit func(*PeerConfig)
		want string
	}{
		{"TLS with an http etcd", func(c *PeerConfig) { c.TLS, c.Etcd = ca.Issue(t, "u"), []string{"http://127.0.0.1:2379"} }, "http://127.0.0.1:2379 (given) is not https"},
		{"etcd files with an http etcd", func(c *PeerConfig) { c.EtcdTLS, c.Etcd = ca.Issue(t, "v"), []string{"http://127.0.0.1:2379"} }, "is not https"},
		{"etcd files with the embedded etcd", func(c *PeerConfig) { c.EtcdTLS = ca.Issue(t, "w") }, "EtcdTLS is set but the node starts an embedded etcd"},
		{"TLS without a key", func(c *PeerConfig) { c.TLS = ca.Issue(t, "x"); c.TLS.Key = "" }, "TLS.Key is empty"},
		{"a certificate of another CA", func(c *PeerConfig) {
			c.TLS = securitytest.NewCA(t, "other").Issue(t, "y")
			c.TLS.CA = ca.File
		}, `(issued by "other") is not signed by --tls-ca=` + ca.File},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultPeerConfig()
			tc.edit(&cfg)
			if _, err := NewPeer(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPeer = %v; want an error that says %q", err, tc.want)
			}
		})
	}
}

// TestRelativeTLSPathsBecomeAbsolute: the node hands its files to the
// processes it manages, which run in their components' directories.
func TestRelativeTLSPathsBecomeAbsolute(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	f := ca.Issue(t, "n")
	dir := filepath.Dir(f.Cert)
	t.Chdir(dir)
	cfg := DefaultPeerConfig()
	cfg.TLS = security.TLSFiles{CA: filepath.Base(f.CA), Cert: filepath.Base(f.Cert), Key: filepath.Base(f.Key)}
	p, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := (&Runtime{attachTLS: p.cfg.TLS, spec: &galev1.TopologySpec{Name: "t"}}).processEnv("c", 1)
	for k, want := range map[string]string{security.EnvCA: f.CA, security.EnvCert: f.Cert, security.EnvKey: f.Key} {
		if got, _ := filepath.EvalSymlinks(env[k]); got != mustEval(t, want) {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}

func mustEval(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, f security.TLSFiles) *security.Security {
	t.Helper()
	sec, err := security.Load(f, "TLS")
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

// TestManagedProcessesOfAPlaintextNodeIgnoreInheritedTLSVariables: a node
// started from a shell that exported GALE_TLS_* for the CLI, but without
// TLS itself, must not hand those files to its processes (which inherit
// its environment), or they would speak TLS to a plaintext port.
func TestManagedProcessesOfAPlaintextNodeIgnoreInheritedTLSVariables(t *testing.T) {
	t.Setenv(security.EnvCA, "/nonexistent/ca.pem")
	t.Setenv(security.EnvCert, "/nonexistent/cert.pem")
	t.Setenv(security.EnvKey, "/nonexistent/key.pem")
	const n = 500
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		ext("pass", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "pass", nil, "seq").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, st, err := tp.runWithHub(t, 30*time.Second)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errorsText(rt))
	}
	checkAllAcked(t, st, n)
}

// TestANodeChecksItsCertificateNamesItsAddresses: a node whose
// certificate does not name the host of its embedded etcd refuses to start
// with what to add (every etcd connection would fail, as a timeout); one
// whose certificate does not name its gRPC host starts, and says that
// the other nodes and its processes will refuse it.
func TestANodeChecksItsCertificateNamesItsAddresses(t *testing.T) {
	ca, err := certgen.NewCA("gale", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := func(name string, hosts ...string) security.TLSFiles {
		cert, key, err := ca.Issue(certgen.Node, name, hosts, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f := security.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
		if err := certgen.WritePair(f.Cert, cert, f.Key, key, false); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if err := ca.WriteCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), false); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultPeerConfig()
	cfg.Name, cfg.GRPCAddr, cfg.GossipAddr, cfg.DataDir = "a", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS = files("a", "node-a.example.com")
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "is for node-a.example.com, not 127.0.0.1") || !strings.Contains(err.Error(), "add 127.0.0.1 to the certificate") {
		t.Fatalf("Start = %v; want a refusal naming the etcd host missing from the certificate", err)
	}

	// A certificate for the etcd's host but not for the gRPC address the
	// others dial (127.0.0.2: any 127/8 address is the loopback here).
	var logged lockedBuffer
	startPeerWith(t, "b", func(cfg *PeerConfig) {
		cfg.GRPCAddr, cfg.TLS = "127.0.0.2:0", files("b", "127.0.0.1")
		cfg.Log = slog.New(slog.NewTextHandler(&logged, nil))
	})
	if !strings.Contains(logged.String(), "TLS: the other nodes and clients dial this node at 127.0.0.2:") || !strings.Contains(logged.String(), "add 127.0.0.2 to it") {
		t.Errorf("no warning for the gRPC host:\n%s", logged.String())
	}
	// A certificate that names both: no warning.
	var quiet lockedBuffer
	startPeerWith(t, "c", func(cfg *PeerConfig) {
		cfg.TLS = files("c", "127.0.0.1")
		cfg.Log = slog.New(slog.NewTextHandler(&quiet, nil))
	})
	if strings.Contains(quiet.String(), "dial this node") {
		t.Errorf("a warning for a certificate that names the node's hosts:\n%s", quiet.String())
	}
}

// lockedBuffer is a log destination for the node's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A node without TLS files that learns an https etcd through gossip
// fails at start with what it needs: it waited for ever in silence.
func TestAPlaintextNodeRefusesAnHTTPSEtcd(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	key := []byte("0123456789abcdef0123456789abcdef")
	a := startPeerWith(t, "a", func(cfg *PeerConfig) { cfg.TLS, cfg.GossipKey = ca.Issue(t, "a"), key })
	cfg := DefaultPeerConfig()
	cfg.Name, cfg.GRPCAddr, cfg.GossipAddr, cfg.DataDir = "plain", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.GossipKey, cfg.Join = key, []string{a.GossipAddr()}
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = p.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "is https, and this node has no --tls-ca, --tls-cert and --tls-key") || !strings.Contains(err.Error(), "learned through gossip") {
		t.Fatalf("Start = %v; want a refusal naming the https etcd and the missing TLS files", err)
	}
}

// A node whose TLS handshake with etcd fails (here it trusts another CA
// than the one of etcd's certificate) says so while it waits at start,
// with what a connection meets: the etcd client retries in silence, and
// the node waited without a word.
func TestANodeWaitingForEtcdSaysWhy(t *testing.T) {
	defer func(after, every time.Duration) { etcdWaitWarnAfter, etcdWaitWarnEvery = after, every }(etcdWaitWarnAfter, etcdWaitWarnEvery)
	etcdWaitWarnAfter, etcdWaitWarnEvery = 100*time.Millisecond, 500*time.Millisecond
	eps := etcdtest.StartTLS(t, securitytest.NewCA(t, "etcd").Issue(t, "etcd"))
	var logged lockedBuffer
	cfg := DefaultPeerConfig()
	cfg.Name, cfg.GRPCAddr, cfg.GossipAddr, cfg.DataDir = "n", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Etcd, cfg.EtcdTLS = eps, securitytest.NewCA(t, "another").Issue(t, "n")
	cfg.Log = slog.New(slog.NewTextHandler(&logged, nil))
	p, err := NewPeer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- p.Start(ctx) }()
	waitFor(t, 15*time.Second, func() error {
		if s := logged.String(); !strings.Contains(s, "still waiting for etcd at start") || !strings.Contains(s, "certificate signed by unknown authority") {
			return fmt.Errorf("no warning naming the handshake's error; log:\n%s", s)
		}
		return nil
	})
	cancel()
	if err := <-started; err == nil || !strings.Contains(err.Error(), "cannot reach etcd at "+eps[0]) {
		t.Fatalf("Start = %v; want an error naming the etcd it could not reach", err)
	}
}
