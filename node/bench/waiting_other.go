//go:build !linux

package bench

import "time"

// schedTimes is only known on Linux.
func schedTimes(proc string) (run, wait time.Duration, ok bool) { return 0, 0, false }

// runqueueWait is only known on Linux.
func runqueueWait() (time.Duration, bool) { return 0, false }
