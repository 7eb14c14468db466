package procgov

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
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
	// Busy: two samples in a row in which the process used Busy times its
	// processors or more (on average) give it twice as many, up to all.
	Busy float64
	// A probe that ends within Hold, while the use on the processors
	// given back stays low enough to probe again, failed: the load (or a
	// burst of it) did not fit. The next probe then waits Backoff, doubled
	// at each such failure up to MaxBackoff. A probe that held for Hold
	// resets it; one that ended because the load grew leaves it as it is
	// (and the next probe waits Backoff at least).
	Backoff, MaxBackoff, Hold time.Duration
	// Recheck: after this long on fewer processors, all of them again for
	// a window (CPU time cannot show a load that one thread could not get
	// enough of a core for).
	Recheck time.Duration
	// Changed: while a backoff runs, a window whose mean use is Changed
	// times that of the failed probe's window or more, or that divided by
	// Changed or less, is another load, and may be probed at once.
	Changed float64
}

// Defaults returns the settings Run uses.
//
// Low is half: on two processors, a probe when the process used less
// than one core over half a second. At half of the maximum rate the
// in-process benchmarks use 1.2-1.9 cores (and no probe is made); at a
// tenth, 0.3-1.0 (the most with the real-time policy, which wakes threads
// on the idle core more often). A sample is 50 ms and saturation is judged
// over two, so that a burst of tens of milliseconds (a topology starting)
// does not count as a load that does not fit.
func Defaults() Settings {
	return Settings{
		Sample:     50 * time.Millisecond,
		IdleSample: 100 * time.Millisecond,
		IdleBelow:  0.05,
		Settle:     500 * time.Millisecond,
		Low:        0.5,
		Busy:       0.85,
		Backoff:    2 * time.Second,
		MaxBackoff: 64 * time.Second,
		Hold:       3 * time.Second,
		Recheck:    10 * time.Second,
		Changed:    1.5,
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
	// judging: a probe ended within Hold, at failedAt, and the next
	// window decides whether it failed (the backoff doubles) or the load
	// grew.
	judging  bool
	failedAt time.Duration
	// probeMean is the mean use of the window that made the last probe;
	// failedMean that of the last probe that failed (0: none since the
	// backoff was reset).
	probeMean, failedMean float64
	// winCPU over winTime is the mean use in the current Settle window.
	winCPU, winTime time.Duration
	// used is the use over the last sample, in cores; prevCPU over
	// prevDt the sample before it, on the same processors (prevDt 0: none).
	used            float64
	prevCPU, prevDt time.Duration
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
	// Saturation is judged over the last two samples on these processors
	// (about 100 ms), so that a burst of one sample (a topology starting,
	// a collection) does not count as a load that does not fit.
	pair := (cpu + g.prevCPU).Seconds() / (dt + g.prevDt).Seconds()
	paired := g.prevDt > 0
	g.prevCPU, g.prevDt = cpu, dt
	if g.procs < g.max {
		if paired && pair >= g.s.Busy*float64(g.procs) {
			// The load does not fit: twice the processors (all of them on
			// two cores). A probe that ends within Hold may have been
			// wrong, or the load may have grown: the first window after
			// tells (below). Either way no probe for the first backoff.
			if now-g.probedAt < g.s.Hold {
				g.failedAt, g.judging = now, true
				g.nextProbe = now + max(g.backoff, g.s.Backoff)
			} else {
				g.nextProbe = now + g.backoff
			}
			g.setProcs(min(2*g.procs, g.max))
			return g.procs
		}
		if now-g.probedAt >= g.s.Hold {
			g.backoff, g.failedMean = 0, 0
		}
		if now-g.probedAt >= g.s.Recheck {
			// CPU time only shows what the process got: a thread that gets
			// less than Busy of a core (a busy host, a CPU quota) would
			// never look saturated. All processors now and then tell
			// whether the load still looks small on them.
			g.nextProbe = now
			g.setProcs(g.max)
			return g.procs
		}
	}
	g.winCPU += cpu
	g.winTime += dt
	if g.winTime < g.s.Settle {
		return g.procs
	}
	mean := g.winCPU.Seconds() / g.winTime.Seconds()
	g.winCPU, g.winTime = 0, 0
	if g.judging {
		// The first window after a probe that ended early. If the load is
		// still low enough to probe, it did not grow: fewer processors
		// could not carry it, and the backoff doubles. If it grew, the
		// probe was not wrong and the backoff stays.
		g.judging = false
		if mean < g.s.Low*float64(g.procs) {
			g.backoff = min(max(2*g.backoff, g.s.Backoff), g.s.MaxBackoff)
			g.nextProbe = g.failedAt + g.backoff
			g.failedMean = g.probeMean
		}
	} else if now < g.nextProbe && g.failedMean > 0 &&
		(mean > g.s.Changed*g.failedMean || mean*g.s.Changed < g.failedMean) {
		// The backoff is for the load that did not fit; this is another.
		g.nextProbe = now
	}
	if g.procs > 1 && now >= g.nextProbe && mean < g.s.Low*float64(g.procs) {
		g.setProcs((g.procs + 1) / 2)
		g.probedAt = now
		g.probeMean = mean
	}
	return g.procs
}

// setProcs changes the processors and starts the windows afresh.
func (g *governor) setProcs(n int) {
	g.procs = n
	g.winCPU, g.winTime = 0, 0
	g.prevDt = 0
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

// loadChanged is set by LoadChanged and taken by Run's loop.
var loadChanged atomic.Bool

// LoadChanged tells the governor that the process's load is changing (a
// topology or a task starts or ends): the backoff after a failed probe was
// for the load before, and the next window may be probed. It costs an
// atomic store, and nothing when no governor runs.
func LoadChanged() { loadChanged.Store(true) }

// forget drops what failed probes taught: the load they failed at is gone.
func (g *governor) forget(now time.Duration) {
	g.backoff, g.failedMean, g.judging = 0, 0, false
	g.nextProbe = now
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
		if loadChanged.Swap(false) {
			g.forget(now)
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
