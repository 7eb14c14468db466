package security_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gale-stream/gale/sdk/security"
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
		{good.Cert, "", "--https-cert and --https-key go together"},
		{"", good.Key, "--https-cert and --https-key go together"},
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
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
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
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()})
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("a client of no CA: %v, want an unknown authority", err)
	}
}
