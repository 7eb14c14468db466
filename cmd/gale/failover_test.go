package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/coordinator/etcdtest"
	"github.com/gale-stream/gale/examples/failover"
)

// TestFailoverWithKilledProcesses is the cluster's acceptance test: three
// `gale node` processes on a real external etcd, the failover topology
// submitted with the CLI, kill -9 of a non-leader and then of the leader
// while it runs; afterwards every id must be in the sink files. It logs
// how long each reassignment took (reported in the README, not asserted).
func TestFailoverWithKilledProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process failover test")
	}
	etcd := strings.Join(etcdtest.Start(t), ",")
	n1 := startNodeProc(t, "n1", "--etcd", etcd)
	n2 := startNodeProc(t, "n2", "--etcd", etcd, "--join", n1.gossip)
	n3 := startNodeProc(t, "n3", "--etcd", etcd, "--join", n1.gossip)
	nodes := map[string]*nodeProc{"n1": n1, "n2": n2, "n3": n3}

	cli := func(addr string, args ...string) (string, error) { return cliAt(t, addr, args...) }
	must := func(addr string, args ...string) string {
		t.Helper()
		out, err := cli(addr, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// leaderAndOthers parses `gale nodes`: NAME ... LEADER column has "*".
	leader := func(addr string) (string, int, error) {
		out, err := cli(addr, "nodes")
		if err != nil {
			return "", 0, err
		}
		lead, count := "", 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			count++
			for _, x := range f {
				if x == "*" {
					lead = f[0]
				}
			}
		}
		return lead, count, nil
	}
	waitCluster := func(addr string, want int) string {
		t.Helper()
		var lead string
		deadline := time.Now().Add(30 * time.Second)
		for {
			l, count, err := leader(addr)
			if err == nil && count == want && l != "" {
				lead = l
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster never showed %d nodes with a leader (last: %q, %d, %v)", want, l, count, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return lead
	}
	lead := waitCluster(n1.grpc, 3)

	dir := t.TempDir()
	const count = 30000
	must(n1.grpc, "submit", "examples/failover/topology.yaml",
		"--conf", "filesink.dir="+dir, "--conf", fmt.Sprintf("seq.count=%d", count), "--conf", "seq.rate=3000")

	// tasksOn counts the tasks the status shows on a node.
	tasksOn := func(addr, node string) (int, error) {
		out, err := cli(addr, "status", "failover")
		if err != nil {
			return 0, err
		}
		n := 0
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 2 && f[2] == node {
				n++
			}
		}
		return n, nil
	}
	waitMoved := func(addr, dead string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			n, err := tasksOn(addr, dead)
			if err == nil && n == 0 {
				return time.Since(start)
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("tasks of %s not reassigned after 30s (%d left, %v)", dead, n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // let it run a while first

	// Kill -9 a node that is not the leader.
	var victim string
	for name := range nodes {
		if name != lead {
			victim = name
			break
		}
	}
	var survivor *nodeProc
	for name, n := range nodes {
		if name != lead && name != victim {
			survivor = n
		}
	}
	nodes[victim].kill9(t)
	took := waitMoved(survivor.grpc, victim)
	t.Logf("kill -9 of %s (not leader): its tasks were reassigned in %v", victim, took.Round(time.Millisecond))

	time.Sleep(time.Second)
	// Kill -9 the leader: the survivor must be elected and take everything.
	nodes[lead].kill9(t)
	start := time.Now()
	if l := waitCluster(survivor.grpc, 1); l != survivor.name {
		t.Fatalf("leader after the kill: %s", l)
	}
	waitMoved(survivor.grpc, lead)
	t.Logf("kill -9 of the leader %s: %s leads and runs every task after %v", lead, survivor.name, time.Since(start).Round(time.Millisecond))

	// Every id must reach a sink file at least once.
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := failover.CheckDir(dir, count)
		if err == nil && res.OK() {
			var buf bytes.Buffer
			res.Report(&buf)
			t.Logf("sink files: %s", strings.TrimSpace(buf.String()))
			break
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			if res != nil {
				res.Report(&buf)
			}
			st, _ := cli(survivor.grpc, "status", "failover")
			t.Fatalf("not every id reached a sink: %v\n%s\n%s\nsurvivor log:\n%s", err, buf.String(), st, survivor.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
