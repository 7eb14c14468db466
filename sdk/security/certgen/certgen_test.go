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

func TestHostsAndAnExpiredCA(t *testing.T) {
	ca := newCA(t)
	c, _, err := ca.Issue(certgen.Node, "n1", []string{"10.0.0.5", "node1.example.com", "10.0.0.5", "NODE1.example.com", "*.nodes.example.com"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := parse(t, c)
	if len(cert.IPAddresses) != 1 || len(cert.DNSNames) != 2 {
		t.Errorf("duplicates kept: IPs %v, names %v", cert.IPAddresses, cert.DNSNames)
	}
	for _, h := range []string{"999.1.1.1", "1.2.3", "*.com", "a..b", "-a.example.com", "a_b.example.com", "0.0.0.0", "::"} {
		if _, _, err := ca.Issue(certgen.Node, "n1", []string{h}, time.Hour); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
	expired, err := certgen.NewCA("old", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := expired.Issue(certgen.Client, "c", nil, time.Hour); err == nil || !strings.Contains(err.Error(), `the CA "old" expired on`) {
		t.Errorf("an expired CA signed: %v", err)
	}
}

// TestWritePairPutsWholeFilesInPlace: --overwrite gives the key its own
// mode and replaces a symbolic link instead of writing through it; a
// write that fails half-way leaves no half pair.
func TestWritePairPutsWholeFilesInPlace(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "n.pem"), filepath.Join(dir, "n-key.pem")
	if err := os.WriteFile(keyFile, []byte("old key"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "elsewhere.pem")
	if err := os.WriteFile(target, []byte("not to be touched"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, certFile); err != nil {
		t.Fatal(err)
	}
	if err := certgen.WritePair(certFile, []byte("cert"), keyFile, []byte("key"), true); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the key after --overwrite: %v %v, want mode 0600", fi, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "not to be touched" {
		t.Errorf("wrote through the symbolic link: %q", b)
	}
	if fi, err := os.Lstat(certFile); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("the certificate is still a link: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(certFile); string(b) != "cert" {
		t.Errorf("certificate %q", b)
	}
	// A certificate that cannot be written leaves no new key behind.
	bad := filepath.Join(dir, "missing-dir", "m.pem")
	mKey := filepath.Join(dir, "m-key.pem")
	if err := certgen.WritePair(bad, []byte("cert"), mKey, []byte("key"), false); err == nil {
		t.Fatal("a certificate in a missing directory was written")
	}
	if _, err := os.Lstat(mKey); err == nil {
		t.Error("a key was left without its certificate")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("a temporary file was left: %s", e.Name())
		}
	}
}
