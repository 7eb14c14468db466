package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/certgen"
)

// certCommands are the subcommands of `gale cert`.
var certCommands = []command{
	{"ca", "make the cluster's CA: DIR/ca.pem and its key DIR/ca-key.pem", runCertCA},
	{"node", "make a node's certificate, for the hosts it is dialled by: gale cert node NAME --host H[,H...]", runCertNode},
	{"client", "make a client's certificate (the CLI, a program that submits): gale cert client NAME", runCertClient},
	{"gossip-key", "make a random key for encrypted gossip: DIR/gossip.key (gale node --gossip-key-file)", runCertGossipKey},
}

// runCert is `gale cert SUBCOMMAND`.
func runCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	names := make([]string, len(certCommands))
	for i, c := range certCommands {
		names[i] = c.name
	}
	help := func(w io.Writer) {
		fmt.Fprintln(w, "usage: gale cert SUBCOMMAND [FLAGS]\n\nMakes the certificates of a cluster's mutual TLS (ECDSA P-256, PEM files). See the README, \"TLS and a gossip key\".\n\nsubcommands:")
		for _, c := range certCommands {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(w, "\nRun 'gale cert SUBCOMMAND -h' for its flags.")
	}
	if len(args) == 0 {
		help(stderr)
		return usagef("want a subcommand: %s", strings.Join(names, ", "))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		help(stderr)
		return errHelp
	}
	for _, c := range certCommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return usagef("unknown subcommand %q; want one of: %s", args[0], strings.Join(names, ", "))
}

// certFlags are the flags every `gale cert` subcommand takes.
type certFlags struct {
	dir       string
	days      int
	overwrite bool
}

func addCertFlags(fs *flag.FlagSet, days int, daysHelp string) *certFlags {
	f := &certFlags{}
	fs.StringVar(&f.dir, "dir", "certs", "directory of the CA and the certificates (made if missing, readable by its owner only)")
	fs.IntVar(&f.days, "days", days, daysHelp)
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace existing files (by default an existing certificate or key is never replaced)")
	return f
}

func (f *certFlags) validity() (time.Duration, error) {
	if f.days < 1 || f.days > 100*365 {
		return 0, usagef("--days %d: want 1 to 36500", f.days)
	}
	return time.Duration(f.days) * 24 * time.Hour, nil
}

func (f *certFlags) ensureDir() error {
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("--dir %s: %w", f.dir, err)
	}
	return nil
}

