//go:build !(linux || darwin || dragonfly || freebsd || openbsd)

package procgov

import "time"

func processCPU() (time.Duration, error) { return 0, errUnsupported }
