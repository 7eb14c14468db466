package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gale-stream/gale/node/rtsched"
	"github.com/gale-stream/gale/sdk/security"
)

// multiFlag collects a repeatable flag such as --conf.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseInterspersed parses flags that may come before or after the
// positional arguments (`gale local FILE --conf a=b` and
// `gale local --conf a=b FILE` both work) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	// The flag package prints a bad flag's error before the usage, and the
	// command's error ends the output with it again: drop the first copy.
	out := &dropFirstLine{w: stderr}
	fs.SetOutput(out)
	var pos []string
	for {
		out.armed = true
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// dropFirstLine writes to w, leaving out the first line written after it
// is armed when that line is a flag error (the flag package's "flag
// provided but not defined: -x", "invalid value ..."): the error is said
// once, last.
type dropFirstLine struct {
	w     io.Writer
	armed bool
}

func (d *dropFirstLine) Write(p []byte) (int, error) {
	if d.armed {
		d.armed = false
		s := string(p)
		if strings.HasPrefix(s, "flag provided but not defined") || strings.HasPrefix(s, "invalid ") ||
			strings.HasPrefix(s, "bad flag syntax") || strings.HasPrefix(s, "flag needs an argument") {
			if i := strings.IndexByte(s, '\n'); i >= 0 && i == len(s)-1 {
				return len(p), nil
			}
		}
	}
	return d.w.Write(p)
}

// checkHostPort validates a HOST:PORT flag value up front, so that a typo
// fails at once with the flag's name instead of as a dial timeout later.
func checkHostPort(flagName, v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return usagef("%s %q: want HOST:PORT, e.g. 127.0.0.1:7070", flagName, v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return usagef("%s %q: port %q is not a number from 0 to 65535", flagName, v, port)
	}
	if strings.ContainsAny(host, " /") {
		return usagef("%s %q: %q is not a host name or address", flagName, v, host)
	}
	return nil
}

// realtimeFlag adds --realtime, the opt-in for rtsched, to a command that
// runs topologies.
func realtimeFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("realtime", false, "run this process's threads (and the processes it starts) under the real-time round-robin policy, SCHED_RR priority 1: a woken thread gets an idle core at once, for a lower tail latency on a busy machine, at more CPU when lightly loaded; needs CAP_SYS_NICE (root outside a container has it) or ulimit -r 1 (see the README, \"Real-time scheduling\")")
}

// applyRealtime enables the real-time policy when on is set.
func applyRealtime(on bool) error {
	if !on {
		return nil
	}
	if err := rtsched.Enable(1); err != nil {
		if errors.Is(err, rtsched.ErrUnsupported) {
			return usagef("--realtime: %v", err) // no such option here
		}
		return fmt.Errorf("--realtime: %w", err)
	}
	return nil
}

// addTLSFlags adds --tls-ca, --tls-cert and --tls-key, filling f; about
// starts each flag's help.
func addTLSFlags(fs *flag.FlagSet, f *security.TLSFiles, about string) {
	fs.StringVar(&f.CA, "tls-ca", "", about+"PEM file of the CA that signed the nodes' certificates ($"+security.EnvCA+" when no --tls-* is given)")
	fs.StringVar(&f.Cert, "tls-cert", "", about+"PEM file of this client's certificate, signed by that CA ($"+security.EnvCert+")")
	fs.StringVar(&f.Key, "tls-key", "", about+"PEM file of the certificate's private key ($"+security.EnvKey+")")
}

// loadClientTLS loads the --tls-* files of a client command, or, when none
// of those flags was given, the GALE_TLS_* variables.
func loadClientTLS(fs *flag.FlagSet, f security.TLSFiles) (*security.Security, error) {
	if err := refuseEmpty(fs, "tls-ca", "tls-cert", "tls-key"); err != nil {
		return nil, err
	}
	set := len(flagsGiven(fs, "tls-ca", "tls-cert", "tls-key")) > 0
	what := "GALE_TLS"
	if set {
		what = "--tls"
	} else {
		f = security.FilesFromEnv()
	}
	sec, err := security.Load(f, what)
	if err != nil {
		return nil, usageError{err}
	}
	if sec != nil && f.Cert == "" {
		// A node with TLS refuses every client without a certificate.
		if set {
			return nil, usagef("--tls-ca without --tls-cert and --tls-key: a node with TLS accepts clients with a certificate of its CA only (gale cert client NAME makes one)")
		}
		return nil, usagef("GALE_TLS_CA is set without GALE_TLS_CERT and GALE_TLS_KEY: a node with TLS accepts clients with a certificate of its CA only (gale cert client NAME makes one)")
	}
	return sec, nil
}

// refuseEmpty refuses security flags given with an empty value: with
// `--tls-ca "$CA"` and CA unset, an empty flag would mean no TLS, and the
// command would go on in plaintext without a word (a client even ignored
// the GALE_TLS_* variables for it).
func refuseEmpty(fs *flag.FlagSet, names ...string) error {
	for _, name := range flagsGiven(fs, names...) {
		if fs.Lookup(name).Value.String() == "" {
			return usagef("--%s is given but empty (an unset variable?): give its file, or leave the flag out", name)
		}
	}
	return nil
}

// flagsGiven lists which of names were given on the command line, in
// name order.
func flagsGiven(fs *flag.FlagSet, names ...string) []string {
	var given []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(names, f.Name) {
			given = append(given, f.Name)
		}
	})
	return given
}

// looseKeyWarning warns of a private key file that others than its owner
// may read (as ssh refuses such keys; a warning here, since a group of
// operators may share one on purpose). "" for none, or no file.
func looseKeyWarning(what, file string) string {
	if file == "" {
		return ""
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return "" // a missing file is reported where it is read
	}
	return fmt.Sprintf("%s %s can be read by others than its owner (mode %04o): chmod 600 %s", what, file, fi.Mode().Perm(), file)
}
