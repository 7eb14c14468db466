package gcfloor

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// DefaultFloor is the heap size the collector may let a small heap grow to.
// 256 MiB: at 64 MiB the nodes of the cluster benchmark still collected
// 0.4-1.6 times a second each at half load, and the p99 complete latency
// was about twice as long (README, "Memory and the collector"). Storm's
// workers get 768 MB of heap by default.
const DefaultFloor = 256 << 20

// heapMinimum is the Go runtime's smallest heap goal at GOGC=100; it
// scales with GOGC (4 MiB x GOGC/100), so a GOGC above floor/4 MiB x 100
// would hold the first collections back past the floor.
const heapMinimum = 4 << 20

// Percent returns the GOGC that lets a heap whose collection scans live
// bytes (the live heap plus goroutine stacks and globals, as the runtime
// counts them) grow to floor before the next collection, and never less
// than the default, 100.
func Percent(live, floor uint64) int {
	most := max(floor*100/heapMinimum, 100)
	if live == 0 {
		return int(most)
	}
	if floor <= 2*live {
		return 100
	}
	// The collector's goal is live * (1 + GOGC/100).
	return int(min((floor-live)*100/live, most))
}

// Capped returns floor, lowered to a quarter of limit (the container's
// memory limit, 0: none) and to half of Go's memory limit (GOMEMLIMIT) if
// one is set: a process in a small container collects as before rather
// than grow towards its limit.
func Capped(floor, limit uint64) uint64 {
	if limit > 0 {
		floor = min(floor, limit/4)
	}
	if goLimit := debug.SetMemoryLimit(-1); goLimit > 0 && goLimit < math.MaxInt64 {
		floor = min(floor, uint64(goLimit)/2)
	}
	return floor
}

// CgroupMemoryLimit is the memory limit of this process's cgroup (v2:
// /sys/fs/cgroup/memory.max), or 0 when there is none or it cannot be
// read.
func CgroupMemoryLimit() uint64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0 // "max": no limit
	}
	return n
}

// Run adjusts GOGC after each collection until ctx ends, then restores
// it. It returns at once, doing nothing, if the GOGC environment variable
// is set or floor is 0. The floor is first capped by the container's and
// Go's memory limits (Capped).
func Run(ctx context.Context, floor uint64) {
	floor = Capped(floor, CgroupMemoryLimit())
	if floor == 0 || os.Getenv("GOGC") != "" {
		return
	}
	samples := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}
	orig := debug.SetGCPercent(Percent(0, floor)) // no live heap known yet
	defer debug.SetGCPercent(orig)
	current, lastCycle := Percent(0, floor), uint64(0)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(samples)
		for _, m := range samples {
			if m.Value.Kind() != metrics.KindUint64 {
				return // a runtime without these metrics: leave GOGC alone
			}
		}
		cycle := samples[0].Value.Uint64()
		if cycle == lastCycle {
			continue // the live heap is measured by a collection
		}
		lastCycle = cycle
		scanned := samples[1].Value.Uint64() + samples[2].Value.Uint64() + samples[3].Value.Uint64()
		if p := Percent(scanned, floor); p != current {
			debug.SetGCPercent(p)
			current = p
		}
	}
}
