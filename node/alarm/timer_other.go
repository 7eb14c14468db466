//go:build !linux

package alarm

import (
	"errors"
	"time"
)

// sysTimer is a time.Timer where there is no timerfd: as precise as Go's
// timers.
type sysTimer struct {
	t    *time.Timer
	quit chan struct{}
}

func newSysTimer() (sysTimer, error) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return sysTimer{t: t, quit: make(chan struct{})}, nil
}

func (s *sysTimer) set(deadline int64) error {
	s.t.Reset(time.Duration(deadline - now()))
	return nil
}

func (s *sysTimer) wait() error {
	select {
	case <-s.t.C:
		return nil
	case <-s.quit:
		return errors.New("alarm: clock closed")
	}
}

func (s *sysTimer) close() { close(s.quit) }
