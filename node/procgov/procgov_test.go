package procgov

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// step is one sample fed to the governor: dt long, using cores on average.
type step struct {
	dt    time.Duration
	cores float64
	want  int // processors after it
}

func steps(n int, dt time.Duration, cores float64, want int) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{dt, cores, want}
	}
	return s
}

func seq(parts ...[]step) []step {
	var all []step
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestGovernor(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		max   int
		steps []step
	}{
		{"busy on two keeps two", 2, steps(100, 50*ms, 1.3, 2)},
		{"light on two tries one after half a second", 2, seq(
			steps(9, 50*ms, 0.6, 2),
			steps(1, 50*ms, 0.6, 1),
			steps(100, 50*ms, 0.4, 1), // holds: use on one is lower
		)},
		{"a short burst within the window does not stop the probe", 2, seq(
			steps(5, 50*ms, 0.2, 2),
			steps(2, 50*ms, 1.8, 2), // 0.9 of two: not saturated
			steps(2, 50*ms, 0.2, 2),
			steps(1, 50*ms, 0.2, 1), // mean 0.52 < 1
		)},
		{"a failed probe backs off 2 s, then 4 s", 2, seq(
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1),  // probe at 0.5 s
			steps(1, 50*ms, 0.9, 1),  // one sample is not enough
			steps(1, 50*ms, 0.9, 2),  // two >= 0.85 of one at 0.6 s: back, next probe at 2.6 s
			steps(30, 50*ms, 0.9, 2), // the windows ending at 1.1, 1.6, 2.1 s are too early
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1),  // 2.6 s
			steps(1, 50*ms, 0.95, 1), //
			steps(1, 50*ms, 0.95, 2), // failed again at 2.7 s: next probe at 6.7 s
			steps(70, 50*ms, 0.9, 2), // windows ending at 3.2 ... 6.2 s
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // 6.7 s
		)},
		{"a probe ended by a load that grew does not double the backoff", 2, seq(
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // probe at 0.5 s
			steps(1, 50*ms, 0.9, 1),
			steps(1, 50*ms, 0.9, 2),  // ended at 0.6 s
			steps(10, 50*ms, 0.9, 2), // the load is as low: it failed, the next probe at 2.6 s
			steps(20, 50*ms, 0.9, 2),
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // 2.6 s
			steps(1, 50*ms, 1.0, 1),
			steps(1, 50*ms, 1.0, 2),  // ended at 2.7 s: no probe before 4.7 s
			steps(10, 50*ms, 1.6, 2), // the load grew: the backoff stays 2 s
			steps(20, 50*ms, 0.7, 2), // and fell, near the load that failed: windows ending at 3.7 and 4.2 s
			steps(9, 50*ms, 0.7, 2),
			steps(1, 50*ms, 0.7, 1), // 4.7 s, not 6.7 s
		)},
		{"another load does not wait for the backoff of the one that failed", 2, seq(
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // probe at 0.5 s
			steps(1, 50*ms, 0.9, 1),
			steps(1, 50*ms, 0.9, 2),  // ended at 0.6 s
			steps(10, 50*ms, 0.9, 2), // it failed: no probe of this load before 2.6 s
			steps(9, 50*ms, 0.3, 2),
			steps(1, 50*ms, 0.3, 1), // a third of it: probed at 1.6 s
		)},
		{"a burst of one sample after a probe does not end it", 2, seq(
			steps(9, 50*ms, 0.6, 2),
			steps(1, 50*ms, 0.6, 1),
			steps(1, 50*ms, 1.0, 1), // a topology starting
			steps(20, 50*ms, 0.3, 1),
		)},
		{"a burst one processor cannot carry backs off too", 2, seq(
			steps(9, 50*ms, 0.3, 2),
			steps(1, 50*ms, 0.3, 1),  // probe at 0.5 s
			steps(20, 50*ms, 0.3, 1), // held a second
			steps(1, 50*ms, 0.9, 1),  // a burst at 1.55 s: with the sample before, 0.6
			steps(1, 50*ms, 0.9, 2),  // two samples: back at 1.6 s
			steps(10, 50*ms, 0.3, 2), // and gone: the probe failed, the next at 3.6 s
			steps(20, 50*ms, 0.3, 2),
			steps(9, 50*ms, 0.3, 2),
			steps(1, 50*ms, 0.3, 1), // 3.6 s
		)},
		{"a probe that held resets the backoff", 2, seq(
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // probe at 0.5 s
			steps(1, 50*ms, 0.9, 1),
			steps(1, 50*ms, 0.9, 2),  // failed at 0.6 s
			steps(10, 50*ms, 0.9, 2), // judged: backoff 2 s
			steps(20, 50*ms, 0.9, 2),
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1),  // 2.6 s
			steps(70, 50*ms, 0.5, 1), // holds 3.5 s: the backoff resets
			steps(1, 50*ms, 0.9, 1),
			steps(1, 50*ms, 0.9, 2), // 6.2 s, after Hold: not judged
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // 6.7 s
			steps(1, 50*ms, 0.9, 1),
			steps(1, 50*ms, 0.9, 2),  // failed at 6.8 s
			steps(10, 50*ms, 0.9, 2), // judged: 2 s again, not 4
			steps(20, 50*ms, 0.9, 2),
			steps(9, 50*ms, 0.9, 2),
			steps(1, 50*ms, 0.9, 1), // 8.8 s
		)},
		{"all processors again after ten seconds on fewer", 2, seq(
			steps(9, 50*ms, 0.5, 2),
			steps(1, 50*ms, 0.5, 1),   // probe at 0.5 s
			steps(199, 50*ms, 0.5, 1), // until 10.45 s
			steps(1, 50*ms, 0.5, 2),   // 10.5 s: a recheck
			steps(9, 50*ms, 0.5, 2),
			steps(1, 50*ms, 0.5, 1), // still small on two: 11.0 s
		)},
		{"eight halves step by step and jumps back", 8, seq(
			steps(9, 50*ms, 1.0, 8),
			steps(1, 50*ms, 1.0, 4),
			steps(9, 50*ms, 1.0, 4),
			steps(1, 50*ms, 1.0, 2),
			steps(10, 50*ms, 1.1, 2), // 1.1 is not under half of two
			steps(1, 50*ms, 1.8, 2),  // with the sample before, 1.45 of two
			steps(1, 50*ms, 1.8, 4),  // saturated on two: four
			steps(1, 50*ms, 3.5, 4),  // the first sample on four
			steps(1, 50*ms, 3.5, 8),  // saturated on four: eight
		)},
		{"three goes to two", 3, seq(
			steps(9, 50*ms, 1.2, 3),
			steps(1, 50*ms, 1.2, 2),
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovernor(Defaults(), tc.max, 0)
			var now time.Duration
			for i, s := range tc.steps {
				now += s.dt
				cpu := time.Duration(s.cores * float64(s.dt))
				if got := g.observe(now, s.dt, cpu); got != s.want {
					t.Fatalf("step %d (at %v, %.2f cores): %d processors, want %d", i, now, s.cores, got, s.want)
				}
			}
		})
	}
}

