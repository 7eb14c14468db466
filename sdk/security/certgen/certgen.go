package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kind is what a certificate is for.
type Kind int

const (
	// Node certificates are presented by a node both as a server (its gRPC
	// port, its embedded etcd) and as a client (to the other nodes), and
	// name the hosts the node is dialled by. They also serve HTTPS (the
	// web-analytics ingest and dashboard).
	Node Kind = iota
	// Client certificates are presented by clients of the cluster: the
	// CLI, programs that submit topologies, attached components.
	Client
)

func (k Kind) String() string {
	switch k {
	case Node:
		return "node"
	case Client:
		return "client"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA named name, valid from an hour ago (clocks
// differ) for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("a CA needs a name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the CA's key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // it signs leaf certificates only
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA's certificate and private key (PEM; the key as
// "EC PRIVATE KEY" or PKCS #8), as written by WriteCA.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(cb)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate in the file", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: the certificate of %q is not a CA's", certFile, cert.Subject.CommonName)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	block, _ = pem.Decode(kb)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key in the file", keyFile)
	}
	var key *ecdsa.PrivateKey
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*ecdsa.PrivateKey); !ok {
				err = fmt.Errorf("a %T key; this tool signs with ECDSA keys only", k)
			}
		}
	default:
		err = fmt.Errorf("a PEM block %q, want EC PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s is not the key of the CA certificate %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue makes a certificate of kind named name, signed by ca, valid for
// validity (at most as long as the CA's). A node's hosts (IP addresses or
// DNS names; at least one) are its subject alternative names, what
// clients check against the address they dial; a client certificate
// names no host. It returns the certificate and its new private key, PEM.
func (ca *CA) Issue(kind Kind, name string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(name) == "" {
		return nil, nil, fmt.Errorf("a %s certificate needs a name", kind)
	}
	if now := time.Now(); !now.Before(ca.Cert.NotAfter) {
		return nil, nil, fmt.Errorf("the CA %q expired on %s: a certificate it signs is never valid; make a new CA (and certificates for every node and client)",
			ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	}
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: name},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	switch kind {
	case Node:
		if len(hosts) == 0 {
			return nil, nil, errors.New("a node certificate needs the hosts the node is dialled by (IP addresses or DNS names)")
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		seen := map[string]bool{}
		for _, h := range hosts {
			h = strings.TrimSpace(h)
			if seen[strings.ToLower(h)] {
				continue
			}
			seen[strings.ToLower(h)] = true
			switch {
			case h == "":
				return nil, nil, errors.New("an empty host")
			case net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified():
				return nil, nil, fmt.Errorf("host %s is the wildcard address a server binds, which nobody dials: give the node's own addresses (and 127.0.0.1 for its processes)", h)
			case net.ParseIP(h) != nil:
				tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(h))
			case validDNSName(h):
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			default:
				return nil, nil, fmt.Errorf("host %q is neither an IP address nor a DNS name", h)
			}
		}
	case Client:
		if len(hosts) != 0 {
			return nil, nil, errors.New("a client certificate names no hosts")
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, nil, fmt.Errorf("unknown kind %v", kind)
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter // a chain is only as valid as its CA
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate a key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the certificate of %s: %w", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemOf("CERTIFICATE", der), pemOf("EC PRIVATE KEY", kder), nil
}

// CertPEM returns the CA's certificate, PEM.
func (ca *CA) CertPEM() []byte { return pemOf("CERTIFICATE", ca.Cert.Raw) }

// KeyPEM returns the CA's private key, PEM.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	return pemOf("EC PRIVATE KEY", der), nil
}

// WriteCA writes the CA's certificate (readable by all) and key (by the
// owner only) to new files; it fails if either exists (unless overwrite).
func (ca *CA) WriteCA(certFile, keyFile string, overwrite bool) error {
	key, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	return WritePair(certFile, ca.CertPEM(), keyFile, key, overwrite)
}

// ErrExists is the error of a write that would replace a file.
var ErrExists = errors.New("exists: not replacing it")

// WritePair writes a certificate (mode 0644) and its key (0600). Unless
// overwrite, it fails before writing anything if either file exists
// (ErrExists), so that a key in use is never replaced by mistake. Each
// file is written whole to a new file beside it and then put in place
// (renamed over the old one, which replaces a symbolic link rather than
// writing through it), the key first: a reader sees an old or a new file,
// never a part of one, and the modes are the new files' own.
func WritePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte, overwrite bool) error {
	if !overwrite {
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%s %w", f, ErrExists)
			}
		}
	}
	keyTmp, err := writeTemp(keyFile, keyPEM, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(keyTmp)
	certTmp, err := writeTemp(certFile, certPEM, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(certTmp)
	if err := place(keyTmp, keyFile, overwrite); err != nil {
		return err
	}
	if err := place(certTmp, certFile, overwrite); err != nil {
		if !overwrite {
			os.Remove(keyFile) // not half a pair
		}
		return err
	}
	return nil
}

// WriteFile writes data to a new file and puts it in place as WritePair
// does, with mode.
func WriteFile(file string, data []byte, mode os.FileMode, overwrite bool) error {
	if !overwrite {
		if _, err := os.Lstat(file); err == nil {
			return fmt.Errorf("%s %w", file, ErrExists)
		}
	}
	tmp, err := writeTemp(file, data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return place(tmp, file, overwrite)
}

// WriteGossipKey writes a new random gossip key to file: 32 bytes,
// base64, mode 0600, as every node's --gossip-key-file takes it (AES-256
// for memberlist). It refuses to replace a file unless overwrite.
func WriteGossipKey(file string, overwrite bool) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("gossip key: %w", err)
	}
	return WriteFile(file, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600, overwrite)
}

// writeTemp writes data to a new file in file's directory, synced.
func writeTemp(file string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", file, err)
	}
	name := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", file, err)
	}
	return name, nil
}

// place moves tmp to file: a rename over it, or with overwrite unset a
// hard link that fails if file appeared meanwhile.
func place(tmp, file string, overwrite bool) error {
	if overwrite {
		if err := os.Rename(tmp, file); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
		return nil
	}
	err := os.Link(tmp, file)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s %w", file, ErrExists)
	}
	if err != nil {
		// A file system without hard links: checked just before.
		if _, serr := os.Lstat(file); serr == nil {
			return fmt.Errorf("%s %w", file, ErrExists)
		}
		if err := os.Rename(tmp, file); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	return nil
}

func pemOf(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// serial is a random 128-bit serial number, as RFC 5280 asks (unique per
// CA; positive, at most 20 octets).
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// validDNSName accepts host names and wildcards of one label
// (*.example.com, not *.com): letters, digits, hyphens and dots, the last
// label not all digits (999.1.1.1 is a mistyped address, not a name).
func validDNSName(h string) bool {
	wild := strings.HasPrefix(h, "*.")
	h = strings.TrimPrefix(h, "*.")
	if len(h) == 0 || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") {
		return false
	}
	labels := strings.Split(h, ".")
	if wild && len(labels) < 2 {
		return false
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
