//go:build !linux

package rtsched

import (
	"fmt"
	"runtime"
)

// Enable is only available on Linux.
func Enable(priority int) error {
	if err := checkPriority(priority); err != nil {
		return err
	}
	return fmt.Errorf("the real-time policy is only available on Linux, not %s", runtime.GOOS)
}

// Policies is only available on Linux.
func Policies() (map[int]Policy, error) {
	return nil, fmt.Errorf("scheduling policies are only read on Linux, not %s", runtime.GOOS)
}
