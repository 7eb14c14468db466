package alarm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sysTimer is a CLOCK_MONOTONIC timerfd read through Go's poller.
type sysTimer struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newSysTimer() (sysTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return sysTimer{}, fmt.Errorf("timerfd_create: %w", err)
	}
	// A non-blocking descriptor: os.NewFile registers it with the poller,
	// so a Read parks the goroutine rather than a thread.
	return sysTimer{fd: fd, f: os.NewFile(uintptr(fd), "alarm-timerfd")}, nil
}

// set arms the timer for an absolute deadline of the monotonic clock.
func (s *sysTimer) set(deadline int64) error {
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(deadline)}
	if err := unix.TimerfdSettime(s.fd, unix.TFD_TIMER_ABSTIME, &its, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	return nil
}

// wait returns when the timer has expired, or an error once it is closed.
func (s *sysTimer) wait() error {
	_, err := s.f.Read(s.buf[:])
	return err
}

func (s *sysTimer) close() { _ = s.f.Close() }
