package bench

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// The baselines are the same shapes as the Gale topologies built from
// nothing but goroutines, buffered channels and batches of 128 recycled
// through free lists: what a careful Go programmer would write by hand for
// one fixed job, with no acking, no routing tables, no counters, no
// recovery. Gale's overhead is the ratio to them.

const baseBatch = 128

// baselineRun is what one baseline run measured.
type baselineRun struct {
	// Rate is tuples/s arriving at the last stage.
	Rate float64
	// P50 and P99 are the latency from the spout's emit to the last stage,
	// measured in paced runs only.
	P50, P99 time.Duration
}

// A baseline run with a rate paces its spout the way the benchmark spout
// does (what is due by the clock, at most a batch at a time) and, like a
// careful hand-written pipeline that must not sit on tuples, sends a
// partial batch as soon as a stage has nothing more to do. Each tuple
// carries its emit time and the last stage times it. The harness runs it
// at the same share of its own maximum as Gale's run (what the shape
// itself gets on this machine at that load) and at Gale's rate (the same
// work offered); Gale's complete latency also includes the trip to the
// acker and back. Unpaced runs carry no times and never send partial
// batches: they measure throughput only.

// pacer says how many tuples are due at a fixed rate (0: unlimited).
type pacer struct {
	rate  float64
	start int64
	sent  uint64
}

func newPacer(rate float64) *pacer { return &pacer{rate: rate, start: router.Nanotime()} }

// allow returns how many tuples may be emitted now, at most limit; 0 means
// none is due yet.
func (p *pacer) allow(now int64, limit int) int {
	if p.rate <= 0 {
		return limit
	}
	due := uint64(float64(now-p.start) * p.rate / 1e9)
	if due <= p.sent {
		return 0
	}
	return int(min(due-p.sent, uint64(limit)))
}

func (p *pacer) took(n int) { p.sent += uint64(n) }

// wait sleeps until the next tuple is due, or 10 ms at most, so that a
// very low rate does not keep a stopping run waiting.
func (p *pacer) wait(now int64) {
	next := p.start + int64(float64(p.sent+1)*1e9/p.rate)
	if d := next - now; d > 0 {
		time.Sleep(min(time.Duration(d), 10*time.Millisecond))
	}
}

// latencies collects the last stage's per-tuple latencies while measuring.
type latencies struct {
	measuring atomic.Bool
	mu        sync.Mutex
	h         node.Histogram
}

// record times a batch's tuples from their emit times (none in unpaced
// runs) into h, the last stage's own histogram, while measuring.
func (l *latencies) record(h *node.Histogram, emitted []int64) {
	if len(emitted) == 0 || !l.measuring.Load() {
		return
	}
	now := router.Nanotime()
	for _, t := range emitted {
		h.Record(now - t)
	}
}

func (l *latencies) add(h *node.Histogram) {
	l.mu.Lock()
	l.h.Merge(h)
	l.mu.Unlock()
}

// window warms up for d/4 and measures for d. It returns a function to
// call once the pipeline has stopped (its last stage has merged its
// latencies): the rate of counted over the window and the quantiles.
func (l *latencies) window(d time.Duration, counted *atomic.Uint64) func() baselineRun {
	time.Sleep(d / 4) // warm up
	l.measuring.Store(true)
	c0, t0 := counted.Load(), time.Now()
	time.Sleep(d)
	c1, t1 := counted.Load(), time.Now()
	l.measuring.Store(false)
	rate := float64(c1-c0) / t1.Sub(t0).Seconds()
	return func() baselineRun {
		l.mu.Lock()
		defer l.mu.Unlock()
		return baselineRun{Rate: rate, P50: time.Duration(l.h.Quantile(0.5)), P99: time.Duration(l.h.Quantile(0.99))}
	}
}

type strBatch struct {
	v []string
	t []int64 // emit times, paced runs only
}

