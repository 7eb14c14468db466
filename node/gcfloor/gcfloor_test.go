package gcfloor

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 64 << 20, maxPercent},
		{1 << 10, 64 << 20, maxPercent}, // tiny: bounded
		{8 << 20, 64 << 20, 700},        // 8 MiB may grow to 64
		{16 << 20, 64 << 20, 300},       // 16 to 64
		{32 << 20, 64 << 20, 100},       // half the floor: the default
		{500 << 20, 64 << 20, 100},      // large: the default
		{10 << 20, 11 << 20, 100},       // the floor is within the default's goal
	} {
		if got := Percent(tc.live, tc.floor); got != tc.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.floor, got, tc.want)
		}
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestRunSetsGOGCForTheLiveHeapAndRestoresIt(t *testing.T) {
	t.Setenv("GOGC", "") // empty is unset to the runtime, and to Run
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)

	// A floor of ten times the live heap: GOGC 900, give or take what the
	// live heap does between collections; a floor below it: 100.
	var live runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&live)
	for _, tc := range []struct {
		name  string
		floor uint64
		check func(uint64) bool
	}{
		{"small heap", 10 * live.HeapAlloc, func(p uint64) bool { return p >= 700 && p <= 1100 }},
		{"large heap", live.HeapAlloc, func(p uint64) bool { return p == 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				Run(ctx, tc.floor)
			}()
			deadline := time.Now().Add(10 * time.Second)
			runtime.GC()
			for !tc.check(gogc()) || gogc() == maxPercent {
				if time.Now().After(deadline) {
					t.Fatalf("GOGC is %d with a floor of %d and %d live bytes", gogc(), tc.floor, live.HeapAlloc)
				}
				runtime.GC()
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			<-done
			if gogc() != 100 {
				t.Fatalf("GOGC is %d after Run returned, want it restored to 100", gogc())
			}
		})
	}
}

func TestRunLeavesAUsersGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "150")
	orig := debug.SetGCPercent(150)
	defer debug.SetGCPercent(orig)
	Run(context.Background(), 1<<30) // returns at once
	runtime.GC()
	if gogc() != 150 {
		t.Fatalf("GOGC is %d, want the user's 150", gogc())
	}
}
