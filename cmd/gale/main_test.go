package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gale-stream/gale/node/bench"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// The CLI tests run the real binary as a subprocess, as a user would.

var galeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gale-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	galeBin = filepath.Join(dir, "gale")
	if out, err := exec.Command("go", "build", "-o", galeBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gale: %v\n%s", err, out)
		os.Exit(1)
	}
	// External components run with `python3`: use the Python SDK's
	// environment from `make deps` when there is one, as `make test` does.
	if venv, err := filepath.Abs("../../sdk/python/.venv/bin"); err == nil {
		if _, err := os.Stat(venv); err == nil {
			os.Setenv("PATH", venv+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// gale runs the binary from the repository root and returns stdout,
// stderr and the exit code.
func gale(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(galeBin, args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running gale: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

// referenceCounts is the word count contract written the plainest way.
func referenceCounts(text string) map[string]int {
	counts := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			counts[w]++
		}
	}
	return counts
}

func formatCounts(counts map[string]int) string {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Strings(words)
	var b strings.Builder
	for _, w := range words {
		fmt.Fprintf(&b, "%s\t%d\n", w, counts[w])
	}
	return b.String()
}

func randomText(lines int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	vocab := []string{"Storm", "gale", "wind", "tuple", "BOLT", "spout", "naïve", "Ça", "straße", "42", "x7", "日本", "the", "a", "of", "Stream"}
	seps := []string{" ", ", ", ". ", "! ", " -- ", "\t", "'", "(", ")"}
	var b strings.Builder
	for i := 0; i < lines; i++ {
		n := r.IntN(12)
		for j := 0; j < n; j++ {
			b.WriteString(vocab[r.IntN(len(vocab))])
			b.WriteString(seps[r.IntN(len(seps))])
		}
		if r.IntN(50) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestLocalWordCountIsExact(t *testing.T) {
	cases := []struct {
		name  string
		lines int
		conf  []string
	}{
		{"small", 2000, nil},
		{"acking-off", 20000, []string{"--conf", "topology.acker.executors=0"}},
		{"tiny-batches", 5000, []string{"--conf", "topology.batch.size=3", "--conf", "topology.queue.size=2"}},
	}
	if !testing.Short() {
		cases = append(cases, struct {
			name  string
			lines int
			conf  []string
		}{"million-lines", 1_000_000, nil})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
			text := randomText(tc.lines, uint64(i))
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"local", "examples/wordcount/topology.yaml", "--conf", "wordcount.input=" + in, "--conf", "wordcount.output=" + out}, tc.conf...)
			_, stderr, code := gale(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := formatCounts(referenceCounts(text)); string(got) != want {
				t.Fatalf("output differs from the reference (%d vs %d bytes); first lines:\n%s", len(got), len(want), head(string(got), 5))
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Fatalf("leftover files next to the output: %v", entries)
			}
		})
	}
}

func head(s string, n int) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, sc.Text())
	}
	return strings.Join(out, "\n")
}

func TestLocalWordCountDefaultSample(t *testing.T) {
	_, stderr, code := gale(t, "local", "examples/wordcount/topology.yaml")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "count") || !strings.Contains(stderr, "finished") {
		t.Fatalf("no summary in stderr:\n%s", stderr)
	}
}

