package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/client"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// requireDeps skips a test whose external dependencies (installed by
// `make deps`) are missing, unless GALE_REQUIRE_DEPS=1 (as in `make test`)
// makes that a failure.
func requireDeps(t *testing.T, files []string, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(repoRoot(t), f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("GALE_REQUIRE_DEPS") == "1" {
		t.Fatalf("missing %v: run `make deps`", missing)
	}
	t.Skipf("missing %v: run `make deps`", missing)
}

// The same word count with components in other languages gives exactly the
// Go word count's result.
func TestWordCountInOtherLanguages(t *testing.T) {
	cases := []struct {
		topology string
		files    []string
		programs []string
	}{
		{"topology-multilang-python.yaml", []string{"examples/wordcount/multilang/storm.py"}, []string{"python3"}},
		{"topology-multilang-javascript.yaml", []string{"examples/wordcount/multilang/storm.js"}, []string{"node"}},
		{"topology-python.yaml", []string{"sdk/python/.venv/bin/python3"}, []string{"python3"}},
		{"topology-typescript.yaml", []string{"examples/wordcount/typescript/dist/split.js", "examples/wordcount/typescript/dist/count.js"}, []string{"node"}},
		{"topology-mixed.yaml", []string{"sdk/python/.venv/bin/python3", "examples/wordcount/typescript/dist/count.js"}, []string{"python3", "node"}},
	}
	// Letters and digits beyond ASCII, and the characters whose lowercase
	// differs between Go's simple case mapping and full ones.
	text := randomText(3000, 7) + "İstanbul ΣΑΣ ǅemal ﬁve ²3 ٣4 Ⅻ\n"
	for _, tc := range cases {
		t.Run(tc.topology, func(t *testing.T) {
			t.Parallel()
			requireDeps(t, tc.files, tc.programs...)
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := gale(t, "local", "examples/wordcount/"+tc.topology, "--conf", "wordcount.input="+in, "--conf", "wordcount.output="+out)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := formatCounts(referenceCounts(text)); string(got) != want {
				t.Fatalf("output differs from the reference (%d vs %d bytes):\n%s\nstderr:\n%s", len(got), len(want), diffLines(want, string(got)), stderr)
			}
		})
	}
}

// diffLines lists lines of want missing from got and the other way round.
func diffLines(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range splitLines(s) {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var out string
	for l := range w {
		if !g[l] {
			out += "- " + l + "\n"
		}
	}
	for l := range g {
		if !w[l] {
			out += "+ " + l + "\n"
		}
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	return lines
}

// The Go builder submits through sdk/client, and a bad spec gets the
// node's message.
func TestGoBuilderSubmitsToANode(t *testing.T) {
	addr := startNode(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
	text := randomText(1000, 13)
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	b := sdk.NewTopologyBuilder("wc-go")
	b.SetSpout("sentences", "wordcount.SentenceSpout", 1)
	b.SetBolt("split", "wordcount.SplitSentence", 2).ShuffleGrouping("sentences")
	b.SetBolt("count", "wordcount.WordCount", 2).FieldsGrouping("split", sdk.DefaultStream, "word")
	spec, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := client.Submit(ctx, addr, spec, &client.Options{Config: sdk.Config{"wordcount.input": sdk.String(in), "wordcount.output": sdk.String(out)}})
	if err != nil || id == "" {
		t.Fatalf("Submit: %q, %v", id, err)
	}
	// The error says it in words and carries the node's status code.
	if _, err := client.Submit(ctx, addr, spec, nil); err == nil || !strings.Contains(err.Error(), "already") || status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate Submit: %v (code %v), want AlreadyExists", err, status.Code(err))
	}
	waitFinished(t, addr, "wc-go")
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := formatCounts(referenceCounts(text)); string(got) != want {
		t.Fatalf("output differs from the reference:\n%s", diffLines(want, string(got)))
	}
}

// waitFinished polls `gale list` until the topology has finished.
func waitFinished(t *testing.T, addr, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, _, _ := gale(t, "list", "--addr", addr)
		if finishedIn(list, name) {
			return
		}
		if time.Now().After(deadline) {
			status, stderr, _ := gale(t, "status", name, "--addr", addr)
			t.Fatalf("%s not finished after 60s; list:\n%s\nstatus:\n%s%s", name, list, status, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The Python and TypeScript builders submit topologies through the
// Coordinator API to a real node, which runs their external bolts as
// managed processes; the result is the Go word count's.
func TestSDKBuildersSubmitToANode(t *testing.T) {
	root := repoRoot(t)
	requireDeps(t, []string{"sdk/python/.venv/bin/python3", "sdk/typescript/dist/src/index.js", "examples/wordcount/typescript/dist/split.js"}, "python3", "node")
	addr := startNode(t)
	text := randomText(2000, 11)
	cases := []struct {
		name   string
		prog   []string
		script string
	}{
		{"python", []string{filepath.Join(root, "sdk/python/.venv/bin/python3"), "-c"}, `
import sys, gale
addr, inp, out, root = sys.argv[1:5]
b = gale.TopologyBuilder("wc-python")
b.set_config("topology.acker.executors", 1)
b.set_spout("sentences", class_name="wordcount.SentenceSpout")
b.set_bolt("split", run=[sys.executable, root + "/examples/wordcount/python/split.py"], parallelism=2) \
    .output("default", ["word"]).shuffle_grouping("sentences")
b.set_bolt("count", class_name="wordcount.WordCount", parallelism=2).fields_grouping("split", ["word"])
print(gale.submit(addr, b.build(), config={"wordcount.input": inp, "wordcount.output": out}))
`},
		{"typescript", []string{"node", "-e"}, `
const [addr, inp, out, root] = process.argv.slice(1);
const { TopologyBuilder, submit } = require(root + "/sdk/typescript/dist/src/index.js");
const b = new TopologyBuilder("wc-typescript");
b.setConfig("topology.acker.executors", 1n);
b.setSpout("sentences", { className: "wordcount.SentenceSpout" }, 1);
b.setBolt("split", { run: ["node", root + "/examples/wordcount/typescript/dist/split.js"] }, 2)
  .outputs({ id: "default", fields: ["word"] })
  .shuffleGrouping("sentences");
b.setBolt("count", { className: "wordcount.WordCount" }, 2).fieldsGrouping("split", ["word"]);
submit(addr, b.build(), { config: { "wordcount.input": inp, "wordcount.output": out } })
  .then((id) => console.log(id), (e) => { console.error(e.message); process.exit(1); });
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string(nil), tc.prog[1:]...), tc.script)
			if tc.prog[0] == "node" {
				args = append(args, "--")
			}
			args = append(args, addr, in, out, root)
			cmd := exec.Command(tc.prog[0], args...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("submitting from %s: %v\n%s", tc.name, err, b)
			}
			// The count tasks merge into the output one after the other:
			// read it once the topology has finished.
			deadline := time.Now().Add(60 * time.Second)
			for {
				list, _, _ := gale(t, "list", "--addr", addr)
				if finishedIn(list, "wc-"+tc.name) {
					break
				}
				if time.Now().After(deadline) {
					status, stderr, _ := gale(t, "status", "wc-"+tc.name, "--addr", addr)
					t.Fatalf("not finished after 60s; list:\n%s\nstatus:\n%s%s", list, status, stderr)
				}
				time.Sleep(100 * time.Millisecond)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := formatCounts(referenceCounts(text)); string(got) != want {
				t.Fatalf("output differs from the reference:\n%s", diffLines(want, string(got)))
			}
		})
	}
}

// finishedIn reports whether `gale list` output shows the topology finished.
func finishedIn(list, name string) bool {
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return strings.Contains(line, "finished")
		}
	}
	return false
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gale dev with the ingest's or the dashboard's port taken says so at
// once, naming the flag, instead of waiting for a task that cannot bind.
func TestDevPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, flag := range []string{"--ingest-addr", "--dashboard-addr"} {
		args := map[string]string{"--grpc-addr": freePort(t), "--ingest-addr": freePort(t), "--dashboard-addr": freePort(t)}
		args[flag] = taken.Addr().String()
		_, stderr, code := gale(t, "dev", "--grpc-addr", args["--grpc-addr"], "--ingest-addr", args["--ingest-addr"],
			"--dashboard-addr", args["--dashboard-addr"])
		want := flag + " " + taken.Addr().String() + ": bind: address already in use"
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s taken: exit %d, stderr %q; want exit 1 and %q", flag, code, stderr, want)
		}
		assertNoTrace(t, stderr)
	}
	same := freePort(t)
	_, stderr, code := gale(t, "dev", "--grpc-addr", freePort(t), "--ingest-addr", same, "--dashboard-addr", same)
	if code != 2 || !strings.Contains(stderr, "--ingest-addr and --dashboard-addr are both "+same) {
		t.Errorf("one port for both: exit %d, stderr %q", code, stderr)
	}
}

// A --conf value the topology's bolts refuse fails gale dev at once with
// the bolt's own message (it waited 30 s for an ingest that would not
// come up, the reason buried in its log).
func TestDevSaysWhyItsTopologyFailed(t *testing.T) {
	_, stderr, code := gale(t, "dev", "--visitors", "0", "--conf", "webanalytics.active_ms=0",
		"--grpc-addr", freePort(t), "--ingest-addr", freePort(t), "--dashboard-addr", freePort(t))
	// Either of the two pages tasks may fail first.
	want := regexp.MustCompile(`gale dev: the web-analytics topology failed to start: component pages task [23]: prepare: config webanalytics.active_ms: must be at least 1, got 0`)
	if code != 1 || !want.MatchString(stderr) {
		t.Errorf("exit %d, stderr %q; want exit 1 and %s", code, stderr, want)
	}
	assertNoTrace(t, stderr)
}

// gale dev runs the whole application: the dashboard shows generated
// traffic, sessions and conversion within seconds, and Ctrl-C stops it
// cleanly.
func TestDevRunsWebAnalytics(t *testing.T) {
	grpcAddr, ingestAddr, dashAddr := freePort(t), freePort(t), freePort(t)
	runDevUntilTraffic(t, http.DefaultClient, "http://"+dashAddr, []string{"--grpc-addr", grpcAddr, "--ingest-addr", ingestAddr,
		"--dashboard-addr", dashAddr, "--visitors", "30", "--rate", "300"}, nil)
}

// With --https-cert and --https-key, gale dev serves the ingest (the
// tracker, the demo page, the events) and the dashboard over HTTPS, and its
// generator trusts that certificate; `gale demo traffic --trust` sends to
// it, and without --trust is refused by the certificate check.
func TestDevServesHTTPS(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	files := ca.Issue(t, "dev")
	grpcAddr, ingestAddr, dashAddr := freePort(t), freePort(t), freePort(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, ca.File)}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// With a dashboard password too: the check reads the dashboard with it.
	pwFile := filepath.Join(t.TempDir(), "dashboard.pw")
	if err := os.WriteFile(pwFile, []byte("the dashboard's password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPassword := "https://" + url.UserPassword("anyone", "the dashboard's password").String() + "@" + dashAddr
	runDevUntilTraffic(t, client, withPassword, []string{"--grpc-addr", grpcAddr, "--ingest-addr", ingestAddr,
		"--dashboard-addr", dashAddr, "--visitors", "30", "--rate", "300", "--https-cert", files.Cert, "--https-key", files.Key,
		"--dashboard-password-file", pwFile}, func() {
		resp, err := client.Get("https://" + dashAddr + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the dashboard without its password: %s", resp.Status)
		}
		resp, err = client.Get("https://" + ingestAddr + "/tracker.js")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET the tracker over HTTPS: %s", resp.Status)
		}
		target := "https://" + ingestAddr + "/events"
		// Visitors arrive over the first second: 1.5 s leaves time for
		// events (with 500 ms, all 5 arrived after the end in 3% of runs).
		stdout, stderr, code := gale(t, "demo", "traffic", "--visitors", "5", "--rate", "200", "--duration", "1500ms",
			"--target", target, "--trust", ca.File)
		if code != 0 || !strings.Contains(stdout, ", 0 refused)") || strings.Contains(stdout, "(0 accepted") {
			t.Fatalf("demo traffic --trust: exit %d\n%s%s", code, stdout, stderr)
		}
		stdout, stderr, code = gale(t, "demo", "traffic", "--visitors", "5", "--rate", "200", "--duration", "1500ms", "--target", target)
		if code == 0 || !strings.Contains(stdout+stderr, "certificate signed by unknown authority") || !strings.Contains(stderr, "with --trust FILE") {
			t.Fatalf("demo traffic without --trust: exit %d\n%s%s", code, stdout, stderr)
		}
		assertNoTrace(t, stderr)
		// A certificate error is not retried: sending again cannot mend it.
		if !strings.Contains(stdout, "retries: 0") {
			t.Errorf("certificate errors were retried:\n%s", stdout)
		}
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--https-cert", files.Cert}, "--https-cert is set and --https-key is empty"},
		{[]string{"--https-cert", files.Key, "--https-key", files.Key}, "--https-cert=" + files.Key},
		{[]string{"--https-cert", files.Cert, "--https-key", files.Key, "--ingest-addr", "127.0.0.2:0"}, "--https-cert " + files.Cert + " is for localhost, 127.0.0.1, not 127.0.0.2 (--ingest-addr 127.0.0.2:0)"},
	} {
		args := append([]string{"dev", "--grpc-addr", freePort(t), "--dashboard-addr", freePort(t)}, tc.args...)
		if !slices.Contains(tc.args, "--ingest-addr") {
			args = append(args, "--ingest-addr", freePort(t))
		}
		_, stderr, code := gale(t, args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("gale %v: exit %d, stderr %q; want exit 2 and %q", args, code, stderr, tc.want)
		}
		assertNoTrace(t, stderr)
	}
}

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

// runDevUntilTraffic starts gale dev with args, waits until its
// dashboard at dashURL, read with client, shows the generated traffic,
// runs then (if any), and stops gale dev with SIGINT.
func runDevUntilTraffic(t *testing.T, client *http.Client, dashURL string, args []string, then func()) {
	t.Helper()
	cmd := exec.Command(galeBin, append([]string{"dev"}, args...)...)
	cmd.Dir = repoRoot(t)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gale dev exited with %v:\n%s", err, out.String())
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("gale dev did not stop on SIGINT:\n%s", out.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(dashURL + "/api/state")
		if err == nil {
			var st struct {
				Pages map[string]struct {
					Events int64 `json:"events"`
					Active int64 `json:"active"`
				} `json:"pages"`
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.Pages["/"].Events > 100 && st.Pages["/"].Active > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard shows no traffic after 60s:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	printed := dashURL + "/"
	if u, err := url.Parse(dashURL); err == nil && u.User != nil {
		u.User = nil // a password for the check, not in what is printed
		printed = u.String() + "/"
	}
	if !strings.Contains(out.String(), printed) {
		t.Fatalf("gale dev did not print the dashboard URL %s:\n%s", printed, out.String())
	}
	if then != nil {
		then()
	}
}

// Storm components written with Storm's own storm.py and storm.js run
// unchanged: spouts that replay what fails (their commands one at a time;
// storm.js's default activate, which never answers, is not sent at
// start), a BasicBolt that fails some inputs by raising and emits on tick
// tuples (anchored to the tick and acking it, as BasicBolt does for every
// input). Every id reaches the sink, tick emits too, and no task error
// says an anchor or ack was refused.
func TestStormMultilangSpoutBoltAndTicks(t *testing.T) {
	requireDeps(t, []string{"examples/wordcount/multilang/storm.py", "examples/wordcount/multilang/storm.js"}, "python3", "node")
	dir := t.TempDir()
	const count = 300 // ids 0..count-1 from the Python spout, 1000.. from the JavaScript one
	sink := filepath.Join(dir, "sink")
	files := map[string]string{
		"spout.js": `'use strict';
const storm = require('./storm');

class Seq extends storm.Spout {
  constructor() { super(); this.next = 1000; this.replay = []; }
  nextTuple(done) {
    let i;
    if (this.replay.length) i = this.replay.shift();
    else if (this.next < 1000 + ` + fmt.Sprint(count) + `) i = this.next++;
    else return done();
    this.emit({tuple: [i], id: i}, () => {});
    done();
  }
  ack(id, done) { done(); }
  fail(id, done) { this.replay.push(id); done(); }
}

new Seq().run();
`,
		"spout.py": `import storm

class Seq(storm.Spout):
    def initialize(self, conf, context):
        self.next, self.replay = 0, []

    def nextTuple(self):
        if self.replay:
            i = self.replay.pop(0)
        elif self.next < ` + fmt.Sprint(count) + `:
            i, self.next = self.next, self.next + 1
        else:
            return
        storm.emit([i], id=i)

    def fail(self, id):
        self.replay.append(id)

Seq().run()
`,
		"flaky.py": `import storm

class Flaky(storm.BasicBolt):
    def initialize(self, conf, context):
        self.seen = set()

    def process(self, tup):
        if tup.stream == "__tick":
            storm.emit([-1])  # anchored to the tick by BasicBolt, which then acks it
            return
        i = tup.values[0]
        if i % 10 == 0 and i not in self.seen:
            self.seen.add(i)
            raise ValueError("first delivery of %d" % i)  # BasicBolt fails the input
        storm.emit([i])

Flaky().run()
`,
		"topology.yaml": `name: storm-multilang
config:
  topology.acker.executors: 1
  topology.message.timeout.secs: 5
  filesink.dir: ` + sink + `
spouts:
  - id: seq
    run: [python3, spout.py]
    protocol: storm-multilang
    outputs: {default: [id]}
  - id: jsseq
    run: [node, spout.js]
    protocol: storm-multilang
    outputs: {default: [id]}
bolts:
  - id: flaky
    run: [python3, flaky.py]
    protocol: storm-multilang
    outputs: {default: [id]}
    config: {topology.tick.tuple.freq.secs: 1}
    inputs: [{from: seq, grouping: shuffle}, {from: jsseq, grouping: shuffle}]
  - id: sink
    class: failover.FileSink
    inputs: [{from: flaky, grouping: shuffle}]
`,
	}
	for _, lib := range []string{"storm.py", "storm.js"} {
		text, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/wordcount/multilang", lib))
		if err != nil {
			t.Fatal(err)
		}
		files[lib] = string(text)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	cmd := exec.Command(galeBin, "local", filepath.Join(dir, "topology.yaml"), "--log-level", "info")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := sync.OnceFunc(func() {
		cmd.Process.Signal(os.Interrupt)
		<-exited
	})
	defer stop()
	var missing error
	t.Cleanup(func() {
		if t.Failed() && missing != nil {
			t.Logf("%v; gale local's log:\n%s", missing, stderr.String())
		}
	})
	waitUntil(t, 60*time.Second, "every id and a tick's emit in the sink", func() bool {
		missing = nil
		seen := map[int]bool{}
		entries, _ := os.ReadDir(sink)
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join(sink, e.Name()))
			for _, line := range strings.Fields(string(data)) {
				n, _ := strconv.Atoi(line)
				seen[n] = true
			}
		}
		for i := -1; i < count; i++ {
			if !seen[i] || i >= 0 && !seen[1000+i] {
				missing = fmt.Errorf("id %d or %d not in the sink yet (%d seen)", i, 1000+i, len(seen))
				return false
			}
		}
		return true
	})
	stop()
	out := stderr.String()
	for _, bad := range []string{"does not hold", "emit dropped", "OVERLAPPING"} {
		if strings.Contains(out, bad) {
			t.Errorf("the run reported %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "first delivery of 10") {
		t.Errorf("the bolt's raised errors are not reported:\n%s", out)
	}
}