// baselineWordCount runs sentences -> split x2 -> count x2 (fields routing
// with the same hash Gale uses) for d, at rate words/s (0: as fast as it
// goes).
func baselineWordCount(d time.Duration, rate float64) baselineRun {
	paced := rate > 0
	var stop atomic.Bool
	var counted atomic.Uint64
	var lat latencies
	const splits, counts = 2, 2
	toSplit := make([]chan *strBatch, splits)
	toCount := make([]chan *strBatch, counts)
	free := make(chan *strBatch, 1024)
	get := func() *strBatch {
		select {
		case b := <-free:
			b.v, b.t = b.v[:0], b.t[:0]
			return b
		default:
			return &strBatch{v: make([]string, 0, baseBatch), t: make([]int64, 0, baseBatch)}
		}
	}
	put := func(b *strBatch) {
		select {
		case free <- b:
		default:
		}
	}
	for i := range toSplit {
		toSplit[i] = make(chan *strBatch, 64)
	}
	for i := range toCount {
		toCount[i] = make(chan *strBatch, 64)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // spout
		defer wg.Done()
		pace := newPacer(rate / corpusWords())
		n, sent := 0, 0
		var b *strBatch
		send := func() {
			toSplit[sent%splits] <- b
			sent++
			b = nil
		}
		for !stop.Load() {
			if b == nil {
				b = get()
			}
			now := router.Nanotime()
			k := pace.allow(now, baseBatch-len(b.v))
			if k == 0 {
				if len(b.v) > 0 {
					send()
				}
				pace.wait(router.Nanotime()) // the send may have blocked
				continue
			}
			pace.took(k)
			for range k {
				b.v = append(b.v, corpus[n%len(corpus)])
				if paced {
					b.t = append(b.t, now)
				}
				n++
			}
			if len(b.v) == baseBatch {
				send()
			}
		}
		for _, c := range toSplit {
			close(c)
		}
	}()
	var splitWG sync.WaitGroup
	for i := 0; i < splits; i++ {
		splitWG.Add(1)
		go func(in chan *strBatch) { // split
			defer splitWG.Done()
			out := make([]*strBatch, counts)
			var key [1]sdk.Value
			idx := []int{0}
			for b := range in {
				for i, s := range b.v {
					s = strings.ToLower(s)
					start := -1
					for j := 0; j <= len(s); j++ {
						if j < len(s) && s[j] != ' ' {
							if start < 0 {
								start = j
							}
							continue
						}
						if start >= 0 {
							w := s[start:j]
							key[0] = sdk.String(w)
							dst := router.JumpHash(router.FieldsHash(key[:], idx), counts)
							if out[dst] == nil {
								out[dst] = get()
							}
							out[dst].v = append(out[dst].v, w)
							if paced {
								out[dst].t = append(out[dst].t, b.t[i])
							}
							if len(out[dst].v) == baseBatch {
								toCount[dst] <- out[dst]
								out[dst] = nil
							}
							start = -1
						}
					}
				}
				put(b)
				if paced && len(in) == 0 {
					for i, o := range out {
						if o != nil {
							toCount[i] <- o
							out[i] = nil
						}
					}
				}
			}
			for i, b := range out {
				if b != nil {
					toCount[i] <- b
				}
			}
		}(toSplit[i])
	}
	var countWG sync.WaitGroup
	for i := 0; i < counts; i++ {
		countWG.Add(1)
		go func(in chan *strBatch) { // count
			defer countWG.Done()
			m := map[string]int64{}
			var h node.Histogram
			defer lat.add(&h)
			for b := range in {
				for _, w := range b.v {
					m[w]++
				}
				lat.record(&h, b.t)
				counted.Add(uint64(len(b.v)))
				put(b)
			}
		}(toCount[i])
	}
	result := lat.window(d, &counted)
	stop.Store(true)
	wg.Wait()
	splitWG.Wait()
	for _, c := range toCount {
		close(c)
	}
	countWG.Wait()
	return result()
}

type valBatch struct {
	v []sdk.Value
	t []int64 // emit times, paced runs only
}

// baselinePassThrough runs spout -> pass -> null for d, at rate tuples/s
// (0: as fast as it goes).
func baselinePassThrough(d time.Duration, rate float64) baselineRun {
	paced := rate > 0
	var stop atomic.Bool
	var counted atomic.Uint64
	var lat latencies
	free := make(chan *valBatch, 1024)
	get := func() *valBatch {
		select {
		case b := <-free:
			b.v, b.t = b.v[:0], b.t[:0]
			return b
		default:
			return &valBatch{v: make([]sdk.Value, 0, baseBatch), t: make([]int64, 0, baseBatch)}
		}
	}
	put := func(b *valBatch) {
		select {
		case free <- b:
		default:
		}
	}
	a, z := make(chan *valBatch, 64), make(chan *valBatch, 64)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		pace := newPacer(rate)
		n := int64(0)
		var b *valBatch
		for !stop.Load() {
			if b == nil {
				b = get()
			}
			now := router.Nanotime()
			k := pace.allow(now, baseBatch-len(b.v))
			if k == 0 {
				if len(b.v) > 0 {
					a <- b
					b = nil
				}
				pace.wait(router.Nanotime()) // the send may have blocked
				continue
			}
			pace.took(k)
			for range k {
				n++
				b.v = append(b.v, sdk.Int(n))
				if paced {
					b.t = append(b.t, now)
				}
			}
			if len(b.v) == baseBatch {
				a <- b
				b = nil
			}
		}
		close(a)
	}()
	go func() {
		defer wg.Done()
		for b := range a {
			o := get()
			o.v = append(o.v, b.v...)
			o.t = append(o.t, b.t...)
			put(b)
			z <- o
		}
		close(z)
	}()
	go func() {
		defer wg.Done()
		var sum int64
		var h node.Histogram
		defer lat.add(&h)
		for b := range z {
			for _, v := range b.v {
				sum += v.Int()
			}
			lat.record(&h, b.t)
			counted.Add(uint64(len(b.v)))
			put(b)
		}
		_ = sum
	}()
	result := lat.window(d, &counted)
	stop.Store(true)
	wg.Wait()
	return result()
}
