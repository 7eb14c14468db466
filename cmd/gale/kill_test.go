package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestKillWaitsWithSpoutsDeactivated: `gale kill NAME --wait N`, as
// Storm's kill, deactivates the spouts (`gale list` shows the topology as
// killing), lets the trees in flight complete for N seconds, and only then
// removes the topology; the command returns when it is gone. --wait 0
// kills at once.
func TestKillWaitsWithSpoutsDeactivated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gale node process")
	}
	n := startNodeProc(t, "k1", "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0")
	run := func(args ...string) string {
		t.Helper()
		out, err := cliAt(t, n.grpc, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// state is the STATE column of the topology in `gale list` ("" if gone).
	state := func(name string) string {
		for _, line := range strings.Split(run("list"), "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == name {
				return f[2]
			}
		}
		return ""
	}
	waitFor := func(what string, cond func() bool) { t.Helper(); waitUntil(t, 20*time.Second, what, cond) }
	const name = "failover" // examples/failover/topology.yaml's
	submit := func() {
		run("submit", "examples/failover/topology.yaml", "--conf", "filesink.dir="+t.TempDir(),
			"--conf", "seq.count=100000000", "--conf", "seq.rate=1000")
		waitFor("the topology to run", func() bool { return state(name) == "active" })
	}

	submit()
	killed := make(chan string, 1)
	asked := time.Now()
	go func() {
		stdout, stderr, code := gale(t, "kill", name, "--wait", "5", "--addr", n.grpc)
		killed <- fmt.Sprintf("exit %d: %s%s", code, stdout, stderr)
	}()
	waitFor("the spouts to be deactivated during the wait", func() bool { return state(name) == "killing" })
	select {
	case out := <-killed:
		t.Fatalf("kill returned before its wait was over (%s)", out)
	default:
	}
	// Submitting the name again meanwhile is refused for what it is.
	if out, err := cliAt(t, n.grpc, "submit", "examples/failover/topology.yaml", "--conf", "filesink.dir="+t.TempDir()); err == nil ||
		!strings.Contains(out+err.Error(), "topology "+name+" is being killed; submit it again once it is gone") {
		t.Fatalf("submit during the kill: %v\n%s", err, out)
	}
	// It said what it waits for once it had taken a second.
	if out := <-killed; !strings.HasPrefix(out, "exit 0: killed "+name) || !strings.Contains(out, "killing "+name+": its spouts are stopped; waiting 5s for the tuples in flight") {
		t.Fatalf("kill --wait 5: %s", out)
	}
	if took := time.Since(asked); took < 5*time.Second {
		t.Fatalf("kill --wait 5 returned after %v: the wait was cut short", took)
	}
	waitFor("the killed topology to go", func() bool { return state(name) == "" })

	submit()
	if out := run("kill", name, "--wait", "0"); !strings.Contains(out, "killed "+name) {
		t.Fatalf("kill --wait 0: %s", out)
	}
	waitFor("the killed topology to go", func() bool { return state(name) == "" })
}
