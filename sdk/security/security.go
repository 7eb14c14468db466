package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
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
// (coordinator.DialOptions and ServerOptions in a node; the SDKs' Options).
// A nil *Security is plaintext.
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
		return nil, fmt.Errorf("%s is not set: TLS needs the CA that signed the peers' certificates (%s)", name("CA"), strings.Join(setNames(f, name), " and ")+" set")
	case f.Cert != "" && f.Key == "":
		return nil, fmt.Errorf("%s is set and %s is empty: they go together", name("CERT"), name("KEY"))
	case f.Cert == "" && f.Key != "":
		return nil, fmt.Errorf("%s is set and %s is empty: they go together", name("KEY"), name("CERT"))
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

// setNames names the certificate and key settings of f that are set.
func setNames(f TLSFiles, name func(string) string) []string {
	var out []string
	if f.Cert != "" {
		out = append(out, name("CERT")+" is")
	}
	if f.Key != "" {
		out = append(out, name("KEY")+" is")
	}
	if len(out) == 2 {
		return []string{name("CERT"), name("KEY") + " are"}
	}
	return out
}

// SetLogger makes s log its certificate now (subject, names, expiry; a
// warning when it expires within two weeks), each renewed pair it starts
// serving, and a certificate or key that could not be read again after
// its files changed (once per change): the old pair is kept, and without a
// word the operator would learn of the failed rotation only when the old
// certificate expires. Safe on nil.
func (s *Security) SetLogger(log *slog.Logger) {
	if s == nil || s.pair == nil {
		return
	}
	s.pair.setLogger(log, "TLS: serving a certificate")
}

// CheckHost reports whether the certificate s presents names host (an IP
// address or a DNS name), as a client that dials host verifies it; nil
// for plaintext or no certificate.
func (s *Security) CheckHost(host string) error {
	if s == nil || s.pair == nil {
		return nil
	}
	c, err := s.pair.get()
	if err != nil {
		return err
	}
	return checkHost(c.Leaf, "the certificate "+s.files.Cert, host)
}

// checkHost reports whether leaf names host; which names the certificate
// in the error ("the certificate FILE", "--https-cert FILE").
func checkHost(leaf *x509.Certificate, which, host string) error {
	if err := leaf.VerifyHostname(host); err != nil {
		names := CertificateNames(leaf)
		if len(names) == 0 {
			return fmt.Errorf("%s names no hosts (a client's certificate? gale cert node NAME --host ... makes a node's), so not %s", which, host)
		}
		return fmt.Errorf("%s is for %s, not %s", which, strings.Join(names, ", "), host)
	}
	return nil
}

