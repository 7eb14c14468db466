//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gale-stream/gale/node/rtsched"
)

// threadPolicies reads the scheduling class of every thread of process pid.
func threadPolicies(t *testing.T, pid int) map[int]uint32 {
	t.Helper()
	ps, err := rtsched.Policies(pid)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]uint32{}
	for tid, p := range ps {
		out[tid] = p.Class
	}
	return out
}

// mayUseRealtime says whether this process may set a real-time policy:
// CAP_SYS_NICE in its effective capabilities (root has it, except in a
// container that drops it) or an RLIMIT_RTPRIO of at least 1.
func mayUseRealtime(t *testing.T) bool {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_RTPRIO, &lim); err == nil && lim.Cur >= 1 {
		return true
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_NICE) != 0
		}
	}
	return false
}

func TestNodeRunsUnderTheRealtimePolicyWithTheFlag(t *testing.T) {
	if !mayUseRealtime(t) {
		t.Skip("this process may not use real-time policies (no CAP_SYS_NICE, ulimit -r 0)")
	}
	n := startNodeProc(t, "realtime", "--realtime", "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0")
	ps := threadPolicies(t, n.cmd.Process.Pid)
	if len(ps) < 3 {
		t.Fatalf("node has %d threads", len(ps))
	}
	for tid, p := range ps {
		if p != unix.SCHED_RR {
			t.Errorf("thread %d of the node has policy %d, want SCHED_RR (%d)", tid, p, unix.SCHED_RR)
		}
	}
	// Without the flag a node keeps the policy it was started with: the
	// normal one, unless the tests themselves run under another.
	if a, err := unix.SchedGetAttr(0, 0); err != nil || a.Policy != unix.SCHED_NORMAL {
		return
	}
	plain := startNodeProc(t, "plain", "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0")
	for tid, p := range threadPolicies(t, plain.cmd.Process.Pid) {
		if p != unix.SCHED_NORMAL {
			t.Errorf("thread %d of a node without --realtime has policy %d", tid, p)
		}
	}
}

func TestRealtimeRefusedFailsWithWhatItNeeds(t *testing.T) {
	if os.Geteuid() != 0 || !mayUseRealtime(t) {
		t.Skip("running the binary as another user needs root with its capabilities")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_RTPRIO, &lim); err != nil || lim.Cur > 0 {
		t.Skip("RLIMIT_RTPRIO is above 0 here, so an unprivileged process may use the policy")
	}
	// The binary and a data dir that the user nobody can reach.
	dir, err := os.MkdirTemp("", "gale-realtime")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gale")
	data, err := os.ReadFile(galeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// A node that starts would run until stopped: give up after a while.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "node", "--realtime", "--name", "n", "--data-dir", filepath.Join(dir, "data"),
		"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("gale node --realtime as nobody: %v, want exit %d\n%s", err, exitFailed, out)
	}
	for _, want := range []string{"gale node: --realtime:", "refused", "CAP_SYS_NICE", "ulimit -r 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "goroutine ") {
		t.Errorf("output has a stack trace:\n%s", out)
	}
}
