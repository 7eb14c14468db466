package bench

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// currentCPU is the core the calling thread runs on.
func currentCPU() (int, bool) {
	var cpu, node uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0); errno != 0 {
		return 0, false
	}
	return int(cpu), true
}
