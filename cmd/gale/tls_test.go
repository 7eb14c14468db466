package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/client"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/certgen"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

func TestTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	notB64 := filepath.Join(dir, "junk.key")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notB64, []byte("not base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	caFile := securitytest.NewCA(t, "gale").File
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"client cert without key", []string{"list", "--addr", noNode, "--tls-ca", missing, "--tls-cert", missing}, []string{"--tls-cert is set and --tls-key is empty"}},
		{"client cert without CA", []string{"nodes", "--addr", noNode, "--tls-cert", missing, "--tls-key", missing}, []string{"--tls-ca is not set"}},
		{"client CA unreadable", []string{"list", "--addr", noNode, "--tls-ca", missing}, []string{"--tls-ca=" + missing, "no such file"}},
		{"client CA without a certificate", []string{"nodes", "--addr", noNode, "--tls-ca", caFile}, []string{"--tls-ca without --tls-cert and --tls-key", "gale cert client NAME"}},
		{"node CA only", []string{"node", "--tls-ca", missing}, []string{"--tls-cert is empty", "--tls-ca, --tls-cert and --tls-key"}},
		{"node etcd cert without etcd CA", []string{"node", "--etcd", "https://127.0.0.1:2379", "--etcd-cert", missing, "--etcd-key", missing}, []string{"--etcd-ca is empty"}},
		{"node etcd files with the embedded etcd", []string{"node", "--etcd-ca", missing}, []string{"--etcd-ca, --etcd-cert and --etcd-key are for an external etcd"}},
		{"node TLS with a plaintext etcd", []string{"node", "--etcd", "http://127.0.0.1:2379", "--tls-ca", missing, "--tls-cert", missing, "--tls-key", missing}, []string{"--etcd http://127.0.0.1:2379 is not https"}},
		{"gossip key too short", []string{"node", "--gossip-key-file", short}, []string{"--gossip-key-file " + short, "5 bytes", "16, 24 or 32"}},
		{"gossip key not base64", []string{"node", "--gossip-key-file", notB64}, []string{"not base64"}},
		{"gossip key file missing", []string{"node", "--gossip-key-file", missing}, []string{"--gossip-key-file", "no such file"}},
		// An empty flag (an unset shell variable) is not "no TLS": the
		// client went plaintext, ignoring GALE_TLS_*.
		{"client TLS flag empty", []string{"nodes", "--addr", noNode, "--tls-ca", ""}, []string{"--tls-ca is given but empty"}},
		{"node TLS flags empty", []string{"node", "--tls-ca", "", "--tls-cert", "", "--tls-key", ""}, []string{"--tls-ca is given but empty"}},
		{"node gossip key flag empty", []string{"node", "--gossip-key-file="}, []string{"--gossip-key-file is given but empty"}},
		{"embedded etcd addresses with --join", []string{"node", "--join", "127.0.0.1:1", "--etcd-client-addr", "127.0.0.1:0"}, []string{"--etcd-client-addr: for the embedded etcd, which a node with --etcd or --join does not start"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := gale(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" || strings.Contains(stderr, "no Gale node answers") {
				t.Errorf("a usage error went further: stdout %q, stderr:\n%s", stdout, stderr)
			}
			assertNoTrace(t, stderr)
		})
	}
}

