//go:build !linux

package bench

// currentCPU is only known on Linux.
func currentCPU() (int, bool) { return 0, false }
