package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestStatusShowsAFailingRun: a node whose run keeps failing is named in
// the summary line and in the RUN table with its error and the time left
// before its next start; a task's repeated error is one line with its
// count.
func TestStatusShowsAFailingRun(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.Local)
	ms := func(d time.Duration) int64 { return at.Add(d).UnixMilli() }
	resp := &galev1.GetTopologyStatusResponse{
		Summary: &galev1.TopologySummary{Name: "broken", Id: "broken-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, Tasks: 3, Nodes: 2},
		Components: []*galev1.ComponentStatus{
			{Id: "split", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Counters: &galev1.Counters{Errors: 60}, Tasks: []*galev1.TaskStatus{{TaskId: 2, Node: "n2", Counters: &galev1.Counters{Errors: 60}}}, Errors: []*galev1.ComponentError{
				{TaskId: 2, Message: "exit status 2;\nits last output: no such file", UnixMillis: ms(0)},
				{TaskId: 2, Message: "other", UnixMillis: ms(time.Second)},
				{TaskId: 2, Message: "exit status 2; its last output: no such file", UnixMillis: ms(2 * time.Second)},
				{TaskId: 2, Message: "exit status 2; its last output: no such file", UnixMillis: ms(3 * time.Second)},
			}},
			{Id: "count", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Tasks: []*galev1.TaskStatus{{TaskId: 3, Node: "n1"}, {TaskId: 4, Node: "n3"}}, Errors: []*galev1.ComponentError{
				{TaskId: 3, Message: "execute failed on input 17: bad word", UnixMillis: ms(1500 * time.Millisecond)},
				{TaskId: 3, Message: "execute failed on input 4711: bad word", UnixMillis: ms(2500 * time.Millisecond)},
			}},
		},
		Runs: []*galev1.NodeRun{
			{Node: "n1", State: galev1.NodeRunState_NODE_RUN_STATE_RUNNING, UpMillis: 90_500},
			{Node: "n2", State: galev1.NodeRunState_NODE_RUN_STATE_RESTARTING, Restarts: 3, Error: "component split task 2: exited 5 times in a row",
				ErrorUnixMillis: ms(3 * time.Second), RestartInMillis: 7420},
			// A registered node that did not answer the node asked.
			{Node: "n4", Error: "did not answer the status request: no answer within 2s", ErrorUnixMillis: ms(4 * time.Second)},
		},
	}
	var out bytes.Buffer
	printStatus(&out, "broken", resp)
	got := out.String()
	for _, want := range []string{
		"active, 3 tasks on 2 nodes, up 0s; FAILING on 1 node: n2 (see RUN below)",
		"NODE  RUN                 UP     RESTARTS  LAST FAILURE",
		"n1    running             1m30s  0         -",
		"n2    restarting in 7.4s  -      3         2026-11-29 12:00:03 component split task 2: exited 5 times in a row",
		// A node with tasks that did not answer has a row too.
		"n3    no run reported     -      0         -",
		// One that did not answer says so, and why, not "no run".
		"n4    no answer           -      0         2026-11-29 12:00:04 did not answer the status request: no answer within 2s",
		// Oldest first across components; a task's errors that differ
		// only in numbers fold into the latest.
		"recent errors, oldest first (60 reported in all; each task's last 20 are kept):\n" +
			"  2026-11-29 12:00:01 split task 2: other\n" +
			"  2026-11-29 12:00:02 count task 3: execute failed on input 4711: bad word (2 like it since 12:00:01)\n" +
			// Task 2 reported more than it kept: its counts are of
			// the kept ones, said on its newest line.
			"  2026-11-29 12:00:03 split task 2: exit status 2; its last output: no such file (3 like it since 12:00:00, 60 from this task in all, its last 20 kept)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}

	// Many errors: the newest lines only, said so.
	var many []*galev1.ComponentError
	for i := range 50 {
		many = append(many, &galev1.ComponentError{TaskId: 2, Message: fmt.Sprintf("error %c", 'A'+i), UnixMillis: ms(time.Duration(i) * time.Second)})
	}
	var flood bytes.Buffer
	printErrors(&flood, []*galev1.ComponentStatus{{Id: "split", Errors: many}})
	if lines := strings.Count(flood.String(), "\n"); lines != maxErrorLines+2 || !strings.Contains(flood.String(), "the newest 30 lines of 50") ||
		!strings.HasSuffix(flood.String(), fmt.Sprintf("error %c\n", 'A'+49)) {
		t.Errorf("50 errors printed as:\n%s", flood.String())
	}

	// A node holding its tasks (fence.go) says so, and why.
	heldResp := &galev1.GetTopologyStatusResponse{
		Summary: &galev1.TopologySummary{Name: "cut", Id: "cut-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, Tasks: 2, Nodes: 2},
		Components: []*galev1.ComponentStatus{{Id: "seq", Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT,
			Tasks: []*galev1.TaskStatus{{TaskId: 1, Node: "n1"}, {TaskId: 2, Node: "n2"}}}},
		Runs: []*galev1.NodeRun{
			{Node: "n1", State: galev1.NodeRunState_NODE_RUN_STATE_RUNNING, UpMillis: 5000},
			{Node: "n2", State: galev1.NodeRunState_NODE_RUN_STATE_RUNNING, UpMillis: 5000, Held: "the node stalled; its tasks wait"},
		},
	}
	out.Reset()
	printStatus(&out, "cut", heldResp)
	for _, want := range []string{
		"up 0s; HELD on 1 node: n2 (see RUN below)",
		"n1    running  5s  0         -",
		"n2    held     5s  0         -",
		"n2 holds its tasks: the node stalled; its tasks wait",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	// All running: no FAILING in the summary.
	resp.Runs = resp.Runs[:1]
	out.Reset()
	printStatus(&out, "broken", resp)
	if strings.Contains(out.String(), "FAILING") {
		t.Errorf("a running topology is said to be failing:\n%s", out.String())
	}
}

// TestLocalSaysHowTheRunEnded: gale local's summary says "failed after"
// for a run that failed and "stopped after" for one stopped by Ctrl-C, not
// "finished", and folds a task's repeated error into one line.
func TestLocalSaysHowTheRunEnded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gale local")
	}
	dir := t.TempDir()
	failing := filepath.Join(dir, "nocmd.yaml")
	if err := os.WriteFile(failing, []byte(`name: nocmd
spouts:
  - {id: sentences, class: wordcount.SentenceSpout, parallelism: 1}
bolts:
  - id: split
    run: [gale-test-no-such-command]
    parallelism: 1
    outputs: {default: [word]}
    inputs: [{from: sentences, grouping: shuffle}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := gale(t, "local", failing)
	for _, want := range []string{"failed after", "5 task errors, the last ones:\n  split task 2: starting gale-test-no-such-command: ", "(5 like it since "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("a failed run's summary lacks %q:\n%s", want, stderr)
		}
	}
	if code != 1 || strings.Contains(stderr, "finished in") {
		t.Errorf("a failed run: exit %d, summary:\n%s", code, stderr)
	}

	sinks := t.TempDir()
	cmd := exec.Command(galeBin, "local", "examples/failover/topology.yaml", "--conf", "seq.count=100000000",
		"--conf", "seq.rate=1000", "--conf", "filesink.dir="+sinks)
	cmd.Dir = repoRoot(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "ids at the sinks", func() bool {
		files, _ := filepath.Glob(filepath.Join(sinks, "*.txt"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
				return true
			}
		}
		return false
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(out.String(), "stopped after") {
		t.Errorf("a run stopped by SIGINT: %v, output:\n%s", err, out.String())
	}
}

// TestAMistypedConfKeyIsWarnedOf: --conf wordcount.outpt is read by no
// component, and wordcount.output is: gale local and gale submit say so
// (and still run it, as a component in another language may read it).
func TestAMistypedConfKeyIsWarnedOf(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gale local")
	}
	out := filepath.Join(t.TempDir(), "counts.tsv")
	_, stderr, code := gale(t, "local", "--quiet", "examples/wordcount/topology.yaml", "--conf", "wordcount.outpt="+out)
	want := `gale local: warning: examples/wordcount/topology.yaml: config key "wordcount.outpt" is read by no component (did you mean "wordcount.output"?)`
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant the warning %q", code, stderr, want)
	}
	_, stderr, code = gale(t, "submit", "examples/wordcount/topology.yaml", "--conf", "wordcount.outpt="+out, "--addr", "127.0.0.1:1", "--timeout", "100ms")
	if !strings.Contains(stderr, strings.Replace(want, "gale local", "gale submit", 1)) {
		t.Errorf("gale submit (exit %d) did not warn:\n%s", code, stderr)
	}
}
