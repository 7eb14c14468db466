//go:build unix && !linux

package external

import "syscall"

// groupAttr starts an external process in its own process group, so that
// stopping it stops its children. Only Linux has a parent-death signal:
// elsewhere a node killed by kill -9 leaves the process running until it
// notices its Attach stream ended, which the SDKs end the process on.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
