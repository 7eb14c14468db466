//go:build linux || darwin || dragonfly || freebsd || openbsd

package procgov

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time all of this process's threads have used
// (CLOCK_PROCESS_CPUTIME_ID: exact, where getrusage counts in ticks;
// x/sys has no such clock for NetBSD, where Run does nothing).
func processCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("reading the process CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
