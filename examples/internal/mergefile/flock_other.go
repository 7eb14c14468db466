//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package mergefile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// tryLockFile fails where flock is not available: without a lock, count
// tasks writing one output file would lose each other's totals.
func tryLockFile(*os.File) (bool, error) {
	return false, fmt.Errorf("file locking is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// unlockFile is never reached, since tryLockFile never locks.
func unlockFile(*os.File) error { return nil }
