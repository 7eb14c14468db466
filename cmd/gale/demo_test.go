package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoTrafficIntoIngest runs the ingest topology with `gale local`,
// sends it traffic with `gale demo traffic`, and checks that every event
// the generator reports accepted went through the topology.
func TestDemoTrafficIntoIngest(t *testing.T) {
	cmd := exec.Command(galeBin, "local", "examples/webanalytics/ingest.yaml", "--conf", "ingest.addr=127.0.0.1:0", "--log-level", "info")
	cmd.Dir = repoRoot(t)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()
	listening := regexp.MustCompile(`msg="HTTP ingest listening".* addr=(\S+)`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the ingest did not start; stderr:\n%s", stderr.String())
		}
	}

	// The tracker and the demo page are served.
	for path, want := range map[string]string{"/": `id="cta"`, "/tracker.js": "GaleTracker"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d, no %q", path, resp.StatusCode, want)
		}
	}

	stdout, errOut, code := gale(t, "demo", "traffic", "--visitors", "20", "--rate", "2000", "--duration", "1s",
		"--visit", "500ms", "--away", "200ms", "--target", "http://"+addr+"/events", "--seed", "7")
	if code != 0 {
		t.Fatalf("demo traffic exited %d:\n%s%s", code, stdout, errOut)
	}
	m := regexp.MustCompile(`sent (\d+) events in [\d.]+ s: (\d+) events/s accepted \((\d+) accepted, 0 refused\)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no report in:\n%s", stdout)
	}
	accepted, _ := strconv.Atoi(m[3])
	if rate, _ := strconv.Atoi(m[2]); accepted == 0 || rate < 200 {
		t.Fatalf("accepted %d events at %d/s:\n%s", accepted, rate, stdout)
	}
	if !strings.Contains(stdout, "visits: ") || !strings.Contains(stdout, "requests: ") {
		t.Fatalf("report lacks visits or requests:\n%s", stdout)
	}

	// Every accepted event is acked through the topology.
	var health struct{ Pending, Accepted int }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&health)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if health.Accepted == accepted && health.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest says %+v, generator %d accepted", health, accepted)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("gale local did not stop on SIGINT:\n%s", stderr.String())
	}
	// Stopped before its end of input: 130, as README documents.
	if code := cmd.ProcessState.ExitCode(); code != exitStopped || !strings.Contains(stderr.String(), "gale: stopped") {
		t.Fatalf("exit %d after SIGINT, want %d and \"gale: stopped\"; stderr:\n%s", code, exitStopped, stderr.String())
	}
	// The summary: the counting sink executed and acked every event.
	row := regexp.MustCompile(`(?m)^count\s+1\s+\d+\s+\d+\s+(\d+)\s+(\d+)\s+0`).FindStringSubmatch(stderr.String())
	if row == nil || row[1] != strconv.Itoa(accepted) {
		t.Fatalf("sink executed %v, want %d; stderr:\n%s", row, accepted, stderr.String())
	}
}

func TestDemoUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"demo"}, "want a subcommand: traffic"},
		{[]string{"demo", "trafic"}, `unknown subcommand "trafic"`},
		{[]string{"demo", "traffic", "--visitors", "0"}, "--visitors 0"},
		{[]string{"demo", "traffic", "--rate", "-5"}, "--rate -5"},
		{[]string{"demo", "traffic", "--target", "127.0.0.1:8080"}, "--target"},
		{[]string{"demo", "traffic", "--duration", "soon"}, "duration"},
		{[]string{"demo", "traffic", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		_, stderr, code := gale(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("gale %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
		assertNoTrace(t, stderr)
	}
	// Nothing listening: one clear line, exit 1.
	_, stderr, code := gale(t, "demo", "traffic", "--target", "http://127.0.0.1:1/events", "--duration", "5s")
	if code != exitFailed || !strings.Contains(stderr, "no event was accepted") {
		t.Errorf("unreachable target: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := gale(t, "demo", "-h"); code != 0 || !strings.Contains(stderr, "traffic") {
		t.Errorf("demo -h: exit %d %q", code, stderr)
	}
}
