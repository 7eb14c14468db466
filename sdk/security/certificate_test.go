package security_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/certgen"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

func TestLoadCertificateErrorsNameTheSettings(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	good := ca.Issue(t, "web")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		cert, key, want string
	}{
		{"", "", "--https-cert and --https-key are not set"},
		{good.Cert, "", "--https-cert is set and --https-key is empty"},
		{"", good.Key, "--https-key is set and --https-cert is empty"},
		{missing, good.Key, "--https-cert=" + missing + ", --https-key=" + good.Key + ": stat " + missing},
		{good.Cert, ca.File, "--https-key=" + ca.File + ": load certificate and key"},
	}
	for _, tc := range cases {
		_, err := security.LoadCertificate(tc.cert, tc.key, "--https-cert", "--https-key")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadCertificate(%q, %q): %v, want %q", tc.cert, tc.key, err, tc.want)
		}
	}
}

// TestCertificateServesClientsWithoutCertificates: unlike a node's TLS, a
// Certificate's server asks nothing of its clients; they verify it.
func TestCertificateServesClientsWithoutCertificates(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	files := ca.Issue(t, "web")
	c, err := security.LoadCertificate(files.Cert, files.Key, "cert", "key")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ServerTLS()
	if cfg.ClientAuth != tls.NoClientCert || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("server config: client auth %v, min version %x", cfg.ClientAuth, cfg.MinVersion)
	}
	addr := serveHandshakes(t, cfg)
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("a client without a certificate: %v", err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "web" {
		t.Errorf("served %q", got)
	}
	conn.Close()
	if cur, err := c.Current(); err != nil || cur.Leaf.Subject.CommonName != "web" {
		t.Errorf("Current: %v %v", cur, err)
	}
	// A client that trusts another CA refuses it.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: x509.NewCertPool()})
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("a client of no CA: %v, want an unknown authority", err)
	}
}

// TestCertificateExpiry: an expired certificate is refused at load; one
// that expires within two weeks is served with a warning; a client that
// speaks only TLS 1.1 is refused.
func TestCertificateExpiry(t *testing.T) {
	ca, err := certgen.NewCA("web", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, validity time.Duration) (string, string) {
		cert, key, err := ca.Issue(certgen.Node, name, []string{"127.0.0.1"}, validity)
		if err != nil {
			t.Fatal(err)
		}
		cf, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		if err := certgen.WritePair(cf, cert, kf, key, false); err != nil {
			t.Fatal(err)
		}
		return cf, kf
	}
	cf, kf := write("expired", -30*time.Minute)
	if _, err := security.LoadCertificate(cf, kf, "cert", "key"); err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Fatalf("an expired certificate: %v, want refused as expired", err)
	}
	cf, kf = write("soon", 3*24*time.Hour)
	c, err := security.LoadCertificate(cf, kf, "cert", "key")
	if err != nil {
		t.Fatal(err)
	}
	var logged lockedBuffer
	c.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	if out := logged.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "expires soon") || !strings.Contains(out, "names=127.0.0.1") {
		t.Fatalf("a certificate that expires in 3 days logged:\n%s", out)
	}
	if names := c.Names(); len(names) != 1 || names[0] != "127.0.0.1" {
		t.Errorf("Names() = %v", names)
	}

	addr := serveHandshakes(t, c.ServerTLS())
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, tc := range []struct {
		max    uint16
		wantOK bool
	}{{tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tc.max})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != tc.wantOK {
			t.Errorf("a client of TLS up to %s: %v, want ok=%v", tls.VersionName(tc.max), err, tc.wantOK)
		}
	}
}

// TestCertificateThatExpiresWhileServedIsLogged: a certificate that
// expires while it is served is logged as an error, once.
func TestCertificateThatExpiresWhileServedIsLogged(t *testing.T) {
	defer security.SetReloadEvery(10 * time.Millisecond)()
	ca, err := certgen.NewCA("web", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Valid for a few seconds: long enough to be loaded on a slow run.
	cert, key, err := ca.Issue(certgen.Node, "brief", []string{"127.0.0.1"}, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "brief.pem"), filepath.Join(dir, "brief-key.pem")
	if err := certgen.WritePair(cf, cert, kf, key, false); err != nil {
		t.Fatal(err)
	}
	c, err := security.LoadCertificate(cf, kf, "cert", "key")
	if err != nil {
		t.Fatal(err)
	}
	var logged lockedBuffer
	c.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	waitFor(t, 20*time.Second, func() error {
		if _, err := c.ServerTLS().GetCertificate(nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logged.String(), "level=ERROR") {
			return fmt.Errorf("the expiry is not logged:\n%s", logged.String())
		}
		return nil
	})
	for range 5 {
		time.Sleep(20 * time.Millisecond)
		_, _ = c.ServerTLS().GetCertificate(nil)
	}
	if n := strings.Count(logged.String(), "has expired"); n != 1 {
		t.Fatalf("the expiry was logged %d times, want once:\n%s", n, logged.String())
	}
}

// serveHandshakes serves TLS handshakes with cfg on a free port until the
// test ends, and returns the address.
func serveHandshakes(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	return ln.Addr().String()
}
