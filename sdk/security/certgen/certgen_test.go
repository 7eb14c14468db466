package certgen_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk/security/certgen"
)

func parse(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t *testing.T) *certgen.CA {
	t.Helper()
	ca, err := certgen.NewCA("gale", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestCertificatesVerifyForWhatTheyAreFor: a node's certificate verifies
// as a server for each of its hosts and as a client; a client's only as a
// client.
func TestCertificatesVerifyForWhatTheyAreFor(t *testing.T) {
	ca := newCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	nodePEM, _, err := ca.Issue(certgen.Node, "n1", []string{"127.0.0.1", "node1.example.com", "::1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, _, err := ca.Issue(certgen.Client, "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	node, client := parse(t, nodePEM), parse(t, clientPEM)
	verify := func(c *x509.Certificate, host string, usage x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	cases := []struct {
		name   string
		cert   *x509.Certificate
		host   string
		usage  x509.ExtKeyUsage
		wantOK bool
	}{
		{"node as server by IP", node, "127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"node as server by IPv6", node, "::1", x509.ExtKeyUsageServerAuth, true},
		{"node as server by name", node, "node1.example.com", x509.ExtKeyUsageServerAuth, true},
		{"node as server by another name", node, "node2.example.com", x509.ExtKeyUsageServerAuth, false},
		{"node as client", node, "", x509.ExtKeyUsageClientAuth, true},
		{"client as client", client, "", x509.ExtKeyUsageClientAuth, true},
		{"client as server", client, "", x509.ExtKeyUsageServerAuth, false},
	}
	for _, tc := range cases {
		if err := verify(tc.cert, tc.host, tc.usage); (err == nil) != tc.wantOK {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.wantOK)
		}
	}
	other := x509.NewCertPool()
	other.AddCert(newCA(t).Cert)
	if _, err := node.Verify(x509.VerifyOptions{Roots: other, DNSName: "127.0.0.1"}); err == nil {
		t.Error("a node certificate verified against another CA")
	}
	if node.Subject.CommonName != "n1" || client.Subject.CommonName != "alice" {
		t.Errorf("names %q %q", node.Subject.CommonName, client.Subject.CommonName)
	}
}

func TestIssueErrors(t *testing.T) {
	ca := newCA(t)
	cases := []struct {
		kind  certgen.Kind
		name  string
		hosts []string
		want  string
	}{
		{certgen.Node, "n1", nil, "needs the hosts"},
		{certgen.Node, "n1", []string{"bad host"}, `host "bad host" is neither`},
		{certgen.Node, "n1", []string{""}, "an empty host"},
		{certgen.Node, " ", []string{"a"}, "needs a name"},
		{certgen.Client, "c", []string{"127.0.0.1"}, "names no hosts"},
	}
	for _, tc := range cases {
		if _, _, err := ca.Issue(tc.kind, tc.name, tc.hosts, time.Hour); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Issue(%v, %q, %q): %v, want %q", tc.kind, tc.name, tc.hosts, err, tc.want)
		}
	}
	// No certificate outlives its CA.
	c, _, err := ca.Issue(certgen.Client, "long", nil, 10*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := parse(t, c).NotAfter; got.After(ca.Cert.NotAfter) {
		t.Errorf("valid until %v, after its CA's %v", got, ca.Cert.NotAfter)
	}
}

// TestWriteAndLoadTheCA: a CA written to files signs again after LoadCA,
// for the same roots; the files are never overwritten by mistake, and the
// keys are the owner's alone.
func TestWriteAndLoadTheCA(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	ca := newCA(t)
	if err := ca.WriteCA(certFile, keyFile, false); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteCA(certFile, keyFile, false); !errors.Is(err, certgen.ErrExists) || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("writing over the CA: %v", err)
	}
	for f, want := range map[string]os.FileMode{keyFile: 0o600, certFile: 0o644} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	loaded, err := certgen.LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := loaded.Issue(certgen.Node, "n2", []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := parse(t, certPEM).Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err != nil {
		t.Fatalf("signed by the loaded CA: %v", err)
	}

	// What LoadCA refuses.
	leafCert, leafKey := filepath.Join(dir, "n1.pem"), filepath.Join(dir, "n1-key.pem")
	c, k, err := ca.Issue(certgen.Node, "n1", []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := certgen.WritePair(leafCert, c, leafKey, k, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cert, key, want string }{
		{leafCert, leafKey, "is not a CA's"},
		{certFile, leafKey, "is not the key of the CA certificate"},
		{keyFile, keyFile, "no PEM certificate"},
		{certFile, certFile, `a PEM block "CERTIFICATE"`},
		{filepath.Join(dir, "none.pem"), keyFile, "no such file"},
	} {
		if _, err := certgen.LoadCA(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadCA(%s, %s): %v, want %q", filepath.Base(tc.cert), filepath.Base(tc.key), err, tc.want)
		}
	}
}
