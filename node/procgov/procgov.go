package procgov

import (
	"context"
	"errors"
	"os"
	"runtime"
	"time"
)

// Settings are the governor's thresholds and periods. Defaults gives the
// ones Run uses; tests use shorter ones.
type Settings struct {
	// Sample is how often the process's CPU time is read while it works.
	Sample time.Duration
	// IdleSample is how often it is read while the process used less than
	// IdleBelow cores over the last sample: an idle node wakes up rarely.
	IdleSample time.Duration
	IdleBelow  float64
	// Settle is the window over which the mean use must stay under Low
	// times the processors before half of them are tried.
	Settle time.Duration
	Low    float64
	// Busy: a sample in which the process used Busy times its processors
	// or more gives it all of them back.
	Busy float64
	// A probe that ends within ProbeWatch failed: the load did not fit.
	// The next probe then waits Backoff, doubled at each such failure up
	// to MaxBackoff. A probe that held for Hold resets it; one that ended
	// between the two (the load grew later) leaves it as it is.
	ProbeWatch, Backoff, MaxBackoff, Hold time.Duration
}

// Defaults returns the settings Run uses.
//
// Low is half: on two processors, a probe when the process used less
// than one core over half a second. At half of the maximum rate the
// in-process benchmarks use 1.2-1.6 cores (and no probe is made); at a
// tenth, 0.3-1.0 (the most with the real-time policy, which wakes threads
// on the idle core more often). A sample is 50 ms, so that a burst of a
// few milliseconds (a topology starting) does not count as a load.
func Defaults() Settings {
	return Settings{
		Sample:     50 * time.Millisecond,
		IdleSample: 100 * time.Millisecond,
		IdleBelow:  0.05,
		Settle:     500 * time.Millisecond,
		Low:        0.5,
		Busy:       0.85,
		ProbeWatch: 500 * time.Millisecond,
		Backoff:    2 * time.Second,
		MaxBackoff: 64 * time.Second,
		Hold:       3 * time.Second,
	}
}

// governor decides the processors from the CPU time used; it keeps no
// clock of its own, so that tests drive it with any sequence of samples.
type governor struct {
	s        Settings
	max      int // the runtime's default: all the processors
	procs    int // the processors now
	probedAt time.Duration
	backoff  time.Duration
	// nextProbe is the earliest time of the next probe.
	nextProbe time.Duration
	// winCPU over winTime is the mean use in the current Settle window.
	winCPU, winTime time.Duration
	// used is the use over the last sample, in cores.
	used float64
}

func newGovernor(s Settings, max int, now time.Duration) *governor {
	return &governor{s: s, max: max, procs: max, nextProbe: now}
}

// observe takes the CPU time the process used over the dt that ended at
// now and returns the processors it should run on.
func (g *governor) observe(now, dt, cpu time.Duration) int {
	if dt <= 0 {
		return g.procs
	}
	g.used = cpu.Seconds() / dt.Seconds()
	if g.procs < g.max {
		if g.used >= g.s.Busy*float64(g.procs) {
			// The load does not fit: all processors at once, since it may
			// need all of them, and no probe for a while if that one failed.
			if now-g.probedAt < g.s.ProbeWatch {
				g.backoff = min(max(2*g.backoff, g.s.Backoff), g.s.MaxBackoff)
			}
			g.nextProbe = now + g.backoff
			g.procs = g.max
			g.winCPU, g.winTime = 0, 0
			return g.procs
		}
		if now-g.probedAt >= g.s.Hold {
			g.backoff = 0
		}
	}
	g.winCPU += cpu
	g.winTime += dt
	if g.winTime < g.s.Settle {
		return g.procs
	}
	mean := g.winCPU.Seconds() / g.winTime.Seconds()
	g.winCPU, g.winTime = 0, 0
	if g.procs > 1 && now >= g.nextProbe && mean < g.s.Low*float64(g.procs) {
		g.procs = (g.procs + 1) / 2
		g.probedAt = now
	}
	return g.procs
}

// sample is the period until the next reading.
func (g *governor) sample() time.Duration {
	if g.used < g.s.IdleBelow {
		return g.s.IdleSample
	}
	return g.s.Sample
}

// setMax follows the runtime's default when it changes (a new CPU limit)
// while the governor runs on all processors.
func (g *governor) setMax(n int) {
	if g.procs == g.max {
		g.procs = n
	}
	g.max = n
}

// errUnsupported: this platform has no process CPU clock for Run to read.
var errUnsupported = errors.New("procgov: no process CPU clock on this platform")

// Run governs this process's processors until ctx is done, and then gives
// the runtime's default back. It returns at once when the user set
// GOMAXPROCS, on one processor, or where the process CPU clock cannot be
// read.
func Run(ctx context.Context) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	run(ctx, Defaults(), processCPU)
}

// run is Run with its settings and CPU clock given.
func run(ctx context.Context, s Settings, cpuTime func() (time.Duration, error)) {
	if _, err := cpuTime(); err != nil || runtime.GOMAXPROCS(0) < 2 {
		return
	}
	start := time.Now()
	since := func() time.Duration { return time.Since(start) }
	g := newGovernor(s, runtime.GOMAXPROCS(0), since())
	defer func() {
		if g.procs != g.max {
			runtime.SetDefaultGOMAXPROCS()
		}
	}()
	lastAt := since()
	lastCPU, _ := cpuTime()
	timer := time.NewTimer(g.sample())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := since()
		cpu, err := cpuTime()
		if err != nil {
			return
		}
		if g.procs == g.max {
			// On all processors the runtime follows its default, which
			// moves with the CPU limit of a container.
			g.setMax(runtime.GOMAXPROCS(0))
		}
		before := g.procs
		if after := g.observe(now, now-lastAt, cpu-lastCPU); after != before {
			if after == g.max {
				runtime.SetDefaultGOMAXPROCS()
				g.setMax(runtime.GOMAXPROCS(0))
			} else {
				runtime.GOMAXPROCS(after)
			}
		}
		lastAt, lastCPU = now, cpu
		timer.Reset(g.sample())
	}
}
