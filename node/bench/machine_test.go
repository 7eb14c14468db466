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
// host, as the runtime's task hand-offs meet it. On a kernel that packs
// threads onto few CPUs (this project's VM is booted with
// sched_vcpu_pack; README, "Threads woken behind busy ones") the woken
// thread is often queued behind the busy waker on its core instead of
// taking the idle one, and starts at the next scheduler tick (up to 4 ms
// with HZ=250); under the real-time policy (`chrt -r 1 go test ...`, or
// rtsched) it takes the idle core at once. See rtsched.
// slow-% is the share of wakes over 0.5 ms, slow-on-wakers-core-% the
// share that were slow and ran on the waker's busy core.
func BenchmarkMachineCrossCoreWake(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two cores")
	}
	type woke struct {
		after time.Duration
		cpu   int
		cpuOK bool
	}
	wake := make(chan time.Time)
	started := make(chan woke, 1)
	go func() {
		for sent := range wake {
			after := time.Since(sent)
			cpu, ok := currentCPU()
			started <- woke{after, cpu, ok}
		}
	}()
	var lat []time.Duration
	slow, slowOnWakersCore := 0, 0
	for b.Loop() {
		wake <- time.Now()
		wakerCPU, wakerOK := currentCPU()
		var w woke
	spin: // keep this core busy until the woken goroutine reports
		for {
			select {
			case w = <-started:
				break spin
			default:
			}
		}
		lat = append(lat, w.after)
		if w.after > 500*time.Microsecond {
			slow++
			// The woken goroutine ran on the core the waker held all along
			// (it did not move meanwhile): it waited behind the waker.
			if after, ok := currentCPU(); ok && wakerOK && w.cpuOK && w.cpu == wakerCPU && after == wakerCPU {
				slowOnWakersCore++
			}
		}
		time.Sleep(time.Millisecond) // let the other core go idle
	}
	close(wake)
	reportQuantiles(b, lat, "wake")
	if n := len(lat); n > 0 {
		b.ReportMetric(100*float64(slow)/float64(n), "slow-%")
		b.ReportMetric(100*float64(slowOnWakersCore)/float64(n), "slow-on-wakers-core-%")
	}
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
