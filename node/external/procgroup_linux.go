//go:build linux

package external

import "syscall"

// groupAttr starts an external process in its own process group, so that
// stopping it stops its children, and has the kernel kill it when the node
// dies, even by kill -9 (the parent-death signal).
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
