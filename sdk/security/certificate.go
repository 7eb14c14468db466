package security

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
)

// Certificate is a server's certificate and key for clients that present
// none: the HTTPS of the web-analytics ingest and dashboard, which
// browsers reach. The files are read again when either changes (checked
// at most once a second, at a handshake), like a node's, so a renewed
// certificate (an ACME client's, every couple of months) is served without
// a restart; connections already open keep theirs.
type Certificate struct {
	pair     *keyPair
	certName string // the setting the certificate file came from
}

// LoadCertificate reads a certificate (chain, leaf first) and its private
// key from PEM files; an expired certificate is refused. certName and
// keyName name the settings the files came from in errors ("config
// ingest.tls_cert", "--https-cert"); both files must be given.
func LoadCertificate(certFile, keyFile, certName, keyName string) (*Certificate, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, fmt.Errorf("%s and %s are not set: HTTPS needs a certificate and its key", certName, keyName)
	case keyFile == "":
		return nil, fmt.Errorf("%s is set and %s is empty: they go together", certName, keyName)
	case certFile == "":
		// "config a.cert" and "a.key" name settings of one source:
		// "config a.key is set and a.cert is empty".
		if bare, ok := strings.CutPrefix(certName, "config "); ok && !strings.HasPrefix(keyName, "config ") {
			certName, keyName = bare, "config "+keyName
		}
		return nil, fmt.Errorf("%s is set and %s is empty: they go together", keyName, certName)
	}
	c := &Certificate{pair: &keyPair{certFile: certFile, keyFile: keyFile}, certName: certName}
	if _, err := c.pair.get(); err != nil {
		return nil, fmt.Errorf("%s=%s, %s=%s: %w", certName, certFile, keyName, keyFile, err)
	}
	return c, nil
}

// SetLogger makes c log its certificate now (subject, names, expiry; a
// warning when it expires within two weeks), each renewed pair it starts
// serving, and a certificate or key that could not be read again after
// its files changed (once per change; the old pair is kept).
func (c *Certificate) SetLogger(log *slog.Logger) {
	c.pair.setLogger(log, "HTTPS: serving a certificate")
}

// Names returns the DNS names and IP addresses the current certificate is
// for.
func (c *Certificate) Names() []string {
	cur, err := c.pair.get()
	if err != nil {
		return nil
	}
	return CertificateNames(cur.Leaf)
}

// Current returns the certificate served now (Leaf set).
func (c *Certificate) Current() (*tls.Certificate, error) { return c.pair.get() }

// CheckHost reports whether the current certificate names host, as a
// browser that dials host checks it; the error names the setting and file.
func (c *Certificate) CheckHost(host string) error {
	cur, err := c.pair.get()
	if err != nil {
		return err
	}
	return checkHost(cur.Leaf, c.certName+" "+c.pair.certFile, host)
}

// ServerTLS is the TLS configuration of an HTTPS server that presents c
// and asks nothing of its clients: TLS 1.2 or later, HTTP/2 and HTTP/1.1
// (net/http's ServeTLS adds h2 to an empty NextProtos).
func (c *Certificate) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.pair.get() },
	}
}
