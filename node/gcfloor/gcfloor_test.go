package gcfloor

import (
	"context"
	"math"
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
		{0, 64 << 20, 1600},        // unknown yet: the runtime's minimum heap reaches the floor
		{1 << 10, 64 << 20, 1600},  // tiny: the same bound
		{2 << 20, 64 << 20, 1600},  // 3100 would set a minimum heap of 124 MiB
		{8 << 20, 64 << 20, 700},   // 8 MiB may grow to 64
		{16 << 20, 64 << 20, 300},  // 16 to 64
		{32 << 20, 64 << 20, 100},  // half the floor: the default
		{500 << 20, 64 << 20, 100}, // large: the default
		{10 << 20, 11 << 20, 100},  // the floor is within the default's goal
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

	// 16 MiB held live: with a floor of 64 MiB the heap may grow by about
	// three times that (GOGC ~300, less what stacks and globals add); with
	// a floor of 16 MiB, by the default.
	ballast := make([]byte, 16<<20)
	defer runtime.KeepAlive(ballast)
	for _, tc := range []struct {
		name     string
		floor    uint64
		low, top uint64
	}{
		{"small heap", 64 << 20, 250, 300},
		{"large heap", 16 << 20, 100, 100},
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
			for p := gogc(); p < tc.low || p > tc.top; p = gogc() {
				if time.Now().After(deadline) {
					t.Fatalf("GOGC is %d with a floor of %d MiB and 16 MiB live, want %d to %d", p, tc.floor>>20, tc.low, tc.top)
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

func TestCappedByMemoryLimits(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	debug.SetMemoryLimit(math.MaxInt64) // none
	for _, tc := range []struct {
		floor, cgroup, want uint64
	}{
		{256 << 20, 0, 256 << 20},         // no container limit
		{256 << 20, 8 << 30, 256 << 20},   // a large one
		{256 << 20, 512 << 20, 128 << 20}, // a quarter of a small one
	} {
		if got := Capped(tc.floor, tc.cgroup); got != tc.want {
			t.Errorf("Capped(%d, %d) = %d, want %d", tc.floor, tc.cgroup, got, tc.want)
		}
	}
	debug.SetMemoryLimit(200 << 20) // GOMEMLIMIT=200MiB
	if got := Capped(256<<20, 0); got != 100<<20 {
		t.Errorf("with a 200 MiB GOMEMLIMIT: %d, want half of it", got)
	}
}
