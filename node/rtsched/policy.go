package rtsched

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrUnsupported is Enable's and Policies' error on systems other than
// Linux.
var ErrUnsupported = errors.New("the real-time policy is only available on Linux, not " + runtime.GOOS)

// Policy is a thread's scheduling policy: Class is the kernel's number for
// it (0 SCHED_OTHER, 1 SCHED_FIFO, 2 SCHED_RR, 3 SCHED_BATCH, 5
// SCHED_IDLE, 6 SCHED_DEADLINE) and Priority its real-time priority.
type Policy struct{ Class, Priority uint32 }

// RoundRobin is the class Enable sets.
const RoundRobin = 2

// checkPriority says what is wrong with a real-time priority, if anything.
func checkPriority(priority int) error {
	if priority < 1 || priority > 99 {
		return fmt.Errorf("real-time priority %d: want 1 to 99", priority)
	}
	return nil
}

func (p Policy) String() string {
	names := map[uint32]string{0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE"}
	name, ok := names[p.Class]
	if !ok {
		name = fmt.Sprintf("policy %d", p.Class)
	}
	if p.Class == 1 || p.Class == 2 {
		return fmt.Sprintf("%s/%d", name, p.Priority)
	}
	return name
}