// TestClusterWithTLS runs a node with mutual TLS and a gossip key: the CLI
// reaches it with a certificate of the cluster's CA (from flags or from
// GALE_TLS_*), not without one, and the word count's Python and TypeScript
// bolts, managed processes of the node, attach to it over TLS with the
// files the node hands them.
//
// The cluster's CA, certificates and gossip key are made by `gale cert`.
func TestClusterWithTLS(t *testing.T) {
	certs := t.TempDir()
	for _, args := range [][]string{
		{"ca"}, {"node", "n1", "--host", "127.0.0.1,localhost"}, {"client", "cli"}, {"client", "cli2"}, {"gossip-key"},
	} {
		if stdout, stderr, code := gale(t, append(append([]string{"cert"}, args...), "--dir", certs)...); code != 0 {
			t.Fatalf("gale cert %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	files := func(name string) security.TLSFiles {
		return security.TLSFiles{CA: filepath.Join(certs, "ca.pem"), Cert: filepath.Join(certs, name+".pem"), Key: filepath.Join(certs, name+"-key.pem")}
	}
	other := securitytest.NewCA(t, "other")
	nodeFiles, cli := files("n1"), files("cli")
	keyFile := filepath.Join(certs, "gossip.key")
	n := startNodeProc(t, "n1", "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0",
		"--tls-ca", nodeFiles.CA, "--tls-cert", nodeFiles.Cert, "--tls-key", nodeFiles.Key, "--gossip-key-file", keyFile)
	flags := func(f security.TLSFiles) []string {
		return []string{"--tls-ca", f.CA, "--tls-cert", f.Cert, "--tls-key", f.Key}
	}

	if out, err := cliAt(t, n.grpc, append([]string{"nodes"}, flags(cli)...)...); err != nil || !strings.Contains(out, "n1") {
		t.Fatalf("gale nodes with a client certificate: %v\n%s", err, out)
	}
	t.Run("plaintext is refused with a hint", func(t *testing.T) {
		_, stderr, code := gale(t, "nodes", "--addr", n.grpc, "--timeout", "2s")
		if code != exitFailed || !strings.Contains(stderr, "TLS") || strings.Contains(stderr, "no Gale node answers") {
			t.Fatalf("exit %d, want %d and a hint at TLS (not 'no Gale node answers'); stderr:\n%s", code, exitFailed, stderr)
		}
		assertNoTrace(t, stderr)
	})
	stranger, cli2 := other.Issue(t, "stranger"), files("cli2")
	for _, tc := range []struct {
		name  string
		files security.TLSFiles
		want  string
	}{
		{"a certificate of another CA is refused", security.TLSFiles{CA: cli.CA, Cert: stranger.Cert, Key: stranger.Key}, ""},
		{"a node certificate of another CA is refused", security.TLSFiles{CA: other.File, Cert: cli2.Cert, Key: cli2.Key}, "something answers at " + n.grpc + ", but the connection failed at TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := gale(t, append([]string{"nodes", "--addr", n.grpc, "--timeout", "2s"}, flags(tc.files)...)...)
			if code != exitFailed || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q; stderr:\n%s", code, exitFailed, tc.want, stderr)
			}
			assertNoTrace(t, stderr)
		})
	}
	t.Run("GALE_TLS variables", func(t *testing.T) {
		for k, v := range cli.Env() {
			t.Setenv(k, v)
		}
		if out, err := cliAt(t, n.grpc, "nodes"); err != nil || !strings.Contains(out, "n1") {
			t.Fatalf("gale nodes with GALE_TLS_*: %v\n%s", err, out)
		}
	})
	t.Run("Go programs submit with client.Options.TLS", func(t *testing.T) {
		b := sdk.NewTopologyBuilder("wc-go-tls")
		b.SetSpout("sentences", "wordcount.SentenceSpout", 1)
		b.SetBolt("split", "wordcount.SplitSentence", 1).ShuffleGrouping("sentences")
		b.SetBolt("count", "wordcount.WordCount", 1).FieldsGrouping("split", sdk.DefaultStream, "word")
		spec, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.tsv")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.Submit(ctx, n.grpc, spec, nil); err == nil {
			t.Fatal("a plaintext Submit reached the TLS node")
		}
		if _, err := client.Submit(ctx, n.grpc, spec, &client.Options{TLS: cli, Config: sdk.Config{"wordcount.output": sdk.String(out)}}); err != nil {
			t.Fatalf("Submit with TLS: %v", err)
		}
	})
	t.Run("managed Python and TypeScript bolts attach over TLS", func(t *testing.T) {
		requireDeps(t, []string{"sdk/python/.venv/bin/python3", "examples/wordcount/typescript/dist/count.js"}, "python3", "node")
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
		text := randomText(2000, 17)
		if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"submit", "examples/wordcount/topology-mixed.yaml", "--conf", "wordcount.input=" + in, "--conf", "wordcount.output=" + out}, flags(cli)...)
		if stdout, err := cliAt(t, n.grpc, args...); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		for k, v := range cli.Env() {
			t.Setenv(k, v) // for waitFinished's gale list
		}
		waitFinished(t, n.grpc, "wordcount-mixed")
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := formatCounts(referenceCounts(text)); string(got) != want {
			t.Fatalf("output differs from the reference:\n%s\nnode stderr:\n%s", diffLines(want, string(got)), n.stderr.String())
		}
	})
}