func TestBadInputGivesClearErrors(t *testing.T) {
	dir := t.TempDir()
	cycle := filepath.Join(dir, "cycle.yaml")
	os.WriteFile(cycle, []byte(`name: bad
spouts:
  - id: s
    class: wordcount.SentenceSpout
bolts:
  - id: a
    class: wordcount.SplitSentence
    inputs: [{from: s, grouping: shuffle}, {from: b, grouping: shuffle}]
  - id: b
    class: wordcount.SplitSentence
    inputs: [{from: a, grouping: shuffle}]
`), 0o644)
	field := filepath.Join(dir, "field.yaml")
	os.WriteFile(field, []byte(`name: bad
spouts:
  - id: s
    class: wordcount.SentenceSpout
bolts:
  - id: count
    class: wordcount.WordCount
    inputs:
      - {from: s, grouping: fields, fields: [word]}
`), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no-args", []string{}, 2, []string{"usage"}},
		{"unknown-command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"missing-file", []string{"local", filepath.Join(dir, "nope.yaml")}, 2, []string{"nope.yaml"}},
		{"cycle", []string{"local", cycle}, 2, []string{"cycle.yaml:", "cycle"}},
		{"missing-field", []string{"local", field}, 2, []string{"field.yaml:9:", "word"}},
		{"bad-conf", []string{"local", "examples/wordcount/topology.yaml", "--conf", "novalue"}, 2, []string{"--conf novalue"}},
		{"bad-setting", []string{"local", "examples/wordcount/topology.yaml", "--conf", "topology.batch.size=zero"}, 2, []string{"--conf: config topology.batch.size: want an integer"}},
		{"misspelled-setting", []string{"local", "examples/wordcount/topology.yaml", "--conf", "topology.max.spout.pendng=10"}, 2, []string{"unknown setting 'topology.max.spout.pendng' (did you mean 'topology.max.spout.pending'?)"}},
		{"bench-negative-node-procs", []string{"bench", "--cluster", "--node-procs", "-1"}, 2, []string{"--node-procs -1: want 0 (automatic) or more"}},
		{"bench-parallelism-range", []string{"bench", "--cluster", "--parallelism", "-2"}, 2, []string{"--parallelism -2: want 1 to 1000 tasks"}},
		{"bench-unknown-load", []string{"bench", "--loads", "max,quarter"}, 2, []string{`--loads max,quarter: load "quarter": want max, half, tenth or a rate in tuples/s above 0`}},
		{"bench-share-before-max", []string{"bench", "--cluster", "--loads", "half,max"}, 2, []string{`--loads half,max: load "half" needs max before it`}},
		{"bench-negative-rate", []string{"bench", "--loads", "-5"}, 2, []string{`load "-5": want max, half, tenth or a rate`}},
		{"bench-unknown-scenario", []string{"bench", "--cluster", "--scenarios", "wordcount,foo"}, 2, []string{`--scenarios wordcount,foo: unknown scenario "foo"`}},
		{"bench-empty-scenario", []string{"bench", "--scenarios", "wordcount,"}, 2, []string{`unknown scenario ""`}},
		{"bench-external-cluster", []string{"bench", "--external", "go", "--cluster"}, 2, []string{"--external runs in one process: leave out --cluster"}},
		{"bench-no-ackers", []string{"bench", "--conf", "topology.acker.executors=0"}, 2, []string{"the benchmark measures acking on and off itself"}},
		{"bench-parallelism-in-process", []string{"bench", "--parallelism", "3"}, 2, []string{"--parallelism is for the word count and pass-through benchmarks with --cluster"}},
		{"demo-trust-plain-target", []string{"demo", "traffic", "--target", "http://127.0.0.1:1/events", "--trust", "/nonexistent.pem"}, 2, []string{"--trust /nonexistent.pem: the target http://127.0.0.1:1/events is not https://"}},
		{"demo-trust-missing", []string{"demo", "traffic", "--target", "https://127.0.0.1:1/events", "--trust", "/nonexistent.pem"}, 2, []string{"--trust /nonexistent.pem: open /nonexistent.pem: no such file"}},
		{"bench-tls-in-process", []string{"bench", "--tls"}, 2, []string{"--tls is for the word count and pass-through benchmarks with --cluster"}},
		{"bench-misspelled-setting", []string{"bench", "--conf", "topology.batch.linger.ms=1"}, 2, []string{"--conf topology.batch.linger.ms=1: unknown setting", "did you mean 'topology.batch.linger'?"}},
		{"submit-misspelled-setting", []string{"submit", "examples/wordcount/topology.yaml", "--conf", "topology.acker.executor=2", "--addr", "127.0.0.1:1"}, 2, []string{"did you mean 'topology.acker.executors'?"}},
		{"missing-input", []string{"local", "examples/wordcount/topology.yaml", "--conf", "wordcount.input=" + filepath.Join(dir, "absent.txt")}, 1, []string{"absent.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := gale(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Fatalf("stack trace or panic reached the user:\n%s", stderr)
			}
		})
	}
}

// startNode runs a one-node cluster (embedded etcd) and returns its gRPC
// address.
func startNode(t *testing.T) string {
	t.Helper()
	return startNodeProc(t, "n1", "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0").grpc
}

// nodeProc is a `gale node` process run by a test.
type nodeProc struct {
	name, grpc, gossip string
	cmd                *exec.Cmd
	stderr             *syncBuffer
	done               chan error
	exited             bool // set by kill9, on the test goroutine
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNodeProc starts `gale node` on free ports with extra flags, waits
// until it serves, and stops it (SIGINT) when the test ends unless the test
// killed it.
func startNodeProc(t *testing.T, name string, extra ...string) *nodeProc {
	t.Helper()
	args := append([]string{"node", "--name", name, "--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log-level", "warn", "--drain-timeout", "2s"}, extra...)
	cmd := exec.Command(galeBin, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeProc{name: name, cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// gale node NAME serving on ADDR (gossip GOSSIP, ...)
			if f := strings.Fields(sc.Text()); len(f) > 7 && f[3] == "serving" {
				ready <- [2]string{f[5], strings.TrimSuffix(f[7], ",")}
			}
		}
		n.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if n.exited {
			return
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("gale node %s exited with %v; stderr:\n%s", name, err, n.stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("gale node %s did not stop on SIGINT; stderr:\n%s", name, n.stderr.String())
		}
	})
	select {
	case a := <-ready:
		n.grpc, n.gossip = a[0], a[1]
		return n
	case <-time.After(30 * time.Second):
		t.Fatalf("gale node %s did not start; stderr:\n%s", name, n.stderr.String())
	}
	return nil
}

// kill9 kills the node with SIGKILL and waits for it to be gone.
func (n *nodeProc) kill9(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
		n.exited = true
	case <-time.After(10 * time.Second):
		t.Fatalf("node %s survived SIGKILL", n.name)
	}
}

