package bench

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkMachineIdleTimer measures how late a wait of 100 µs ends, with
// Go's timer (time.Sleep) and, for reference in the same run, with a Linux
// timerfd read through Go's poller, in a process that is otherwise idle
// and in one with a goroutine kept busy. When every processor is idle the
// Go runtime sleeps in epoll_wait, whose timeout is in whole milliseconds
// (runtime/netpoll_epoll.go rounds a shorter one up to 1 ms). A busy
// processor does not help: it looks only at its own timers when it
// schedules, and the sleeping goroutine's timer is on the idle one's. So
// a task's sub-millisecond linger or flush deadline ends about a
// millisecond late unless something else wakes the task first. The
// timerfd wakes the poller when it expires. Reported: p50, p90 and p99 of
// the lateness of each (README, "Timers under a millisecond").
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
			fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
			if err != nil {
				b.Skipf("timerfd_create: %v", err)
			}
			f := os.NewFile(uintptr(fd), "timerfd") // registered with the poller
			defer f.Close()
			var buf [8]byte
			var timer, timerfd []time.Duration
			for b.Loop() {
				start := time.Now()
				time.Sleep(wait)
				timer = append(timer, time.Since(start)-wait)
				start = time.Now()
				its := unix.ItimerSpec{Value: unix.NsecToTimespec(wait.Nanoseconds())}
				if err := unix.TimerfdSettime(fd, 0, &its, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := f.Read(buf[:]); err != nil {
					b.Fatal(err)
				}
				timerfd = append(timerfd, time.Since(start)-wait)
			}
			reportQuantiles(b, timer, "sleep-late")
			reportQuantiles(b, timerfd, "timerfd-late")
		})
	}
}
