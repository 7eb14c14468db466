package external

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLineLimiter(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := lineLimiter{tokens: logBurst, last: t0}
	logged := 0
	for range logBurst + 500 {
		if ok, _ := l.allow(t0); ok {
			logged++
		}
	}
	if logged != logBurst || l.dropped != 500 {
		t.Fatalf("a burst of %d lines: logged %d, dropped %d; want %d and 500", logBurst+500, logged, l.dropped, logBurst)
	}
	// A second later logRate lines may go, and the first reports the drop.
	ok, dropped := l.allow(t0.Add(time.Second))
	if !ok || dropped != 500 {
		t.Fatalf("after a second: ok %v, dropped %d; want true and 500", ok, dropped)
	}
	for range logRate - 1 {
		if ok, _ := l.allow(t0.Add(time.Second)); !ok {
			t.Fatal("the second's allowance ran out early")
		}
	}
	if ok, _ := l.allow(t0.Add(time.Second)); ok {
		t.Fatal("more than the rate went through")
	}
	// Under a steady flood, drops are reported once a second, not with
	// every line let through.
	reports := 0
	for ms := 1; ms <= 3000; ms++ {
		now := t0.Add(time.Second + time.Duration(ms)*time.Millisecond)
		for range 10 {
			if _, d := l.allow(now); d > 0 {
				reports++
			}
		}
	}
	if reports != 3 {
		t.Fatalf("%d drop reports in 3 s of flood, want 3", reports)
	}
}

// recordHandler keeps the messages and attributes logged to it.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// A process printing far more than the limit at once: the node logs the
// burst, then lines counting what it dropped; the tail for error reports
// still has the last lines.
func TestPipeLinesRateLimitsOutput(t *testing.T) {
	const n = logBurst + 3000
	var out strings.Builder
	for i := range n {
		fmt.Fprintf(&out, "traceback line %d\n", i)
	}
	h := &recordHandler{}
	tail := &lastLines{max: 3}
	(&Supervisor{}).pipeLines(strings.NewReader(out.String()), slog.New(h), slog.LevelWarn, tail)
	logged, reports := 0, 0
	dropped := 0
	for _, m := range h.msgs {
		if strings.HasPrefix(m, "external process output was rate-limited") {
			reports++
			var d int
			fmt.Sscanf(m[strings.Index(m, "dropped_lines=")+len("dropped_lines="):], "%d", &d)
			dropped += d
			continue
		}
		logged++
	}
	// The reader is fast but not instant: a few lines more may pass as
	// tokens refill, each resumption reporting what it dropped before.
	if logged >= n || logged < logBurst || reports == 0 || logged+dropped != n {
		t.Fatalf("logged %d lines and %d reports (dropped %d) of %d; want the burst, reports, nothing unaccounted", logged, reports, dropped, n)
	}
	if !strings.Contains(tail.String(), fmt.Sprintf("traceback line %d", n-1)) {
		t.Fatalf("tail %q lacks the last line", tail.String())
	}
}