func TestClusterCommandsAgainstARealNode(t *testing.T) {
	addr := startNode(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
	text := randomText(3000, 99)
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := gale(t, append(args, "--addr", addr)...)
		if code != 0 {
			t.Fatalf("gale %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return stdout
	}
	if s := run("nodes"); !strings.Contains(s, "n1") || !strings.Contains(s, "*") {
		t.Fatalf("nodes:\n%s", s)
	}
	if s := run("submit", "examples/wordcount/topology.yaml", "--conf", "wordcount.input="+in, "--conf", "wordcount.output="+out); !strings.Contains(s, "submitted wordcount") {
		t.Fatalf("submit:\n%s", s)
	}
	_, stderr, code := gale(t, "submit", "examples/wordcount/topology.yaml", "--addr", addr)
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate submit: exit %d\n%s", code, stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s := run("list"); strings.Contains(s, "finished") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("word count did not finish:\n%s", run("status", "wordcount"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := formatCounts(referenceCounts(text)); string(got) != want {
		t.Fatalf("cluster word count differs from the reference")
	}
	if s := run("status", "wordcount"); !strings.Contains(s, "split") || !strings.Contains(s, "n1") {
		t.Fatalf("status:\n%s", s)
	}
	// --json gives the API's responses for scripts.
	var st galev1.GetTopologyStatusResponse
	if err := protojson.Unmarshal([]byte(run("status", "wordcount", "--json")), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	if st.GetSummary().GetName() != "wordcount" || st.GetSummary().GetState() != galev1.TopologyState_TOPOLOGY_STATE_FINISHED ||
		len(st.GetComponents()) == 0 || len(st.GetRuns()) != 1 || st.GetRuns()[0].GetNode() != "n1" {
		t.Fatalf("status --json: %v", &st)
	}
	var l galev1.ListTopologiesResponse
	if err := protojson.Unmarshal([]byte(run("list", "--json")), &l); err != nil || len(l.GetTopologies()) != 1 {
		t.Fatalf("list --json: %v, %v", err, &l)
	}
	var ns galev1.ListNodesResponse
	if err := protojson.Unmarshal([]byte(run("nodes", "--json")), &ns); err != nil || len(ns.GetNodes()) != 1 || !ns.GetNodes()[0].GetLeader() {
		t.Fatalf("nodes --json: %v, %v", err, &ns)
	}
	_, stderr, code = gale(t, "status", "nope", "--addr", addr)
	if code != 1 || !strings.Contains(stderr, "topology nope not found") {
		t.Fatalf("status of unknown: exit %d\n%s", code, stderr)
	}
	if s := run("rebalance", "wordcount", "--parallelism", "count=3"); !strings.Contains(s, "rebalanced wordcount") {
		t.Fatalf("rebalance:\n%s", s)
	}
	_, stderr, code = gale(t, "rebalance", "wordcount", "--parallelism", "nope=3", "--addr", addr)
	if code != 2 || !strings.Contains(stderr, `no component "nope"`) {
		t.Fatalf("rebalance of an unknown component: exit %d\n%s", code, stderr)
	}
	run("kill", "wordcount")
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(run("list"), "no topologies") {
		if time.Now().After(deadline) {
			t.Fatalf("killed topology still listed:\n%s", run("list"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNodeServesTheProfilerOnDebugAddr(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // a free port for the node to take
	startNodeProc(t, "profiled", "--debug-addr", addr, "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0")
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("GET /debug/pprof/goroutine: %s\n%.300s", resp.Status, body)
	}
}

// TestClusterBenchSmoke runs the cluster benchmark briefly (three node
// processes, one scenario) so its harness cannot rot; it checks that the
// table has every row and the raw stream's latency columns, not speed.
func TestClusterBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three node processes")
	}
	// Two tasks of every component: the shape flag, and tuples that cross
	// nodes both ways.
	// The default loads and a fixed rate (what compares two builds at
	// the same offered load).
	stdout, stderr, code := gale(t, "bench", "--cluster", "--parallelism", "2", "--window", "300ms", "--warmup", "100ms", "--scenarios", "passthrough", "--loads", "max,half,20000")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "base p99") || !strings.Contains(stdout, "at rate") || !strings.Contains(stdout, "waiting") {
		t.Errorf("table lacks the latency baseline's or the waiting threads' columns:\n%s", stdout)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "cluster" {
			rows[strings.Join(f[1:4], " ")] = true
			// The nodes' CPU cores, their CPU time per tuple and their
			// waiting threads end every row.
			if runtime.GOOS == "linux" {
				for _, v := range f[len(f)-3:] {
					if x, err := strconv.ParseFloat(v, 64); err != nil || x < 0 {
						t.Errorf("row %q: want the nodes' CPU, CPU per tuple and waiting threads as numbers, got %q", line, v)
					}
				}
			}
		}
	}
	for _, want := range []string{"passthrough on max", "passthrough on half", "passthrough on 20000", "passthrough off max"} {
		if !rows[want] {
			t.Errorf("table lacks the row %q:\n%s", want, stdout)
		}
	}
	if want := fmt.Sprintf("3 node processes, GOMAXPROCS %d each (--node-procs); tasks: spout 2, word count bolts 2 each, pass-through bolts 2 each", bench.NodeProcs(runtime.NumCPU())); !strings.Contains(stderr, want) {
		t.Errorf("progress lacks %q:\n%s", want, stderr)
	}
	if !strings.Contains(stderr, "raw stream at half its maximum: p50") {
		t.Errorf("progress lacks the raw stream's latency:\n%s", stderr)
	}
	if !regexp.MustCompile(`cluster passthrough acking=true 20000: \d+ tuples/s, p99 [^;]+; at this rate: p50`).MatchString(stderr) {
		t.Errorf("progress lacks the fixed-rate run with the raw stream at its rate:\n%s", stderr)
	}
	if strings.Contains(stderr, "acking=false 20000") || strings.Contains(stderr, "acking=false half") {
		t.Errorf("runs without acking measure the maximum only:\n%s", stderr)
	}
}

// TestClusterBenchOverTLS runs the cluster benchmark briefly with --tls:
// the nodes start with mutual TLS and a gossip key, the benchmark reaches
// them with its certificate, and the raw stream runs over TLS too.
func TestClusterBenchOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three node processes")
	}
	stdout, stderr, code := gale(t, "bench", "--cluster", "--tls", "--window", "300ms", "--warmup", "100ms", "--scenarios", "passthrough", "--loads", "max")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`(?m)^\s+tls cluster passthrough\s+on\s+max\s+\d+\s+\d+\s+0\.\d\d`).MatchString(stdout) {
		t.Errorf("table lacks the TLS row with its baseline and ratio:\n%s", stdout)
	}
	if !strings.Contains(stderr, "raw gRPC stream over mutual TLS:") {
		t.Errorf("progress does not say the raw stream ran over TLS:\n%s", stderr)
	}
}

