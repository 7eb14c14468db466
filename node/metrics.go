package node

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Counters are one task's cumulative counts. The task's goroutine is the
// only writer: it counts in plain fields of its own (taskStats) and
// publishes them here with atomic stores once per batch, so that counting
// costs no atomic operation per tuple, while readers (status, benchmarks)
// read consistent-enough values at any time.
type Counters struct {
	Emitted, Transferred, Executed, Acked, Failed atomic.Uint64
}

// CounterSnapshot is a point-in-time copy of Counters.
type CounterSnapshot struct {
	Emitted, Transferred, Executed, Acked, Failed uint64
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() CounterSnapshot {
	return CounterSnapshot{
		Emitted:     c.Emitted.Load(),
		Transferred: c.Transferred.Load(),
		Executed:    c.Executed.Load(),
		Acked:       c.Acked.Load(),
		Failed:      c.Failed.Load(),
	}
}

// Add sums two snapshots.
func (s CounterSnapshot) Add(o CounterSnapshot) CounterSnapshot {
	return CounterSnapshot{s.Emitted + o.Emitted, s.Transferred + o.Transferred, s.Executed + o.Executed, s.Acked + o.Acked, s.Failed + o.Failed}
}

// taskStats are the owner-side plain counters of a task.
type taskStats struct {
	emitted, transferred, executed, acked, failed uint64
}

func (s *taskStats) publish(c *Counters) {
	c.Emitted.Store(s.emitted)
	c.Transferred.Store(s.transferred)
	c.Executed.Store(s.executed)
	c.Acked.Store(s.acked)
	c.Failed.Store(s.failed)
}

// Histogram is a log-linear latency histogram in nanoseconds: 8 linear
// sub-buckets per power of two from 1 µs up, so the relative error of a
// quantile is at most 12.5%. Recording is a few shifts and one add; the
// owner records into its own copy and publishes with Merge under a lock.
type Histogram struct {
	counts [histBuckets]uint64
	sum    float64
	n      uint64
}

const (
	histSubBits  = 3
	histSub      = 1 << histSubBits
	histMinShift = 10 // values below 1024 ns share the first buckets
	histBuckets  = (64-histMinShift)*histSub + histSub
)

func histIndex(ns int64) int {
	if ns < 0 {
		ns = 0
	}
	v := uint64(ns) >> histMinShift
	if v < histSub {
		return int(v)
	}
	exp := bits.Len64(v) - 1 - histSubBits
	return (exp+1)*histSub + int((v>>uint(exp))&(histSub-1))
}

// histUpper returns the inclusive upper bound of bucket i in nanoseconds.
func histUpper(i int) float64 {
	if i < histSub {
		return float64((uint64(i)+1)<<histMinShift) - 1
	}
	exp := i/histSub - 1
	sub := uint64(i % histSub)
	lo := (histSub + sub) << uint(exp)
	return float64(((lo + (1 << uint(exp))) << histMinShift) - 1)
}

// Record adds one observation.
func (h *Histogram) Record(ns int64) {
	h.counts[histIndex(ns)]++
	h.sum += float64(ns)
	h.n++
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Merge adds o into h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.sum += o.sum
	h.n += o.n
}

// Reset clears h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Quantile estimates the q-quantile (0..1) in nanoseconds, reporting the
// upper bound of the bucket it falls in (conservative).
func (h *Histogram) Quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return histUpper(i)
		}
	}
	return histUpper(histBuckets - 1)
}

// Mean returns the mean in nanoseconds.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Proto converts to the wire form (microseconds, trimmed of empty tail
// buckets).
func (h *Histogram) Proto() *galev1.LatencyHistogram {
	out := &galev1.LatencyHistogram{SumMicros: h.sum / 1e3, P50Micros: h.Quantile(0.5) / 1e3, P99Micros: h.Quantile(0.99) / 1e3}
	last := -1
	for i, c := range h.counts {
		if c != 0 {
			last = i
		}
	}
	for i := 0; i <= last; i++ {
		out.UpperBoundsMicros = append(out.UpperBoundsMicros, histUpper(i)/1e3)
		out.Counts = append(out.Counts, h.counts[i])
	}
	out.Counts = append(out.Counts, 0)
	return out
}

// sharedHistogram is a histogram published by its owner task.
type sharedHistogram struct {
	mu sync.Mutex
	h  Histogram
}

func (s *sharedHistogram) merge(local *Histogram) {
	s.mu.Lock()
	s.h.Merge(local)
	s.mu.Unlock()
	local.Reset()
}

func (s *sharedHistogram) snapshot() Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// Sub removes o's observations from h (o must be an earlier snapshot of
// the same histogram), leaving the observations made in between.
func (h *Histogram) Sub(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] -= c
	}
	h.sum -= o.sum
	h.n -= o.n
}