// CheckSignedByCA reports whether the certificate s presents is signed by
// its own CA, as a node's must be: the other nodes and its embedded etcd
// trust that CA only, and would refuse every connection (as a timeout,
// far from the cause). Nil for plaintext or no certificate.
func (s *Security) CheckSignedByCA(what string) error {
	if s == nil || s.pair == nil {
		return nil
	}
	c, err := s.pair.get()
	if err != nil {
		return err
	}
	if err := signedBy(c, s.pool, time.Time{}); err != nil {
		return fmt.Errorf("%s-cert=%s (issued by %q) is not signed by %s-ca=%s: the nodes and the embedded etcd trust that CA only (%v)",
			what, s.files.Cert, c.Leaf.Issuer.CommonName, what, s.files.CA, err)
	}
	// Renewals must be too (keyPair.roots). Only here: a client
	// certificate for an external etcd may come from another CA than
	// the etcd's own (--etcd-ca), and renews as it came.
	s.pair.mu.Lock()
	s.pair.roots = s.pool
	s.pair.mu.Unlock()
	return nil
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

// reloadEvery is how often, at most, a handshake looks at the files of
// the key pair again (a variable for tests).
var reloadEvery = time.Second

// keyPair is a certificate and key read from files, read again when a file
// changes.
type keyPair struct {
	certFile, keyFile string
	// roots, when set (CheckSignedByCA), must have signed a renewed
	// certificate: the peers trust that CA only, so one of another CA
	// would be served to every client's refusal.
	roots *x509.CertPool

	mu      sync.Mutex
	log     *slog.Logger // nil: failed reloads are not logged
	cert    *tls.Certificate
	version string    // of the files the pair was read from (fileVersion)
	failed  string    // the version of the files that last failed to load
	checked time.Time // when the files were last looked at
	// warned is how far the current certificate's expiry was logged: 0
	// not yet, 1 it expires within expiryWarning, 2 it has expired.
	warned int
}

// checkExpiry logs, once each, a served certificate entering the last two
// weeks of its validity and one that expired while served (nothing else
// would say so until clients refuse it). k.mu is held.
func (k *keyPair) checkExpiry(now time.Time) {
	if k.log == nil {
		return
	}
	left := k.cert.Leaf.NotAfter.Sub(now)
	switch {
	case left <= 0 && k.warned < 2:
		k.warned = 2
		k.log.Error("TLS: the certificate served has expired; clients refuse it: renew it (a new pair in the same files is served without a restart)",
			"cert", k.certFile, "subject", k.cert.Leaf.Subject.CommonName, "not_after", k.cert.Leaf.NotAfter.UTC().Format(time.DateTime))
	case left > 0 && left < expiryWarning && k.warned < 1:
		k.warned = 1
		k.logCert("TLS: the certificate served", now)
	}
}

// fileVersion tells a change of the two files apart: modification times
// and sizes (a rotation that writes a file within the file system's clock
// granularity changes its size in practice: a new key or certificate).
func fileVersion(ci, ki os.FileInfo) string {
	return fmt.Sprintf("%d/%d %d/%d", ci.ModTime().UnixNano(), ci.Size(), ki.ModTime().UnixNano(), ki.Size())
}

// get returns the current pair. On a read error after a good load it keeps
// the old pair (a rotation caught between writing the two files, or a bad
// new pair), logs the error once for that version of the files, and tries
// again at the next check.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if k.cert != nil && now.Sub(k.checked) < reloadEvery {
		return k.cert, nil
	}
	k.checked = now
	ci, err1 := os.Stat(k.certFile)
	ki, err2 := os.Stat(k.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return k.keep("unreadable: "+err.Error(), err)
	}
	version := fileVersion(ci, ki)
	if k.cert != nil && version == k.version {
		k.checkExpiry(now)
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if pem, rerr := os.ReadFile(k.keyFile); rerr == nil && strings.Contains(string(pem), "ENCRYPTED") {
			err = fmt.Errorf("%w (the key %s is encrypted: Gale reads unencrypted keys, readable by their owner only; openssl pkey -in KEY -out PLAIN)", err, k.keyFile)
		}
		return k.keep(version, fmt.Errorf("load certificate and key: %w", err))
	}
	if now.After(c.Leaf.NotAfter) {
		return k.keep(version, fmt.Errorf("the certificate %s expired on %s", k.certFile, c.Leaf.NotAfter.UTC().Format(time.DateTime)))
	}
	renewed := k.cert != nil
	if renewed && k.roots != nil {
		if err := signedBy(&c, k.roots, now); err != nil {
			return k.keep(version, fmt.Errorf("the renewed certificate %s (issued by %q) is not signed by the CA the peers trust: %w", k.certFile, c.Leaf.Issuer.CommonName, err))
		}
		if lost := missingNames(k.cert.Leaf, c.Leaf); len(lost) > 0 && k.log != nil {
			k.log.Warn("TLS: the renewed certificate lacks names the old one had: clients that dial those refuse it",
				"cert", k.certFile, "missing", strings.Join(lost, ","), "names", strings.Join(CertificateNames(c.Leaf), ","))
		}
	}
	k.cert, k.version, k.failed, k.warned = &c, version, "", 0
	if renewed && k.log != nil {
		k.logCert("TLS: serving the renewed certificate", now)
	}
	return k.cert, nil
}

