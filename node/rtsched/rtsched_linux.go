package rtsched

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Enable puts every thread of this process under SCHED_RR at priority
// (1, the lowest real-time priority, is enough to be placed and woken
// before normal threads; 1-99). Threads created later inherit the policy.
func Enable(priority int) error {
	if err := checkPriority(priority); err != nil {
		return err
	}
	attr := unix.SchedAttr{Policy: RoundRobin, Priority: uint32(priority)}
	// A thread created during a pass by a thread not yet converted may be
	// missed, so pass again until a pass finds nothing left to change.
	for pass := 0; pass < 10; pass++ {
		changed, err := convert(&attr)
		if err != nil {
			return err
		}
		if changed == 0 {
			return nil
		}
	}
	return errors.New("threads kept appearing while setting the real-time policy; try again")
}

// convert sets attr on every thread that does not have it yet and returns
// how many it changed.
func convert(attr *unix.SchedAttr) (int, error) {
	tids, err := threads("self")
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, tid := range tids {
		cur, err := unix.SchedGetAttr(tid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread has exited
		}
		if err != nil {
			return changed, fmt.Errorf("reading the scheduling policy of thread %d: %w", tid, err)
		}
		if cur.Policy == attr.Policy && cur.Priority == attr.Priority {
			continue
		}
		// A thread that exited since the listing fails with ESRCH and is
		// skipped. The kernel hands out thread ids in turn up to pid_max
		// before it reuses one, so in the microseconds between the two
		// calls its id does not go to another process's thread.
		err = unix.SchedSetAttr(tid, attr, 0)
		switch {
		case errors.Is(err, unix.ESRCH):
			continue
		case errors.Is(err, unix.EPERM):
			return changed, fmt.Errorf("setting the real-time policy (SCHED_RR, priority %d) was refused: it needs CAP_SYS_NICE (root has it) or an RLIMIT_RTPRIO of at least %d (ulimit -r %d), and in a container real-time time for its cgroup: %w",
				attr.Priority, attr.Priority, attr.Priority, err)
		case err != nil:
			return changed, fmt.Errorf("setting the real-time policy of thread %d: %w", tid, err)
		}
		changed++
	}
	return changed, nil
}

// threads lists the thread ids of process proc ("self" or a pid).
func threads(proc string) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + proc + "/task")
	if err != nil {
		return nil, fmt.Errorf("listing the threads of process %s: %w", proc, err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Policies returns the scheduling policy and priority of every thread of
// process pid (0: this one), keyed by thread id, for tests and
// diagnostics. Threads that exit meanwhile are left out.
func Policies(pid int) (map[int]Policy, error) {
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	tids, err := threads(proc)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Policy, len(tids))
	for _, tid := range tids {
		a, err := unix.SchedGetAttr(tid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the scheduling policy of thread %d: %w", tid, err)
		}
		out[tid] = Policy{Class: a.Policy, Priority: a.Priority}
	}
	return out, nil
}
