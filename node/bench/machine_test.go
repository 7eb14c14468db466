package bench

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// The machine benchmarks measure what the host gives any Go program, to
// read the latency columns against (see README, Benchmarks).

// BenchmarkMachineCrossCoreWake measures how long a goroutine woken by a
// channel send takes to start while its waker keeps its own core busy, so
// that it must start on the other core, idle since the last round: Go's
// wake-up path (an idle thread woken to take the goroutine over) on this
// host, as the runtime's task hand-offs meet it. On Linux 6.6 and later
// (EEVDF) the woken thread is often queued behind the busy waker on its
// core instead of taking the idle one, and starts at the next scheduler
// tick (up to 4 ms with HZ=250); under the real-time policy (`chrt -r 1
// go test ...`, or rtsched) it takes the idle core at once. See rtsched.
func BenchmarkMachineCrossCoreWake(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two cores")
	}
	wake := make(chan time.Time)
	started := make(chan time.Duration, 1)
	go func() {
		for sent := range wake {
			started <- time.Since(sent)
		}
	}()
	var lat []time.Duration
	for b.Loop() {
		wake <- time.Now()
		var d time.Duration
	spin: // keep this core busy until the woken goroutine reports
		for {
			select {
			case d = <-started:
				break spin
			default:
			}
		}
		lat = append(lat, d)
		time.Sleep(time.Millisecond) // let the other core go idle
	}
	close(wake)
	reportQuantiles(b, lat, "wake")
}

// BenchmarkMachineStalls spins one thread per core for 2 s and reports the
// gaps longer than 0.5 ms in which a thread did not run: time the host took.
func BenchmarkMachineStalls(b *testing.B) {
	for b.Loop() {
		var mu sync.Mutex
		var gaps []time.Duration
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				runtime.LockOSThread()
				start := time.Now()
				prev := start
				var mine []time.Duration
				for prev.Sub(start) < 2*time.Second {
					now := time.Now()
					if d := now.Sub(prev); d > 500*time.Microsecond {
						mine = append(mine, d)
					}
					prev = now
				}
				mu.Lock()
				gaps = append(gaps, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		var lost time.Duration
		for _, g := range gaps {
			lost += g
		}
		b.ReportMetric(float64(len(gaps))/float64(runtime.GOMAXPROCS(0)), "gaps/thread")
		b.ReportMetric(float64(lost.Microseconds())/float64(runtime.GOMAXPROCS(0)), "lost-µs/thread")
		if len(gaps) > 0 {
			b.ReportMetric(float64(slices.Max(gaps).Microseconds()), "max-gap-µs")
		}
	}
}

func reportQuantiles(b *testing.B, lat []time.Duration, name string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	for _, q := range []struct {
		label string
		p     float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}} {
		b.ReportMetric(float64(lat[int(q.p*float64(len(lat)-1))].Microseconds()), name+"-"+q.label+"-µs")
	}
}
