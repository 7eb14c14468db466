//go:build linux

package rtsched

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The tests run Enable in a child process (this test binary again), so
// that the test process itself keeps the normal policy.
const childEnv = "GALE_RTSCHED_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child enables the policy and checks every thread, including threads
// started afterwards; mode "unprivileged" first drops what allows it.
func child(mode string) int {
	if mode == "unprivileged" {
		if err := syscall.Setrlimit(13 /* RLIMIT_RTPRIO */, &syscall.Rlimit{}); err != nil {
			fmt.Println("setrlimit:", err)
			return 3
		}
		if err := syscall.Setuid(65534); err != nil { // nobody: no capabilities
			fmt.Println("setuid:", err)
			return 3
		}
	}
	before, err := Policies(0)
	if err != nil {
		fmt.Println("policies:", err)
		return 1
	}
	if err := Enable(1); err != nil {
		fmt.Println("enable:", err)
		return 1
	}
	// Threads created from now on must inherit the policy: lock more
	// goroutines to threads of their own than there are threads, so the
	// runtime has to start new ones.
	var wg, locked sync.WaitGroup
	release := make(chan struct{})
	for range len(before) + 4 {
		locked.Add(1)
		wg.Go(func() {
			runtime.LockOSThread()
			locked.Done()
			<-release
		})
	}
	locked.Wait()
	defer func() { close(release); wg.Wait() }()
	ps, err := Policies(0)
	if err != nil {
		fmt.Println("policies:", err)
		return 1
	}
	started := 0
	for tid, p := range ps {
		if p != (Policy{Class: RoundRobin, Priority: 1}) {
			fmt.Printf("thread %d is %v, want SCHED_RR/1 (%d threads)\n", tid, p, len(ps))
			return 1
		}
		if _, ok := before[tid]; !ok {
			started++
		}
	}
	if started == 0 {
		fmt.Printf("no thread started after Enable (%d threads): nothing inherited to check\n", len(ps))
		return 1
	}
	fmt.Printf("ok %d threads, %d of them started after Enable\n", len(ps), started)
	return 0
}

func runChild(t *testing.T, mode string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestEnablePutsEveryThreadUnderRoundRobin(t *testing.T) {
	out, err := runChild(t, "privileged")
	if err != nil && strings.Contains(out, "was refused") {
		// Not root, or root without CAP_SYS_NICE (a container's default).
		t.Skipf("this process may not use real-time policies: %s", out)
	}
	if err != nil || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("child: %v: %s", err, out)
	}
	t.Log(out)
}

func TestEnableRefusedSaysWhatItNeeds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping the privilege to test the refusal needs root")
	}
	out, err := runChild(t, "unprivileged")
	if err == nil {
		t.Fatalf("an unprivileged process got the real-time policy: %s", out)
	}
	for _, want := range []string{"refused", "CAP_SYS_NICE", "RLIMIT_RTPRIO", "ulimit -r 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("error %q does not mention %q", out, want)
		}
	}
}