func TestGovernorSaturatedOnOne(t *testing.T) {
	s := Defaults()
	s.Recheck = time.Hour
	g := newGovernor(s, 2, 0)
	var now time.Duration
	feed := func(dt time.Duration, cores float64) int {
		now += dt
		return g.observe(now, dt, time.Duration(cores*float64(dt)))
	}
	for range 20 {
		feed(50*time.Millisecond, 0.3)
	}
	if g.procs != 1 {
		t.Fatalf("after a light second: %d processors, want 1", g.procs)
	}
	// Held for the Hold time: the backoff resets, so a failure later
	// waits the first backoff only.
	for range 700 {
		if got := feed(50*time.Millisecond, 0.5); got != 1 {
			t.Fatalf("at %v: %d processors under a load one carries", now, got)
		}
	}
	feed(50*time.Millisecond, 0.9)
	if got := feed(50*time.Millisecond, 0.9); got != 2 {
		t.Fatalf("saturated on one: %d processors, want 2", got)
	}
	if g.backoff != 0 || g.nextProbe != now {
		t.Fatalf("after a probe that held %v: backoff %v, next probe at %v (now %v); want none", 35*time.Second, g.backoff, g.nextProbe, now)
	}
}

func TestGovernorBackoffDoublesUpToItsCap(t *testing.T) {
	s := Defaults()
	g := newGovernor(s, 2, 0)
	var now time.Duration
	feed := func(cores float64) int {
		now += 50 * time.Millisecond
		return g.observe(now, 50*time.Millisecond, time.Duration(cores*float64(50*time.Millisecond)))
	}
	want := []time.Duration{2, 4, 8, 16, 32, 64, 64}
	for i, w := range want {
		for feed(0.9) != 1 { // until a probe
			if now > time.Hour {
				t.Fatalf("failure %d: no probe within an hour", i)
			}
		}
		feed(0.9)
		if feed(0.9) != 2 {
			t.Fatalf("failure %d: still on one processor", i)
		}
		for range 10 { // the judging window
			feed(0.9)
		}
		if g.backoff != w*time.Second {
			t.Fatalf("failure %d: backoff %v, want %v", i, g.backoff, w*time.Second)
		}
	}
}

func TestGovernorFollowsTheDefault(t *testing.T) {
	g := newGovernor(Defaults(), 2, 0)
	g.setMax(4) // a larger CPU limit while on all processors
	if g.procs != 4 || g.max != 4 {
		t.Fatalf("on all processors, a new default of 4: procs %d, max %d", g.procs, g.max)
	}
	g.procs = 2
	g.setMax(3)
	if g.procs != 2 || g.max != 3 {
		t.Fatalf("on fewer, a new default of 3: procs %d, max %d; want 2 and 3", g.procs, g.max)
	}
}

func TestGovernorSamplesSlowlyWhenIdle(t *testing.T) {
	s := Defaults()
	g := newGovernor(s, 2, 0)
	now := 50 * time.Millisecond
	g.observe(now, 50*time.Millisecond, 40*time.Millisecond) // 0.8 cores
	if got := g.sample(); got != s.Sample {
		t.Fatalf("busy: sample %v, want %v", got, s.Sample)
	}
	g.observe(now+50*time.Millisecond, 50*time.Millisecond, time.Millisecond) // 0.02 cores
	if got := g.sample(); got != s.IdleSample {
		t.Fatalf("idle: sample %v, want %v", got, s.IdleSample)
	}
}