// loadCA reads DIR/ca.pem and DIR/ca-key.pem.
func (f *certFlags) loadCA(stderr io.Writer) (*certgen.CA, error) {
	cert, key := filepath.Join(f.dir, "ca.pem"), filepath.Join(f.dir, "ca-key.pem")
	ca, err := certgen.LoadCA(cert, key)
	if errors.Is(err, fs.ErrNotExist) {
		if _, cerr := os.Stat(cert); cerr == nil {
			return nil, usagef("%s is here but not the CA's key %s: certificates are signed where the CA's key is kept (copy only ca.pem to nodes and clients)", cert, key)
		}
		return nil, usagef("no CA in %s (%v): make one first with gale cert ca --dir %s", f.dir, err, f.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CA in %s: %w", f.dir, err)
	}
	if w := looseKeyWarning("the CA's key", key); w != "" {
		fmt.Fprintf(stderr, "gale cert: warning: %s\n", w)
	}
	return ca, nil
}

// certName is what a certificate's files are named by: a file name, and
// not the CA's.
var certName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkCertName(name string) error {
	if !certName.MatchString(name) {
		return usagef("name %q: want letters, digits, '.', '_' or '-' (up to 64): it names the files NAME.pem and NAME-key.pem", name)
	}
	// NAME.pem must not be the CA's files or another certificate's key.
	if name == "ca" || strings.HasSuffix(name, "-key") {
		return usagef("name %q: its files would be taken for the CA's or for another certificate's key (NAME-key.pem); pick another", name)
	}
	return nil
}

func runCertCA(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale cert ca", flag.ContinueOnError)
	f := addCertFlags(fs, 10*365, "days the CA is valid (the certificates it signs end with it at the latest)")
	host, _ := os.Hostname()
	// A random tail tells apart two CAs made on one machine on one day:
	// "issued by X is not signed by the CA X" is no help.
	var tail [3]byte
	_, _ = rand.Read(tail[:])
	name := fs.String("name", strings.TrimSpace("Gale CA "+host+" "+time.Now().Format(time.DateOnly))+" "+hex.EncodeToString(tail[:]), "the CA's name (its certificate's common name), to tell CAs apart")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale cert ca [--dir DIR] [--name NAME] [--days N] [--overwrite]\n\nMakes a CA: DIR/ca.pem (give it to every node and client: --tls-ca) and DIR/ca-key.pem\n(keep it secret: it signs the certificates). Flags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (the CA is named by --name)", pos[0])
	}
	validity, err := f.validity()
	if err != nil {
		return err
	}
	if err := f.ensureDir(); err != nil {
		return err
	}
	ca, err := certgen.NewCA(*name, validity)
	if err != nil {
		return usageError{err}
	}
	cert, key := filepath.Join(f.dir, "ca.pem"), filepath.Join(f.dir, "ca-key.pem")
	if err := ca.WriteCA(cert, key, f.overwrite); err != nil {
		if errors.Is(err, certgen.ErrExists) {
			return usagef("%v: a new CA invalidates every certificate the old one signed (remove the old files first if that is what you want, or give --overwrite)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s: CA %q, valid until %s\n", cert, key, *name, ca.Cert.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(stdout, "next: gale cert node NAME --host HOST[,HOST...] --dir %s, and gale cert client NAME --dir %s\n", f.dir, f.dir)
	return nil
}

func runCertNode(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale cert node", flag.ContinueOnError)
	f := addCertFlags(fs, 365, fmt.Sprintf("days the certificate is valid: at most %d (Apple's limit for server certificates) and as long as the CA", maxServerDays))
	var hosts multiFlag
	fs.Var(&hosts, "host", "comma-separated (or repeated) IP addresses and DNS names the node is dialled by: its --grpc-addr host, its --etcd-client-addr host (the embedded etcd serves with this certificate), and 127.0.0.1 when it binds a wildcard address (its processes dial the loopback)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale cert node NAME --host HOST[,HOST...] [--dir DIR] [--days N] [--overwrite]\n\nMakes DIR/NAME.pem and DIR/NAME-key.pem, signed by the CA in DIR: a node's certificate, presented\nas a server and as a client (gale node --tls-ca DIR/ca.pem --tls-cert DIR/NAME.pem --tls-key DIR/NAME-key.pem);\nit also serves HTTPS (ingest.tls_cert). Flags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one NAME (gale cert node NAME --host HOST[,HOST...])")
	}
	var hs []string
	for _, h := range strings.Split(strings.Join(hosts, ","), ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return usagef("--host: give the IP addresses and DNS names the node is dialled by, e.g. --host 10.0.0.5,node1.example.com,127.0.0.1")
	}
	return issueCert(f, certgen.Node, pos[0], hs, stdout, stderr)
}

func runCertClient(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale cert client", flag.ContinueOnError)
	f := addCertFlags(fs, 365, "days the certificate is valid (at most as long as the CA)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale cert client NAME [--dir DIR] [--days N] [--overwrite]\n\nMakes DIR/NAME.pem and DIR/NAME-key.pem, signed by the CA in DIR: a client's certificate, for the\ncluster commands (--tls-* or GALE_TLS_*) and programs that submit. Flags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one NAME (gale cert client NAME)")
	}
	return issueCert(f, certgen.Client, pos[0], nil, stdout, stderr)
}

func issueCert(f *certFlags, kind certgen.Kind, name string, hosts []string, stdout, stderr io.Writer) error {
	if err := checkCertName(name); err != nil {
		return err
	}
	validity, err := f.validity()
	if err != nil {
		return err
	}
	if kind == certgen.Node && f.days > maxServerDays {
		return usagef("--days %d: a node's certificate also serves HTTPS, and Apple's systems refuse server certificates valid for more than %d days; renew it instead (a node serves a new pair in the same files without a restart)", f.days, maxServerDays)
	}
	ca, err := f.loadCA(stderr)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.Issue(kind, name, hosts, validity)
	if err != nil {
		return usageError{err}
	}
	block, _ := pem.Decode(certPEM)
	issued, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	cert, key := filepath.Join(f.dir, name+".pem"), filepath.Join(f.dir, name+"-key.pem")
	if err := certgen.WritePair(cert, certPEM, key, keyPEM, f.overwrite); err != nil {
		return existsHint(err)
	}
	what := fmt.Sprintf("%s %s", kind, name)
	if names := security.CertificateNames(issued); len(names) > 0 {
		what += " for " + strings.Join(names, ", ")
	}
	until := issued.NotAfter.Format(time.DateOnly)
	if issued.NotAfter.Equal(ca.Cert.NotAfter) {
		until += " (when the CA expires: the certificate cannot outlive it)"
	}
	fmt.Fprintf(stdout, "wrote %s and %s: %s, valid until %s\n", cert, key, what, until)
	// Absolute paths: the lines still work after a cd.
	if abs, err := filepath.Abs(f.dir); err == nil {
		cert, key = filepath.Join(abs, name+".pem"), filepath.Join(abs, name+"-key.pem")
	}
	caFile := filepath.Join(filepath.Dir(cert), "ca.pem")
	if kind == certgen.Node {
		fmt.Fprintf(stdout, "  gale node --tls-ca %s --tls-cert %s --tls-key %s ...\n", caFile, cert, key)
	} else {
		fmt.Fprintf(stdout, "  export GALE_TLS_CA=%s GALE_TLS_CERT=%s GALE_TLS_KEY=%s\n", caFile, cert, key)
	}
	return nil
}

// maxServerDays is the longest validity Apple's systems accept for a TLS
// server certificate, even of a private CA.
const maxServerDays = 825

// existsHint names the flag that replaces existing files.
func existsHint(err error) error {
	if errors.Is(err, certgen.ErrExists) {
		return usagef("%v (remove it first, or give --overwrite)", err)
	}
	return err
}

func runCertGossipKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale cert gossip-key", flag.ContinueOnError)
	dir := fs.String("dir", "certs", "directory of the key file (made if missing, readable by its owner only)")
	overwrite := fs.Bool("overwrite", false, "replace an existing key file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale cert gossip-key [--dir DIR] [--overwrite]\n\nWrites DIR/gossip.key: 32 random bytes, base64, for every node's --gossip-key-file. Flags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("--dir %s: %w", *dir, err)
	}
	file := filepath.Join(*dir, "gossip.key")
	if err := certgen.WriteGossipKey(file, *overwrite); err != nil {
		return existsHint(err)
	}
	fmt.Fprintf(stdout, "wrote %s: a gossip key (AES-256); give the same file to every node: gale node --gossip-key-file %s ...\n", file, file)
	return nil
}