// cliAt runs gale with args against the node at addr; a nonzero exit is an
// error carrying the exit code and stderr.
func cliAt(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, code := gale(t, append(args, "--addr", addr)...)
	if code != 0 {
		return stdout, fmt.Errorf("gale %v: exit %d: %s", args, code, stderr)
	}
	return stdout, nil
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// TestFlagErrorsAreSaidOnce: a bad flag's error ends the output, after
// the usage, and is not also printed before it.
func TestFlagErrorsAreSaidOnce(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "client", "me", "--host", "x"}, "flag provided but not defined: -host"},
		{[]string{"nodes", "--timeout", "abc"}, `invalid value "abc" for flag -timeout`},
		{[]string{"local", "--conf"}, "flag needs an argument: -conf"},
	} {
		_, stderr, code := gale(t, tc.args...)
		if code != exitUsage || strings.Count(stderr, tc.want) != 1 {
			t.Errorf("gale %v: exit %d, %q %d times in:\n%s", tc.args, code, tc.want, strings.Count(stderr, tc.want), stderr)
		}
		if lines := strings.Split(strings.TrimSpace(stderr), "\n"); !strings.Contains(lines[len(lines)-1], tc.want) || !strings.HasPrefix(stderr, "usage: gale ") {
			t.Errorf("gale %v: want the usage first and the error last:\n%s", tc.args, stderr)
		}
	}
}

// A flag before the command is named as such, not an unknown command
// followed by the whole usage.
func TestAFlagBeforeTheCommand(t *testing.T) {
	_, stderr, code := gale(t, "--addr", "127.0.0.1:1", "nodes")
	if code != exitUsage || strings.TrimSpace(stderr) != "gale: --addr: flags go after the command: gale nodes --addr 127.0.0.1:1" {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
}
