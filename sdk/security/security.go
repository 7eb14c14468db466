package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Environment variables that name the TLS files of a client of a node (the
// cluster CLI, the SDKs' external components and submitters). A node sets
// them for the component processes it manages, with its own files, so a
// managed process speaks TLS to its node without being told.
const (
	EnvCA   = "GALE_TLS_CA"
	EnvCert = "GALE_TLS_CERT"
	EnvKey  = "GALE_TLS_KEY"
)

// TLSFiles names the PEM files of mutual TLS on Gale's gRPC connections.
// The zero value means plaintext.
//
// A node with TLS serves its one gRPC port (Coordinator API, Transfer,
// Attach, health, reflection) only to clients that present a certificate
// signed by CA, and presents Cert itself, to clients and, as a client, to
// the other nodes it sends tuples to: a node's certificate is used both
// ways (extended key usages serverAuth and clientAuth, or none), and names
// the addresses others dial it by (IP or DNS subject alternative names).
type TLSFiles struct {
	// CA holds the certificates that signed the nodes' and the clients'
	// certificates: the peer's chain must end in one of them. Read once.
	CA string
	// Cert and Key are this process's certificate (chain) and its private
	// key. They are read again when either file changes (checked at most
	// once a second, at a handshake), so certificates can be rotated
	// without a restart; connections already open keep theirs.
	Cert, Key string
}

// FilesFromEnv reads GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY.
func FilesFromEnv() TLSFiles {
	return TLSFiles{CA: os.Getenv(EnvCA), Cert: os.Getenv(EnvCert), Key: os.Getenv(EnvKey)}
}

// IsZero reports whether no file is named (plaintext).
func (f TLSFiles) IsZero() bool { return f == TLSFiles{} }

// Env returns the variables that pass f to a component process.
func (f TLSFiles) Env() map[string]string {
	if f.IsZero() {
		return nil
	}
	return map[string]string{EnvCA: f.CA, EnvCert: f.Cert, EnvKey: f.Key}
}

// Security is the transport security of a process's gRPC connections:
// every connection Gale makes or serves takes its options from one
// (coordinator.DialOptions and ServerOptions in a node; the SDKs' Options). A nil *Security is plaintext.
type Security struct {
	files TLSFiles
	pool  *x509.CertPool
	pair  *keyPair
}

// Load reads the files of f and checks that they make a usable
// configuration; a zero f gives nil (plaintext). what names the files'
// origin in errors: a flag prefix ("--tls" for --tls-ca, --tls-cert and
// --tls-key), a variable prefix ("GALE_TLS" for GALE_TLS_CA...) or a
// struct field ("TLS" for TLS.CA...).
//
// Servers need all three files. A client may leave out Cert and Key (it
// then verifies the server but presents nothing, which a node refuses).
func Load(f TLSFiles, what string) (*Security, error) {
	if f.IsZero() {
		return nil, nil
	}
	name := func(field string) string {
		switch {
		case strings.HasPrefix(what, "--"): // flags: --tls-ca
			return what + "-" + strings.ToLower(field)
		case strings.Contains(what, "_"): // variables: GALE_TLS_CA
			return what + "_" + field
		}
		return what + "." + map[string]string{"CA": "CA", "CERT": "Cert", "KEY": "Key"}[field] // fields: TLS.Cert
	}
	switch {
	case f.CA == "":
		return nil, fmt.Errorf("%s is not set: TLS needs the CA that signed the peers' certificates (%s and %s are set)", name("CA"), name("CERT"), name("KEY"))
	case (f.Cert == "") != (f.Key == ""):
		return nil, fmt.Errorf("%s and %s go together: one of them is empty", name("CERT"), name("KEY"))
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", name("CA"), f.CA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s=%s: no PEM certificate in the file", name("CA"), f.CA)
	}
	s := &Security{files: f, pool: pool}
	if f.Cert != "" {
		s.pair = &keyPair{certFile: f.Cert, keyFile: f.Key}
		if _, err := s.pair.get(); err != nil {
			return nil, fmt.Errorf("%s=%s, %s=%s: %w", name("CERT"), f.Cert, name("KEY"), f.Key, err)
		}
	}
	return s, nil
}

// Files returns the files s was loaded from (zero for nil).
func (s *Security) Files() TLSFiles {
	if s == nil {
		return TLSFiles{}
	}
	return s.files
}

// ServerTLS is the TLS configuration of a server: it presents the
// certificate and requires one signed by the CA from every client. Nil for
// plaintext.
func (s *Security) ServerTLS() (*tls.Config, error) {
	if s == nil {
		return nil, nil
	}
	if s.pair == nil {
		return nil, errors.New("TLS: a server needs a certificate and key")
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      s.pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.pair.get() },
	}, nil
}

// ClientTLS is the TLS configuration of a client: it verifies the server's
// certificate against the CA and the dialled host, and presents the
// certificate if it has one. Nil for plaintext.
func (s *Security) ClientTLS() *tls.Config {
	if s == nil {
		return nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.pool}
	if s.pair != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.pair.get() }
	}
	return c
}

// keyPair is a certificate and key read from files, read again when a file
// changes.
type keyPair struct {
	certFile, keyFile string

	mu       sync.Mutex
	cert     *tls.Certificate
	modCert  time.Time
	modKey   time.Time
	checked  time.Time
	lastFail error
}

// get returns the current pair. On a read error after a good load it keeps
// the old pair (a rotation caught between writing the two files) and tries
// again at the next check.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if k.cert != nil && now.Sub(k.checked) < time.Second {
		return k.cert, nil
	}
	k.checked = now
	ci, err1 := os.Stat(k.certFile)
	ki, err2 := os.Stat(k.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, err
	}
	if k.cert != nil && ci.ModTime().Equal(k.modCert) && ki.ModTime().Equal(k.modKey) {
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, fmt.Errorf("load certificate and key: %w", err)
	}
	k.cert, k.modCert, k.modKey = &c, ci.ModTime(), ki.ModTime()
	return k.cert, nil
}

// Credentials returns the gRPC transport credentials of a client:
// plaintext for nil.
func (s *Security) Credentials() credentials.TransportCredentials {
	if s == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(s.ClientTLS())
}

// ServerOption returns the gRPC server option of s, or nil for plaintext.
func (s *Security) ServerOption() (grpc.ServerOption, error) {
	if s == nil {
		return nil, nil
	}
	c, err := s.ServerTLS()
	if err != nil {
		return nil, err
	}
	return grpc.Creds(credentials.NewTLS(c)), nil
}
