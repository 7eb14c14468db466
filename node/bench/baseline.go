package bench

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// The baselines are the same shapes as the Gale topologies built from
// nothing but goroutines, buffered channels and batches of 128 recycled
// through free lists: what a careful Go programmer would write by hand for
// one fixed job, with no acking, no routing tables, no counters, no
// recovery. Gale's overhead is the ratio to them.

const baseBatch = 128

type strBatch struct{ v []string }

// baselineWordCount runs sentences -> split x2 -> count x2 (fields routing
// with the same hash Gale uses) for d and returns words counted per second.
func baselineWordCount(d time.Duration) float64 {
	var stop atomic.Bool
	var counted atomic.Uint64
	const splits, counts = 2, 2
	toSplit := make([]chan *strBatch, splits)
	toCount := make([]chan *strBatch, counts)
	free := make(chan *strBatch, 1024)
	get := func() *strBatch {
		select {
		case b := <-free:
			b.v = b.v[:0]
			return b
		default:
			return &strBatch{v: make([]string, 0, baseBatch)}
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
		n := 0
		for !stop.Load() {
			b := get()
			for len(b.v) < baseBatch {
				b.v = append(b.v, corpus[n%len(corpus)])
				n++
			}
			toSplit[n/baseBatch%splits] <- b
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
				for _, s := range b.v {
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
							if len(out[dst].v) == baseBatch {
								toCount[dst] <- out[dst]
								out[dst] = nil
							}
							start = -1
						}
					}
				}
				put(b)
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
			for b := range in {
				for _, w := range b.v {
					m[w]++
				}
				counted.Add(uint64(len(b.v)))
				put(b)
			}
		}(toCount[i])
	}
	time.Sleep(d / 4) // warm up
	c0, t0 := counted.Load(), time.Now()
	time.Sleep(d)
	c1, t1 := counted.Load(), time.Now()
	stop.Store(true)
	wg.Wait()
	splitWG.Wait()
	for _, c := range toCount {
		close(c)
	}
	countWG.Wait()
	return float64(c1-c0) / t1.Sub(t0).Seconds()
}

type valBatch struct{ v []sdk.Value }

// baselinePassThrough runs spout -> pass -> null for d and returns tuples
// per second arriving at the null stage.
func baselinePassThrough(d time.Duration) float64 {
	var stop atomic.Bool
	var counted atomic.Uint64
	free := make(chan *valBatch, 1024)
	get := func() *valBatch {
		select {
		case b := <-free:
			b.v = b.v[:0]
			return b
		default:
			return &valBatch{v: make([]sdk.Value, 0, baseBatch)}
		}
	}
	a, z := make(chan *valBatch, 64), make(chan *valBatch, 64)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		n := int64(0)
		for !stop.Load() {
			b := get()
			for len(b.v) < baseBatch {
				n++
				b.v = append(b.v, sdk.Int(n))
			}
			a <- b
		}
		close(a)
	}()
	go func() {
		defer wg.Done()
		for b := range a {
			o := get()
			o.v = append(o.v, b.v...)
			select {
			case free <- b:
			default:
			}
			z <- o
		}
		close(z)
	}()
	go func() {
		defer wg.Done()
		var sum int64
		for b := range z {
			for _, v := range b.v {
				sum += v.Int()
			}
			counted.Add(uint64(len(b.v)))
			select {
			case free <- b:
			default:
			}
		}
		_ = sum
	}()
	time.Sleep(d / 4)
	c0, t0 := counted.Load(), time.Now()
	time.Sleep(d)
	c1, t1 := counted.Load(), time.Now()
	stop.Store(true)
	wg.Wait()
	return float64(c1-c0) / t1.Sub(t0).Seconds()
}