// What a process's exit says: the status, whether it attached, and its
// last output with the line that names the error even when a runtime
// prints a stack and a footer after it.
func TestDescribeExit(t *testing.T) {
	exit1 := exec.Command("sh", "-c", "exit 1").Run()
	for _, c := range []struct {
		name     string
		err      error
		attached bool
		ended    error // why the node ended a Storm session
		stderr   string
		stdout   string
		want     string
	}{
		{"python traceback", exit1, true, nil,
			"Traceback (most recent call last):\n  File \"bolt.py\", line 3, in <module>\n    import requests\nModuleNotFoundError: No module named 'requests'\n", "",
			"external process exit status 1; its last output: Traceback (most recent call last): |   File \"bolt.py\", line 3, in <module> |     import requests | ModuleNotFoundError: No module named 'requests'"},
		{"node missing module", exit1, false, nil,
			"node:internal/modules/cjs/loader:1228\n  throw err;\n  ^\n\nError: Cannot find module '/tmp/x/counter.js'\n    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)\n    at node:internal/main/run_main_module:28:49 {\n  code: 'MODULE_NOT_FOUND',\n  requireStack: []\n}\n\nNode.js v20.20.2\n", "",
			"external process exit status 1 before it attached; its last output: Error: Cannot find module '/tmp/x/counter.js' | ... |   code: 'MODULE_NOT_FOUND', |   requireStack: [] | } |  | Node.js v20.20.2"},
		{"node esm", exit1, false, nil,
			"node:internal/errors:496\n    ErrorCaptureStackTrace(err);\n    ^\n\nError [ERR_MODULE_NOT_FOUND]: Cannot find package '@gale-stream/gale' imported from /tmp/x/b.mjs\n    at new NodeError (node:internal/errors:405:5)\n    at a\n    at b\n    at c\n  code: 'ERR_MODULE_NOT_FOUND'\n}\n\nNode.js v20.20.2\n", "",
			"external process exit status 1 before it attached; its last output: Error [ERR_MODULE_NOT_FOUND]: Cannot find package '@gale-stream/gale' imported from /tmp/x/b.mjs | ... |     at c |   code: 'ERR_MODULE_NOT_FOUND' | } |  | Node.js v20.20.2"},
		{"go panic", exit1, true, nil,
			"panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/tmp/x/main.go:5 +0x25\nexit status 2\n", "",
			"external process exit status 1; its last output: panic: boom | ... |  | goroutine 1 [running]: | main.main() | \t/tmp/x/main.go:5 +0x25 | exit status 2"},
		{"exit 0 without attaching, said why on stdout", nil, false, nil, "", "config missing, bye\n",
			"external process exited with status 0 without attaching to the node: a component's program must call its SDK's run (gale.run in Python, run in TypeScript, attach.Run in Go) and keep running; its last output (stdout): config missing, bye"},
		{"exit 0 after attaching", nil, true, nil, "", "done\n",
			"external process exited with status 0 while its task was running; its last output (stdout): done"},
		{"silent", exit1, true, nil, "", "", "external process exit status 1"},
		{"a Storm script after the node ended its session", nil, true, errors.New("storm multilang: a message that is not a JSON object: DEBUG: x"), "", "",
			"external process exited with status 0 after the node closed its stdin: storm multilang: a message that is not a JSON object: DEBUG: x"},
		{"a Storm script without protocol: storm-multilang", exit1, false, nil,
			"Traceback (most recent call last):\n  File \"/tmp/x/storm.py\", line 41, in readMsg\n    raise Exception(\"Read EOF from stdin\")\nException: Read EOF from stdin\n", "",
			"external process exit status 1 before it attached; its last output: Traceback (most recent call last): |   File \"/tmp/x/storm.py\", line 41, in readMsg |     raise Exception(\"Read EOF from stdin\") | Exception: Read EOF from stdin (this reads like a Storm multilang program: give its component protocol: storm-multilang)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tail, outTail := &lastLines{max: 5}, &lastLines{max: 5}
			for _, l := range strings.Split(strings.TrimSuffix(c.stderr, "\n"), "\n") {
				if c.stderr != "" {
					tail.add(l)
				}
			}
			for _, l := range strings.Split(strings.TrimSuffix(c.stdout, "\n"), "\n") {
				if c.stdout != "" {
					outTail.add(l)
				}
			}
			if got := describeExit(c.err, c.attached, false, c.ended, tail, outTail).Error(); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// An error line long before the end (a handled error a bolt printed)
// does not lead the report of an exit that came later for another reason.
func TestAnOldErrorLineDoesNotLeadTheExit(t *testing.T) {
	tail := &lastLines{max: 5}
	tail.add("ValueError: bad record 17")
	for i := range headlineReach + 1 {
		tail.add(fmt.Sprintf("processing record %d", i))
	}
	if got := tail.String(); strings.Contains(got, "ValueError") {
		t.Fatalf("tail %q still leads with the old error line", got)
	}
}

// A line longer than the node keeps of one (a debug print of a 1 MB
// tuple, say) is logged cut short, and the lines after it are read and
// logged too: the pipe must never stop being read, or the process blocks
// for ever in its next write to it while its SDK's heartbeats keep it
// looking alive.
func TestPipeLinesReadsPastALongLine(t *testing.T) {
	long := strings.Repeat("y", 5*maxLogLine+17)
	in := "before\n" + long + "\r\nafter\nlast without newline"
	h := &recordHandler{}
	tail := &lastLines{max: 5}
	(&Supervisor{}).pipeLines(strings.NewReader(in), slog.New(h), slog.LevelInfo, tail)
	var msgs []string
	for _, m := range h.msgs {
		msgs = append(msgs, strings.TrimSuffix(m, " stream=stdout"))
	}
	if len(msgs) != 4 || msgs[0] != "before" || msgs[2] != "after" || msgs[3] != "last without newline" {
		t.Fatalf("logged %d lines, want before, the long one, after, and the last: %.200q", len(msgs), msgs)
	}
	if !strings.HasPrefix(msgs[1], long[:maxLogLine]) || len(msgs[1]) > maxLogLine+100 ||
		!strings.Contains(msgs[1], fmt.Sprintf("%d more bytes of this line not logged", len(long)-maxLogLine)) {
		t.Fatalf("the long line was logged as %d bytes ending %q", len(msgs[1]), msgs[1][max(0, len(msgs[1])-80):])
	}
	if !strings.Contains(tail.String(), "after") {
		t.Fatalf("tail %q lacks the lines after the long one", tail.String())
	}
}

// A process that prints a line longer than the node keeps, then more, is
// not blocked: it runs to its end.
func TestAProcessPrintingALongLineIsNotBlocked(t *testing.T) {
	cmd := exec.Command("sh", "-c", `head -c 300000 /dev/zero | tr '\0' y; echo; i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &recordHandler{}
	done := make(chan struct{})
	go func() {
		(&Supervisor{}).pipeLines(stdout, slog.New(h), slog.LevelInfo, nil)
		close(done)
	}()
	exited := make(chan error, 1)
	go func() { <-done; exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("process: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the process is blocked writing its output: the node stopped reading after a long line")
	}
	if n := len(h.msgs); n < 2001 {
		t.Fatalf("logged %d lines, want the long one and 2000 more", n)
	}
}