// fakeCPU is a process CPU clock the test advances: Run's control loop
// then changes the real GOMAXPROCS.
type fakeCPU struct {
	mu    sync.Mutex
	at    time.Time
	cpu   time.Duration
	cores float64
}

func (f *fakeCPU) read() (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.cpu += time.Duration(f.cores * float64(now.Sub(f.at)))
	f.at = now
	return f.cpu, nil
}

func (f *fakeCPU) use(cores float64) {
	f.read()
	f.mu.Lock()
	f.cores = cores
	f.mu.Unlock()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// defaultProcs puts the test on the runtime's default processors, as Run
// finds them with GOMAXPROCS unset, and gives the test's own back after it,
// whatever it ends with. It returns the default.
func defaultProcs(t *testing.T) int {
	t.Setenv("GOMAXPROCS", "")
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	runtime.SetDefaultGOMAXPROCS()
	return runtime.GOMAXPROCS(0)
}

// runInBackground runs the governor with s and cpuTime until the returned
// stop is called, or the test ends: stop cancels it and waits for it.
func runInBackground(t *testing.T, s Settings, cpuTime func() (time.Duration, error)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, s, cpuTime)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func shortSettings() Settings {
	s := Defaults()
	s.Settle = 200 * time.Millisecond
	s.Backoff = 100 * time.Millisecond
	return s
}

func TestRunSetsProcessorsAndGivesTheDefaultBack(t *testing.T) {
	// After the cleanups that stop the governor (they run last first).
	t.Cleanup(func() { goleak.VerifyNone(t) })
	full := defaultProcs(t)
	if full < 2 {
		t.Skipf("one processor here (%d CPUs)", runtime.NumCPU())
	}
	clock := &fakeCPU{at: time.Now()}
	stop := runInBackground(t, shortSettings(), clock.read)
	clock.use(0.1)
	waitFor(t, "half the processors while lightly loaded", func() bool { return runtime.GOMAXPROCS(0) == (full+1)/2 })
	clock.use(float64(full)) // saturated
	waitFor(t, "all the processors under load", func() bool { return runtime.GOMAXPROCS(0) == full })
	clock.use(0.1)
	waitFor(t, "half again after the backoff", func() bool { return runtime.GOMAXPROCS(0) == (full+1)/2 })
	stop()
	if got := runtime.GOMAXPROCS(0); got != full {
		t.Fatalf("after Run: GOMAXPROCS %d, want the default %d", got, full)
	}
}

func TestRunOnAnIdleProcessUsesOneProcessorOfTwo(t *testing.T) {
	// After the cleanups that stop the governor (they run last first).
	t.Cleanup(func() { goleak.VerifyNone(t) })
	if full := defaultProcs(t); full != 2 {
		t.Skipf("for two processors; the runtime's default here is %d", full)
	}
	stop := runInBackground(t, shortSettings(), processCPU)
	// This test process idles (the process CPU clock is real).
	waitFor(t, "one processor", func() bool { return runtime.GOMAXPROCS(0) == 1 })
	stop()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("after Run: GOMAXPROCS %d, want 2", got)
	}
}

func TestRunDoesNothingWhenTheUserSetGOMAXPROCS(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Setenv("GOMAXPROCS", "2")
	before := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx) // with a live context: it must return by itself
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cancel()
		<-done
		t.Fatal("Run with GOMAXPROCS set did not return by itself")
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("Run with GOMAXPROCS set changed the processors: %d, want %d", got, before)
	}
}

func TestLoadChangedLiftsTheBackoff(t *testing.T) {
	// After the cleanups that stop the governor (they run last first).
	t.Cleanup(func() { goleak.VerifyNone(t) })
	full := defaultProcs(t)
	if full < 2 {
		t.Skipf("one processor here (%d CPUs)", runtime.NumCPU())
	}
	half := (full + 1) / 2
	s := shortSettings()
	s.Backoff = time.Hour
	// A load just under the probe threshold on all processors that
	// saturates half of them: every probe fails.
	clock := &fakeCPU{at: time.Now()}
	clock.use(0.45 * float64(full))
	if 0.45*float64(full) < s.Busy*float64(half) {
		clock.use(s.Busy * float64(half))
	}
	runInBackground(t, s, clock.read)
	waitFor(t, "a probe", func() bool { return runtime.GOMAXPROCS(0) == half })
	waitFor(t, "the probe to fail", func() bool { return runtime.GOMAXPROCS(0) == full })
	for range 6 { // three windows: the backoff of an hour holds
		time.Sleep(s.Settle / 2)
		if got := runtime.GOMAXPROCS(0); got != full {
			t.Fatalf("during the backoff: GOMAXPROCS %d, want %d", got, full)
		}
	}
	LoadChanged()
	waitFor(t, "a probe of the new load", func() bool { return runtime.GOMAXPROCS(0) == half })
}
