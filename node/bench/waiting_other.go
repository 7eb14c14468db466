//go:build !linux

package bench

import "time"

// runqueueWait is only known on Linux.
func runqueueWait() (time.Duration, bool) { return 0, false }