// TestCertCommand: what `gale cert` writes, and refuses.
func TestCertCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, string, int) {
		t.Helper()
		stdout, stderr, code := gale(t, append(append([]string{"cert"}, args...), "--dir", dir)...)
		assertNoTrace(t, stderr)
		return stdout, stderr, code
	}
	if _, stderr, code := run("node", "n1", "--host", "127.0.0.1"); code != exitUsage || !strings.Contains(stderr, "no CA in "+dir) || !strings.Contains(stderr, "gale cert ca --dir "+dir) {
		t.Fatalf("a node certificate without a CA: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := run("ca", "--name", "Test CA", "--days", "30")
	if code != 0 || !strings.Contains(stdout, "wrote "+filepath.Join(dir, "ca.pem")) {
		t.Fatalf("gale cert ca: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, code = run("node", "n1", "--host", " 10.0.0.5, node1.example.com ,127.0.0.1"); code != 0 ||
		!strings.Contains(stdout, "node n1 for node1.example.com, 10.0.0.5, 127.0.0.1") || !strings.Contains(stdout, "gale node --tls-ca") {
		t.Fatalf("gale cert node: exit %d\n%s%s", code, stdout, stderr)
	}
	// The node's certificate is what a node loads, and it is for its hosts.
	sec, err := security.Load(security.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "n1.pem"), Key: filepath.Join(dir, "n1-key.pem")}, "--tls")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sec.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := cfg.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Leaf.VerifyHostname("node1.example.com"); err != nil {
		t.Errorf("the node certificate: %v", err)
	}
	checkKeyModes := func() {
		t.Helper()
		for _, f := range []string{"ca-key.pem", "n1-key.pem"} {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v; want 0600", f, fi.Mode().Perm())
			}
		}
	}
	checkKeyModes()
	if stdout, _, code = run("gossip-key"); code != 0 {
		t.Fatalf("gale cert gossip-key: exit %d", code)
	}
	// --host repeated adds up.
	if stdout, stderr, code = run("node", "n5", "--host", "127.0.0.1", "--host", "node5.example.com"); code != 0 || !strings.Contains(stdout, "node n5 for node5.example.com, 127.0.0.1") {
		t.Fatalf("repeated --host: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Fatalf("a warning with the CA's key at 0600:\n%s", stderr)
	}
	// A CA key others can read is signed with, and warned of.
	if err := os.Chmod(filepath.Join(dir, "ca-key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = run("client", "c9"); code != 0 || !strings.Contains(stderr, "gale cert: warning: the CA's key "+filepath.Join(dir, "ca-key.pem")+" can be read by others than its owner (mode 0644): chmod 600") {
		t.Fatalf("a CA key at 0644: exit %d, want a warning:\n%s", code, stderr)
	}
	if err := os.Chmod(filepath.Join(dir, "ca-key.pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if key, err := readGossipKey(filepath.Join(dir, "gossip.key")); err != nil || len(key) != 32 {
		t.Fatalf("the gossip key: %v, %d bytes", err, len(key))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ca"}, filepath.Join(dir, "ca.pem") + " exists: not replacing it: a new CA invalidates every certificate the old one signed"},
		{[]string{"node", "n3", "--host", "127.0.0.1", "--days", "1000"}, "--days 1000: a node's certificate also serves HTTPS"},
		{[]string{"node", "n1", "--host", "127.0.0.1"}, "n1.pem exists"},
		{[]string{"gossip-key"}, "gossip.key exists"},
		{[]string{"node", "n2"}, "--host: give the IP addresses and DNS names"},
		{[]string{"node", "n2", "--host", "not a host"}, `host "not a host" is neither an IP address nor a DNS name`},
		{[]string{"node", "../n2", "--host", "a"}, `name "../n2"`},
		{[]string{"client", "ca"}, `name "ca"`},
		{[]string{"client", "ca-key", "--overwrite"}, `name "ca-key": its files would be taken for the CA's`},
		{[]string{"client", "n1-key"}, `name "n1-key"`},
		{[]string{"node", "n4", "--host", "0.0.0.0"}, "host 0.0.0.0 is the wildcard address"},
		{[]string{"client"}, "want one NAME"},
		{[]string{"client", "c", "--days", "0"}, "--days 0"},
		{[]string{"bogus"}, `unknown subcommand "bogus"`},
	} {
		if _, stderr, code := run(tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("gale cert %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// --overwrite replaces the pair (a new key, the key's mode kept at
	// 0600), and the new certificate is signed by the same CA.
	oldKey, err := os.ReadFile(filepath.Join(dir, "n1-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "n1-key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code = run("node", "n1", "--host", "127.0.0.1", "--overwrite"); code != 0 {
		t.Fatalf("--overwrite: exit %d\n%s%s", code, stdout, stderr)
	}
	if newKey, _ := os.ReadFile(filepath.Join(dir, "n1-key.pem")); string(newKey) == string(oldKey) {
		t.Error("--overwrite kept the old key")
	}
	checkKeyModes()
	if _, err := security.Load(security.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "n1.pem"), Key: filepath.Join(dir, "n1-key.pem")}, "--tls"); err != nil {
		t.Fatalf("after --overwrite: %v", err)
	}
	// Where the CA's certificate is but not its key (a node's folder),
	// nothing can be signed, and the command says why.
	elsewhere := t.TempDir()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "ca.pem"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = gale(t, "cert", "client", "c", "--dir", elsewhere)
	if code != exitUsage || !strings.Contains(stderr, "signed where the CA's key is kept") {
		t.Errorf("a folder with ca.pem alone: exit %d\n%s", code, stderr)
	}
}

// tlsHint names the likely cause of a failed handshake from its message.
func TestTLSHint(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		withTLS bool
		want    string
	}{
		{"error reading server preface: EOF", false, "not its gossip port? a node that requires TLS answers so too"},
		{"tls: first record does not look like a TLS handshake", true, "the node does not speak TLS"},
		{"x509: certificate is valid for 10.9.9.9, not 127.0.0.1", true, "does not name the address dialled"},
		{"remote error: tls: expired certificate", true, "out of its validity"},
		{"x509: certificate has expired or is not yet valid: current time 2026-11-29T19:00:00Z is before 2026-11-30T00:00:00Z", true, "check this machine's and the node's clocks"},
		{"x509: certificate signed by unknown authority", true, "--tls-ca must be the CA that signed the node's certificate"},
		{"read: connection reset by peer", true, "how it refuses a client certificate"},
		{"connection refused", true, ""},
	} {
		got := tlsHint(tc.msg, tc.withTLS)
		if tc.want == "" && got != tc.msg || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("tlsHint(%q, %v) = %q, want it to say %q", tc.msg, tc.withTLS, got, tc.want)
		}
	}
}

// Two CAs made by default on one machine on one day have different
// names: "issued by X is not signed by the CA X" told nothing.
func TestDefaultCANamesDiffer(t *testing.T) {
	var names []string
	for range 2 {
		dir := t.TempDir()
		if _, stderr, code := gale(t, "cert", "ca", "--dir", dir); code != 0 {
			t.Fatalf("gale cert ca: exit %d\n%s", code, stderr)
		}
		ca, err := certgen.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ca.Cert.Subject.CommonName)
	}
	if names[0] == names[1] || !strings.HasPrefix(names[0], "Gale CA ") {
		t.Fatalf("default CA names %q", names)
	}
}

func TestLooseKeyWarning(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o400, false}, {0o640, true}, {0o644, true}, {0o604, true}} {
		f := filepath.Join(dir, "key.pem")
		if err := os.WriteFile(f, []byte("k"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, tc.mode); err != nil {
			t.Fatal(err)
		}
		if got := looseKeyWarning("--tls-key", f); (got != "") != tc.warn || tc.warn && !strings.Contains(got, "chmod 600 "+f) {
			t.Errorf("mode %04o: %q, want a warning: %v", tc.mode, got, tc.warn)
		}
		os.Remove(f)
	}
	if got := looseKeyWarning("--tls-key", ""); got != "" {
		t.Errorf("no file: %q", got)
	}
}
