//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mergefile

import (
	"errors"
	"os"
	"syscall"
)

// tryLockFile tries to take an exclusive flock on f without blocking; busy
// reports that another open file holds it. flock locks belong to the open
// file, so two opens in one process exclude each other like two processes.
func tryLockFile(f *os.File) (busy bool, err error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return false, err
	}
	if errors.Is(ferr, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, ferr
}

// unlockFile releases the flock on f.
func unlockFile(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = syscall.Flock(int(fd), syscall.LOCK_UN) }); err != nil {
		return err
	}
	return ferr
}
