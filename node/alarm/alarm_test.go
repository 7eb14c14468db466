package alarm

import (
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClock(t testing.TB) *Clock {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rang reports whether a received within d (a generous bound: this checks
// that alarms go off, not how precisely).
func rang(a *Alarm, d time.Duration) bool {
	select {
	case <-a.C:
		return true
	case <-time.After(d):
		return false
	}
}

func TestAnAlarmGoesOffNoSoonerThanItsDeadline(t *testing.T) {
	c := newClock(t)
	a := c.NewAlarm()
	for _, d := range []time.Duration{0, -time.Millisecond, 20 * time.Microsecond, 300 * time.Microsecond, 3 * time.Millisecond} {
		deadline := now() + int64(d)
		a.Set(deadline)
		if !rang(a, 5*time.Second) {
			t.Fatalf("alarm %v ahead never went off", d)
		}
		if got := now(); got < deadline {
			t.Fatalf("alarm %v ahead went off %v early", d, time.Duration(deadline-got))
		}
	}
}

func TestStopAndSetLeaveNoStaleValue(t *testing.T) {
	c := newClock(t)
	a := c.NewAlarm()
	a.Set(now()) // rings at once
	a.Stop()
	if rang(a, 20*time.Millisecond) {
		t.Fatal("C held a value after Stop")
	}
	a.Set(now() + int64(time.Millisecond))
	a.Stop()
	if rang(a, 20*time.Millisecond) {
		t.Fatal("a stopped alarm went off")
	}
	a.Set(now())
	a.Set(now() + int64(time.Hour)) // replaces the rung one
	if rang(a, 20*time.Millisecond) {
		t.Fatal("Set left the value of its earlier setting in C")
	}
}

func TestSetReplacesTheDeadline(t *testing.T) {
	c := newClock(t)
	a := c.NewAlarm()
	a.Set(now() + int64(time.Hour))
	a.Set(now() + int64(100*time.Microsecond)) // earlier: the clock re-arms
	if !rang(a, 5*time.Second) {
		t.Fatal("moving an alarm earlier lost it")
	}
	b := c.NewAlarm()
	a.Set(now() + int64(100*time.Microsecond))
	b.Set(now() + int64(time.Hour))
	a.Set(now() + int64(time.Hour)) // later: nothing is due now
	if rang(a, 20*time.Millisecond) || rang(b, time.Millisecond) {
		t.Fatal("an alarm went off before its deadline")
	}
}

// Many alarms set and reset from many goroutines all go off, in deadline
// order per goroutine, and none early.
func TestManyAlarmsAllGoOff(t *testing.T) {
	c := newClock(t)
	const goroutines, rounds = 8, 200
	errs := make(chan string, goroutines)
	for g := range goroutines {
		go func() {
			a := c.NewAlarm()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range rounds {
				deadline := now() + r.Int64N(int64(400*time.Microsecond))
				if r.IntN(4) == 0 {
					a.Set(now() + int64(time.Hour))
					a.Stop()
				}
				a.Set(deadline)
				if !rang(a, 5*time.Second) {
					errs <- "an alarm never went off"
					return
				}
				if now() < deadline {
					errs <- "an alarm went off early"
					return
				}
			}
			errs <- ""
		}()
	}
	for range goroutines {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
	c.mu.Lock()
	left := len(c.alarms)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d alarms left in the heap after all went off", left)
	}
}

func TestCloseStopsTheClock(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	a := c.NewAlarm()
	a.Set(now() + int64(time.Millisecond))
	c.Close()
	c.Close()
	a.Set(now() + int64(time.Microsecond))
	if rang(a, 20*time.Millisecond) {
		t.Fatal("an alarm of a closed clock went off")
	}
	// goleak (TestMain) checks that run returned.
}

// BenchmarkSetStop is the cost of setting and stopping an alarm that does
// not go off (the common case: input arrives first).
func BenchmarkSetStop(b *testing.B) {
	c := newClock(b)
	a := c.NewAlarm()
	far := c.NewAlarm()
	far.Set(now() + int64(time.Hour))
	for range b.N {
		a.Set(now() + int64(time.Hour))
		a.Stop()
	}
}