// expiryWarning is how long before its expiry a certificate is logged as
// a warning (an ACME client renews a month before).
const expiryWarning = 14 * 24 * time.Hour

// logCert logs the current certificate: what it is for and until when,
// as a warning when that is soon. k.mu is held.
func (k *keyPair) logCert(msg string, now time.Time) {
	leaf := k.cert.Leaf
	level := slog.LevelInfo
	if leaf.NotAfter.Sub(now) < expiryWarning {
		level, msg = slog.LevelWarn, msg+"; it expires soon: renew it (a new pair in the same files is served without a restart)"
		k.warned = max(k.warned, 1)
	}
	k.log.Log(context.Background(), level, msg, "cert", k.certFile, "subject", leaf.Subject.CommonName,
		"names", strings.Join(CertificateNames(leaf), ","), "not_after", leaf.NotAfter.UTC().Format(time.DateTime))
}

// signedBy verifies that roots signed c (through the intermediates c
// carries), for any key usage, at now (zero: the current time).
func signedBy(c *tls.Certificate, roots *x509.CertPool, now time.Time) error {
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: now})
	return err
}

// missingNames lists the names of old that renewed does not have.
func missingNames(old, renewed *x509.Certificate) []string {
	var out []string
	for _, n := range CertificateNames(old) {
		if !slices.Contains(CertificateNames(renewed), n) {
			out = append(out, n)
		}
	}
	return out
}

// CertificateNames lists a certificate's DNS names and IP addresses.
func CertificateNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// setLogger sets the log of failed and successful reloads and logs the
// current certificate.
func (k *keyPair) setLogger(log *slog.Logger, what string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.log = log
	if log != nil && k.cert != nil {
		k.logCert(what, time.Now())
	}
}

// keep handles a failed (re)load of the files at version: the first load
// fails, a reload keeps the old pair and logs err once per version.
func (k *keyPair) keep(version string, err error) (*tls.Certificate, error) {
	if k.cert == nil {
		return nil, err
	}
	if k.log != nil && version != k.failed {
		k.log.Warn("TLS: the certificate and key files changed but cannot be used; still presenting the previous pair", "cert", k.certFile, "key", k.keyFile, "err", err)
	}
	k.failed = version
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
	return grpc.Creds(&loggedHandshakes{TransportCredentials: credentials.NewTLS(c), pair: s.pair}), nil
}

// refusalLogEvery is how often, at most, refused handshakes are logged.
var refusalLogEvery = time.Minute

// loggedHandshakes logs the handshakes a server refuses (a client of
// another CA, without a certificate, or speaking plaintext), at most once
// a refusalLogEvery with how many there were: otherwise the operator of a
// node would see nothing while a client sees only a closed connection.
// Connections closed before a handshake (port probes) are not logged.
type loggedHandshakes struct {
	credentials.TransportCredentials
	pair *keyPair

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *loggedHandshakes) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := l.TransportCredentials.ServerHandshake(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		l.refused(conn.RemoteAddr(), err)
	}
	return c, info, err
}

func (l *loggedHandshakes) refused(from net.Addr, err error) {
	l.pair.mu.Lock()
	log := l.pair.log
	l.pair.mu.Unlock()
	if log == nil {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < refusalLogEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	more := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	log.Warn("TLS: refused a connection: the client's certificate is not of this node's CA, or it sent none, or it does not speak TLS",
		"from", from.String(), "err", err, "more_refused_unlogged", more)
}

// Clone keeps the logging of a cloned credentials.
func (l *loggedHandshakes) Clone() credentials.TransportCredentials {
	return &loggedHandshakes{TransportCredentials: l.TransportCredentials.Clone(), pair: l.pair}
}
