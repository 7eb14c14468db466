package security_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoadErrorsSayWhichFileAndWhat(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	good := ca.Issue(t, "node")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	encrypted := filepath.Join(t.TempDir(), "encrypted-key.pem")
	if err := os.WriteFile(encrypted, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgAAAAAAAAAAAICCAAw\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files security.TLSFiles
		what  string
		want  []string
	}{
		{"certificate without a CA, variables", security.TLSFiles{Cert: good.Cert, Key: good.Key}, "GALE_TLS", []string{"GALE_TLS_CA is not set"}},
		{"certificate without a CA, flags", security.TLSFiles{Cert: good.Cert, Key: good.Key}, "--tls", []string{"--tls-ca is not set"}},
		{"certificate alone", security.TLSFiles{Cert: good.Cert}, "--tls", []string{"--tls-ca is not set", "(--tls-cert is set)"}},
		{"certificate without a key", security.TLSFiles{CA: good.CA, Cert: good.Cert}, "TLS", []string{"TLS.Cert is set and TLS.Key is empty"}},
		{"key without a certificate", security.TLSFiles{CA: good.CA, Key: good.Key}, "--tls", []string{"--tls-key is set and --tls-cert is empty"}},
		{"CA file missing", security.TLSFiles{CA: missing}, "GALE_TLS", []string{"GALE_TLS_CA=" + missing, "no such file"}},
		{"CA file not PEM", security.TLSFiles{CA: junk}, "--tls", []string{"--tls-ca=" + junk, "no PEM certificate"}},
		{"certificate file not PEM", security.TLSFiles{CA: good.CA, Cert: junk, Key: good.Key}, "--tls", []string{"--tls-cert=" + junk, "load certificate and key"}},
		{"an encrypted key", security.TLSFiles{CA: good.CA, Cert: good.Cert, Key: encrypted}, "--tls", []string{"the key " + encrypted + " is encrypted: Gale reads unencrypted keys"}},
		{"key of another certificate", security.TLSFiles{CA: good.CA, Cert: good.Cert, Key: ca.Issue(t, "other").Key}, "GALE_TLS", []string{"GALE_TLS_KEY=", "private key does not match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := security.Load(tc.files, tc.what)
			if err == nil {
				t.Fatalf("Load(%+v) = %v, want an error", tc.files, sec)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestNoFilesIsPlaintext(t *testing.T) {
	sec, err := security.Load(security.TLSFiles{}, "GALE_TLS")
	if err != nil || sec != nil {
		t.Fatalf("Load(zero) = %v, %v; want nil, nil", sec, err)
	}
	if got := sec.Credentials().Info().SecurityProtocol; got != "insecure" {
		t.Errorf("nil Security's credentials speak %q, want insecure", got)
	}
	if opt, err := sec.ServerOption(); opt != nil || err != nil {
		t.Errorf("nil Security's server option = %v, %v; want none", opt, err)
	}
	if env := (security.TLSFiles{}).Env(); env != nil {
		t.Errorf("zero files give the variables %v", env)
	}
}

func TestFilesFromEnvAndBack(t *testing.T) {
	want := security.TLSFiles{CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem"}
	for k, v := range want.Env() {
		t.Setenv(k, v)
	}
	if got := security.FilesFromEnv(); got != want {
		t.Fatalf("FilesFromEnv() = %+v, want %+v", got, want)
	}
}

// serve starts a gRPC server with the health service on 127.0.0.1 with
// files' server credentials.
func serve(t *testing.T, files security.TLSFiles) string {
	t.Helper()
	return serveLogged(t, files, nil)
}

// serveLogged is serve with the server's log (nil: none).
func serveLogged(t *testing.T, files security.TLSFiles, log *slog.Logger) string {
	t.Helper()
	sec, err := security.Load(files, "TLS")
	if err != nil {
		t.Fatal(err)
	}
	sec.SetLogger(log)
	opt, err := sec.ServerOption()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opt)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// check makes one health call to addr as a client with files.
func check(t *testing.T, addr string, files security.TLSFiles) error {
	t.Helper()
	sec, err := security.Load(files, "TLS")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(sec.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestServersRequireAClientCertificateOfTheCA(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	other := securitytest.NewCA(t, "other")
	addr := serve(t, ca.Issue(t, "node"))
	stranger := other.Issue(t, "stranger") // a matching pair of the other CA
	for _, tc := range []struct {
		name  string
		files security.TLSFiles
		ok    bool
	}{
		{"a client certificate of the CA", ca.Issue(t, "cli"), true},
		{"no client certificate", security.TLSFiles{CA: ca.File}, false},
		{"a client certificate of another CA", security.TLSFiles{CA: ca.File, Cert: stranger.Cert, Key: stranger.Key}, false},
		{"a client that trusts another CA", other.Issue(t, "z"), false},
		{"plaintext", security.TLSFiles{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(t, addr, tc.files)
			if tc.ok && err != nil {
				t.Fatalf("health check: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("health check succeeded; want it refused")
			}
		})
	}
}

// TestRefusedHandshakesAreLogged: a server says whom it refused, at most
// once a minute (with how many it did not log), and not for connections
// closed before any handshake.
func TestRefusedHandshakesAreLogged(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	other := securitytest.NewCA(t, "other")
	var logged lockedBuffer
	addr := serveLogged(t, ca.Issue(t, "node"), slog.New(slog.NewTextHandler(&logged, nil)))
	// A port probe: connect and close.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	stranger := other.Issue(t, "stranger")
	for range 3 {
		if err := check(t, addr, security.TLSFiles{CA: ca.File, Cert: stranger.Cert, Key: stranger.Key}); err == nil {
			t.Fatal("a client of another CA got through")
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if !strings.Contains(logged.String(), "TLS: refused a connection") {
			return fmt.Errorf("no refusal logged:\n%s", logged.String())
		}
		return nil
	})
	if n := strings.Count(logged.String(), "TLS: refused a connection"); n != 1 {
		t.Errorf("%d refusals logged within a minute, want 1:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "certificate") {
		t.Errorf("the refusal logged is not the certificate's (a port probe?):\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "from=127.0.0.1:") {
		t.Errorf("the refusal does not say from where:\n%s", logged.String())
	}
}

func TestAServerNeedsACertificate(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	sec, err := security.Load(security.TLSFiles{CA: ca.File}, "--tls")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sec.ServerOption(); err == nil || !strings.Contains(err.Error(), "certificate and key") {
		t.Fatalf("ServerOption without a certificate: %v; want an error that says so", err)
	}
}

// waitFor polls f until it returns nil, failing the test after timeout.
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
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a log destination safe for the handshake's goroutine.
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

// TestRotatedCertificatesAreServed rewrites the server's certificate and
// key in place: new connections get the new certificate without a restart;
// a bad new pair keeps the last good one and is logged once.
// servingNodeV1 loads a server's files for certificate node-v1, its
// reloads logged to the returned buffer; as a node's (node=true), its
// certificate checked against its CA at start.
func servingNodeV1(t *testing.T, node bool) (*securitytest.CA, security.TLSFiles, *tls.Config, *lockedBuffer) {
	t.Helper()
	ca := securitytest.NewCA(t, "gale")
	files := ca.Issue(t, "node-v1")
	sec, err := security.Load(files, "TLS")
	if err != nil {
		t.Fatal(err)
	}
	if node {
		if err := sec.CheckSignedByCA("--tls"); err != nil {
			t.Fatal(err)
		}
	}
	logged := &lockedBuffer{}
	sec.SetLogger(slog.New(slog.NewTextHandler(logged, nil)))
	cfg, err := sec.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	return ca, files, cfg, logged
}

func TestRotatedCertificatesAreServed(t *testing.T) {
	defer security.SetReloadEvery(10 * time.Millisecond)()
	ca, files, cfg, logged := servingNodeV1(t, true)
	subject := func() string {
		c, err := cfg.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := subject(); got != "node-v1" {
		t.Fatalf("serving %q, want node-v1", got)
	}
	// Same sizes and modification times as before (a rotation within the
	// file system's clock granularity) would still be caught by size in
	// practice; here the times move on to make the change certain.
	ca.WriteCert(t, "node-v2", files.Cert, files.Key)
	later := time.Now().Add(time.Minute)
	for _, f := range []string{files.Cert, files.Key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if got := subject(); got != "node-v2" {
			return fmt.Errorf("serving %s after the files were replaced", got)
		}
		return nil
	})
	// A good rotation is logged as one, with the new certificate, and
	// nothing is a warning.
	waitFor(t, 5*time.Second, func() error {
		if !strings.Contains(logged.String(), `msg="TLS: serving the renewed certificate" cert=`+files.Cert+" subject=node-v2") {
			return fmt.Errorf("the rotation is not logged:\n%s", logged.String())
		}
		return nil
	})
	if strings.Contains(logged.String(), "level=WARN") {
		t.Fatalf("a good rotation logged a warning:\n%s", logged.String())
	}
	// A rotation caught half-way (a key that is not the certificate's)
	// keeps the last good pair rather than failing handshakes, and says so
	// once.
	other := ca.Issue(t, "other")
	key, err := os.ReadFile(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.Key, key, 0o600); err != nil {
		t.Fatal(err)
	}
	even := later.Add(time.Minute)
	if err := os.Chtimes(files.Key, even, even); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if got := subject(); got != "node-v2" {
			t.Fatalf("serving %q with a mismatched key, want the last good node-v2", got)
		}
		if !strings.Contains(logged.String(), "cannot be used") {
			return errors.New("the failed reload is not logged")
		}
		return nil
	})
	for range 20 {
		subject() // more checks of the same bad files
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logged.String(), "cannot be used"); n != 1 {
		t.Fatalf("the failed reload was logged %d times, want once:\n%s", n, logged.String())
	}
}

// A renewed certificate of another CA is not served by a node, whose
// certificate was checked against its CA at start: the peers trust the CA
// only, so every client would refuse it; the old pair stays and the reload
// is logged as failed. A pair not checked so (a client certificate for an
// external etcd, whose --etcd-ca is the etcd server's CA) renews from
// whatever CA it came from: it was refused, and the node lost its etcd
// when the old one expired.
func TestARotationToAnotherCA(t *testing.T) {
	defer security.SetReloadEvery(10 * time.Millisecond)()
	for _, tc := range []struct {
		name    string
		checked bool
		want    string
	}{
		{"a node's, checked at start, is refused", true, "node-v1"},
		{"an etcd client's, not checked, is served", false, "node-v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, files, cfg, logged := servingNodeV1(t, tc.checked)
			securitytest.NewCA(t, "another").WriteCert(t, "node-v2", files.Cert, files.Key)
			later := time.Now().Add(time.Minute)
			for _, f := range []string{files.Cert, files.Key} {
				if err := os.Chtimes(f, later, later); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 5*time.Second, func() error {
				c, err := cfg.GetCertificate(nil)
				if err != nil {
					t.Fatal(err)
				}
				refusal := strings.Contains(logged.String(), "is not signed by the CA the peers trust")
				switch got := c.Leaf.Subject.CommonName; {
				case tc.checked && got != "node-v1":
					t.Fatalf("serving %q, a certificate of another CA; want the old node-v1", got)
				case tc.checked && !refusal:
					return fmt.Errorf("the refused rotation is not logged:\n%s", logged.String())
				case !tc.checked && got != tc.want:
					return fmt.Errorf("serving %q, want the renewed %s", got, tc.want)
				}
				return nil
			})
		})
	}
}
