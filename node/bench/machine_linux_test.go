package bench

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/node/alarm"
	"github.com/gale-stream/gale/router"
)

// BenchmarkMachineIdleTimer measures how late a wait of 100 µs ends, with
// Go's timer (time.Sleep) and, for reference in the same run, with an
// alarm of the precise clock tasks use with topology.wakeup.precise
// (package alarm: a Linux timerfd read through Go's poller), in a process
// that is otherwise idle and in one with a goroutine kept busy. When every
// processor is idle the Go runtime sleeps in epoll_wait, whose timeout is
// in whole milliseconds (runtime/netpoll_epoll.go rounds a shorter one up
// to 1 ms). A busy processor does not help: it looks only at its own
// timers when it schedules, and the sleeping goroutine's timer is on the
// idle one's. So a task's sub-millisecond linger or flush deadline ends
// about a millisecond late unless something else wakes the task first.
// Reported: p50, p90 and p99 of the lateness of each (README, "Timers
// under a millisecond").
func BenchmarkMachineIdleTimer(b *testing.B) {
	const wait = 100 * time.Microsecond
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "busy"
		}
		b.Run(name, func(b *testing.B) {
			var stop atomic.Bool
			done := make(chan struct{})
			if busy {
				go func() {
					defer close(done)
					for !stop.Load() {
					}
				}()
			} else {
				close(done)
			}
			defer func() { stop.Store(true); <-done }()
			clock, err := alarm.New()
			if err != nil {
				b.Fatal(err)
			}
			defer clock.Close()
			a := clock.NewAlarm()
			var timer, precise []time.Duration
			for b.Loop() {
				start := time.Now()
				time.Sleep(wait)
				timer = append(timer, time.Since(start)-wait)
				deadline := router.Nanotime() + wait.Nanoseconds()
				a.Set(deadline)
				<-a.C
				precise = append(precise, time.Duration(router.Nanotime()-deadline))
			}
			reportQuantiles(b, timer, "sleep-late")
			reportQuantiles(b, precise, "alarm-late")
		})
	}
}
