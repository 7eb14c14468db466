package gcfloor

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultFloor is the heap size the collector may let a small heap grow to.
const DefaultFloor = 64 << 20

// maxPercent bounds the GOGC that Run sets for a tiny heap.
const maxPercent = 5000

// Percent returns the GOGC that lets a heap of live bytes grow to floor
// before the next collection, and never less than the default, 100.
func Percent(live, floor uint64) int {
	if live == 0 {
		return maxPercent
	}
	if floor <= 2*live {
		return 100
	}
	// The collector's goal is live * (1 + GOGC/100).
	p := (floor - live) * 100 / live
	return int(min(p, maxPercent))
}

// Run adjusts GOGC after each collection until ctx ends, then restores
// it. It returns at once, doing nothing, if the GOGC environment variable
// is set or floor is 0.
func Run(ctx context.Context, floor uint64) {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return
	}
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
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
		if samples[0].Value.Kind() != metrics.KindUint64 || samples[1].Value.Kind() != metrics.KindUint64 {
			return // a runtime without these metrics: leave GOGC alone
		}
		cycle := samples[0].Value.Uint64()
		if cycle == lastCycle {
			continue // the live heap is measured by a collection
		}
		lastCycle = cycle
		if p := Percent(samples[1].Value.Uint64(), floor); p != current {
			debug.SetGCPercent(p)
			current = p
		}
	}
}
