package node

import (
	"time"

	"github.com/gale-stream/gale/node/alarm"
)

// sleeper is what a task sleeps on until its next deadline (a linger
// bound, idle-flush credit, the spout wait): a Go timer, or with
// Settings.PreciseWakeups an alarm of the runtime's clock. Go's timers end
// about a millisecond late when the process is idle (package alarm); the
// clock's alarms end on time, at more CPU when lightly loaded.
type sleeper struct {
	timer *time.Timer
	alarm *alarm.Alarm
}

func (rt *Runtime) newSleeper() *sleeper {
	if rt.clock != nil {
		return &sleeper{alarm: rt.clock.NewAlarm()}
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &sleeper{timer: t}
}

// set arms the sleeper for deadline (router.Nanotime) and returns the
// channel to wait on: the timer's or the alarm's.
func (s *sleeper) set(now, deadline int64) <-chan time.Time {
	if s.alarm != nil {
		s.alarm.Set(deadline)
		return s.alarm.C
	}
	s.timer.Reset(time.Duration(max(deadline-now, 0)))
	return s.timer.C
}

// stop disarms it; no stale wake-up is left to receive (Go 1.23 timers,
// and alarm.Stop).
func (s *sleeper) stop() {
	if s.alarm != nil {
		s.alarm.Stop()
		return
	}
	s.timer.Stop()
}
