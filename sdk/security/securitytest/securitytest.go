// Package securitytest makes throwaway certificates for tests of Gale's
// mutual TLS: a CA, and certificates signed by it for 127.0.0.1 and
// localhost, written as PEM files to a test's temporary directory.
package securitytest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/certgen"
)

// CA is a certificate authority of a test.
type CA struct {
	// File is the PEM file of the CA's certificate.
	File string
	dir  string
	ca   *certgen.CA
}

// NewCA makes a CA named name and writes its certificate to t's temporary
// directory.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := certgen.NewCA(name, 2*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &CA{File: filepath.Join(dir, name+"-ca.pem"), dir: dir, ca: ca}
	if err := ca.WriteCA(c.File, filepath.Join(dir, name+"-ca-key.pem"), false); err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue makes a certificate named name, signed by the CA, for 127.0.0.1
// and localhost, good for servers and clients alike (as a node's is), and
// returns the files of a process that presents it.
func (ca *CA) Issue(t testing.TB, name string) security.TLSFiles {
	t.Helper()
	f := security.TLSFiles{CA: ca.File, Cert: filepath.Join(ca.dir, name+".pem"), Key: filepath.Join(ca.dir, name+"-key.pem")}
	ca.WriteCert(t, name, f.Cert, f.Key)
	return f
}

// WriteCert writes a new certificate named name and its key to the files
// certFile and keyFile (replacing them: a rotation).
func (ca *CA) WriteCert(t testing.TB, name, certFile, keyFile string) {
	t.Helper()
	cert, key, err := ca.ca.Issue(certgen.Node, name, []string{"127.0.0.1", "localhost"}, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := certgen.WritePair(certFile, cert, keyFile, key, true); err != nil {
		t.Fatal(err)
	}
}
