package window

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sort"

	"github.com/gale-stream/gale/sdk"
)

// event is one input: its event time, its arrival number (ties in event
// time keep arrival order), and the tuple (a Clone) when the window keeps
// it (nil otherwise: see sinks.keep).
type event struct {
	ts  int64
	seq uint64
	t   *sdk.Tuple
}

func sortEvents(evs []event) {
	slices.SortFunc(evs, func(a, b event) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// sinks are what an engine calls: fire runs the window function over a
// window's events (sorted by time, then arrival) or the aggregate's Result
// over its accumulator; release hands back events that no later window
// contains (the bolt acks them in AckOnFire).
type sinks struct {
	fire    func(w Window, evs []event, acc any)
	release func(evs []event)
	// agg, when set, is folded over the events on arrival: windows keep
	// an accumulator (acc) each.
	agg aggOps
	// keep: windows keep their events (a Func needs them; AckOnFire holds
	// them to anchor and ack). With an aggregate in AckOnReceipt mode
	// windows keep none.
	keep bool
}

// engine is the state of one kind of window over all keys of a task.
// Engines are driven from the bolt's goroutine only.
type engine interface {
	// add buffers a non-late event (for count windows it may fire); t is
	// the input, for the aggregate's Add (valid during the call only). A
	// panic in the aggregate leaves the engine's structure unchanged.
	add(key string, ev event, t *sdk.Tuple)
	// fireDue fires, in deadline order, every window whose deadline is
	// before the watermark wm.
	fireDue(wm int64)
	// flush fires every open window, as at the end of event time.
	flush()
	// open returns the open windows (or keys, for count windows) and the
	// events they hold.
	open() (windows, events int)
	// each calls f with every event held (sinks.keep), once each.
	each(f func(*sdk.Tuple))
}

// Saturating arithmetic: event times come from user input, and the end of
// event time is math.MaxInt64.
func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		return satAdd(satAdd(a, math.MaxInt64), 1)
	}
	return satAdd(a, -b)
}

// floorDiv is division rounding towards minus infinity, so that windows
// before the epoch are aligned like those after it.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ---- a min-heap with positions, for deadlines ----

type heapItem interface{ setIndex(int) }

type minHeap[T heapItem] struct {
	items []T
	less  func(a, b T) bool
}

func (h *minHeap[T]) len() int { return len(h.items) }
func (h *minHeap[T]) peek() T  { return h.items[0] }

func (h *minHeap[T]) push(x T) {
	h.items = append(h.items, x)
	x.setIndex(len(h.items) - 1)
	h.up(len(h.items) - 1)
}

func (h *minHeap[T]) pop() T { return h.remove(0) }

func (h *minHeap[T]) remove(i int) T {
	n := len(h.items) - 1
	x := h.items[i]
	if i != n {
		h.swap(i, n)
	}
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	if i != n {
		h.fix(i)
	}
	x.setIndex(-1)
	return x
}

func (h *minHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *minHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].setIndex(i)
	h.items[j].setIndex(j)
}

func (h *minHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *minHeap[T]) down(i int) bool {
	start := i
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}

// ---- sessions ----

type session struct {
	key        string
	start, end int64
	events     []event // if sinks.keep
	acc        any     // if sinks.agg != nil
	index      int
}

func (s *session) setIndex(i int) { s.index = i }

// sessionEngine keeps each key's open sessions sorted by start (they are
// disjoint and more than gap apart) and all sessions in a heap by end.
type sessionEngine struct {
	gap, lateness int64
	keys          map[string][]*session
	heap          minHeap[*session]
	events        int
	sinks
}

func newSessionEngine(gap, lateness int64, s sinks) *sessionEngine {
	e := &sessionEngine{gap: gap, lateness: lateness, keys: map[string][]*session{}, sinks: s}
	e.heap.less = func(a, b *session) bool {
		if a.end != b.end {
			return a.end < b.end
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.start < b.start
	}
	return e
}

// add puts ev into the session it touches, merging the sessions it
// bridges: an event at t joins a session [start, end] when
// start - gap <= t <= end + gap.
func (e *sessionEngine) add(key string, ev event, t *sdk.Tuple) {
	list := e.keys[key]
	i := sort.Search(len(list), func(i int) bool { return satAdd(list[i].end, e.gap) >= ev.ts })
	j := i
	for j < len(list) && satSub(list[j].start, e.gap) <= ev.ts {
		j++
	}
	// The aggregate first: if it panics nothing has changed. A bridging
	// event lies between the sessions it merges (sessions are more than
	// gap apart), so it joins the earlier one before the merge: the
	// accumulators concatenate in time order.
	var acc any
	if e.agg != nil {
		if i == j {
			acc = e.agg.add(e.agg.newAcc(), ev.ts, t)
		} else {
			acc = e.agg.add(list[i].acc, ev.ts, t)
			for _, o := range list[i+1 : j] {
				acc = e.agg.merge(acc, o.acc)
			}
		}
	}
	if e.keep {
		e.events++
	}
	if i == j {
		s := &session{key: key, start: ev.ts, end: ev.ts, acc: acc}
		if e.keep {
			s.events = []event{ev}
		}
		list = slices.Insert(list, i, s)
		e.keys[key] = list
		e.heap.push(s)
		return
	}
	s := list[i]
	s.acc = acc
	for _, o := range list[i+1 : j] {
		s.events = append(s.events, o.events...)
		s.start, s.end = min(s.start, o.start), max(s.end, o.end)
		e.heap.remove(o.index)
	}
	if e.keep {
		s.events = append(s.events, ev)
	}
	s.start, s.end = min(s.start, ev.ts), max(s.end, ev.ts)
	e.keys[key] = slices.Delete(list, i+1, j)
	e.heap.fix(s.index)
}

func (e *sessionEngine) deadline(s *session) int64 {
	return satAdd(satAdd(s.end, e.gap), e.lateness)
}

func (e *sessionEngine) fireDue(wm int64) {
	for e.heap.len() > 0 && e.deadline(e.heap.peek()) < wm {
		e.fireOne(e.heap.pop())
	}
}

func (e *sessionEngine) flush() {
	for e.heap.len() > 0 {
		e.fireOne(e.heap.pop())
	}
}

func (e *sessionEngine) fireOne(s *session) {
	// A key's sessions fire in order of end, which is their order in the
	// list: the one firing is first.
	list := e.keys[s.key]
	if len(list) == 1 {
		delete(e.keys, s.key)
	} else {
		list[0] = nil
		e.keys[s.key] = list[1:]
	}
	e.events -= len(s.events)
	sortEvents(s.events)
	e.fire(Window{Kind: KindSession, Key: s.key, Start: s.start, End: s.end}, s.events, s.acc)
	e.release(s.events)
}

func (e *sessionEngine) open() (int, int) { return e.heap.len(), e.events }

func (e *sessionEngine) each(f func(*sdk.Tuple)) {
	for _, list := range e.keys {
		for _, s := range list {
			for _, ev := range s.events {
				f(ev.t)
			}
		}
	}
}

// ---- time windows (tumbling and sliding) ----

// timeWin is a scheduled window: it has events in at least one pane.
type timeWin struct {
	key   string
	start int64
	index int
}

func (w *timeWin) setIndex(i int) { w.index = i }

// pane is the content of one slide of a key's event time: its events (if
// sinks.keep) and its accumulator (with an aggregate). A pane exists only
// once an event fell in it.
type pane struct {
	events []event
	acc    any
}

type timeKey struct {
	panes map[int64]*pane // pane start -> content
	sched map[int64]bool  // window starts in the heap
}

// timeEngine cuts event time into panes of slide; a window is size/slide
// consecutive panes. An event is stored once, in its pane, and released
// when the last window containing it (the one starting at its pane) fires.
// With an aggregate each pane has an accumulator; a window's is the merge
// of its panes' (the pane's own for tumbling windows).
type timeEngine struct {
	size, slide, lateness int64
	keys                  map[string]*timeKey
	heap                  minHeap[*timeWin]
	events                int
	sinks
}

func newTimeEngine(size, slide, lateness int64, s sinks) *timeEngine {
	e := &timeEngine{size: size, slide: slide, lateness: lateness, keys: map[string]*timeKey{}, sinks: s}
	e.heap.less = func(a, b *timeWin) bool {
		if a.start != b.start {
			return a.start < b.start
		}
		return a.key < b.key
	}
	return e
}

func (e *timeEngine) add(key string, ev event, t *sdk.Tuple) {
	k := e.keys[key]
	p := floorDiv(ev.ts, e.slide) * e.slide
	var pn *pane
	if k != nil {
		pn = k.panes[p]
	}
	var acc any
	if e.agg != nil { // first: if it panics nothing has changed
		if pn != nil {
			acc = pn.acc
		} else {
			acc = e.agg.newAcc()
		}
		acc = e.agg.add(acc, ev.ts, t)
	}
	if k == nil {
		k = &timeKey{panes: map[int64]*pane{}, sched: map[int64]bool{}}
		e.keys[key] = k
	}
	if pn == nil {
		pn = &pane{}
		k.panes[p] = pn
	}
	pn.acc = acc
	if e.keep {
		pn.events = append(pn.events, ev)
		e.events++
	}
	for ws := p - e.size + e.slide; ws <= p; ws += e.slide {
		if !k.sched[ws] {
			k.sched[ws] = true
			e.heap.push(&timeWin{key: key, start: ws})
		}
	}
}

// deadline of window [start, start+size): the last event time it holds,
// plus the lateness.
func (e *timeEngine) deadline(w *timeWin) int64 {
	return satAdd(satAdd(w.start, e.size-1), e.lateness)
}

func (e *timeEngine) fireDue(wm int64) {
	for e.heap.len() > 0 && e.deadline(e.heap.peek()) < wm {
		e.fireOne(e.heap.pop())
	}
}

func (e *timeEngine) flush() {
	for e.heap.len() > 0 {
		e.fireOne(e.heap.pop())
	}
}

func (e *timeEngine) fireOne(w *timeWin) {
	k := e.keys[w.key]
	var evs []event
	var acc any
	panes := 0
	for p := w.start; p < w.start+e.size; p += e.slide {
		pn := k.panes[p]
		if pn == nil {
			continue
		}
		panes++
		evs = append(evs, pn.events...)
		if e.agg != nil {
			if e.size == e.slide {
				acc = pn.acc // tumbling: the window is the pane
			} else {
				if acc == nil {
					acc = e.agg.newAcc()
				}
				acc = e.agg.merge(acc, pn.acc)
			}
		}
	}
	sortEvents(evs)
	if panes > 0 {
		e.fire(Window{Kind: e.kind(), Key: w.key, Start: w.start, End: w.start + e.size}, evs, acc)
	}
	// No later window contains the pane at w.start.
	var done []event
	if pn := k.panes[w.start]; pn != nil {
		done = pn.events
	}
	delete(k.panes, w.start)
	delete(k.sched, w.start)
	if len(k.sched) == 0 {
		delete(e.keys, w.key)
	}
	e.events -= len(done)
	e.release(done)
}

func (e *timeEngine) kind() Kind {
	if e.size == e.slide {
		return KindTumblingTime
	}
	return KindSlidingTime
}

func (e *timeEngine) open() (int, int) { return e.heap.len(), e.events }

func (e *timeEngine) each(f func(*sdk.Tuple)) {
	for _, k := range e.keys {
		for _, p := range k.panes {
			for _, ev := range p.events {
				f(ev.t)
			}
		}
	}
}

// ---- count windows ----

type countKey struct {
	buf   []event // the key's last events, oldest first
	since int     // arrivals since the last fire
}

// countEngine fires a key's window every `every` arrivals with its last
// `count` events; events that no later window can contain are released
// at once.
type countEngine struct {
	count, every int
	keys         map[string]*countKey
	events       int
	sinks
}

func newCountEngine(count, every int, s sinks) *countEngine {
	return &countEngine{count: count, every: every, keys: map[string]*countKey{}, sinks: s}
}

func (e *countEngine) add(key string, ev event, _ *sdk.Tuple) {
	k := e.keys[key]
	if k == nil {
		k = &countKey{}
		e.keys[key] = k
	}
	k.buf = append(k.buf, ev)
	e.events++
	k.since++
	if k.since == e.every {
		e.fireKey(key, k)
	}
	// The next window fires after every - since more arrivals and holds
	// the last count events then: anything older is done now.
	if n := len(k.buf) + e.every - k.since - e.count; n > 0 {
		e.drop(k, min(n, len(k.buf)))
	}
	if len(k.buf) == 0 && k.since == 0 {
		delete(e.keys, key)
	}
}

func (e *countEngine) drop(k *countKey, n int) {
	done := slices.Clone(k.buf[:n])
	clear(k.buf[:n])
	k.buf = k.buf[n:]
	e.events -= n
	e.release(done)
}

func (e *countEngine) fireKey(key string, k *countKey) {
	k.since = 0
	evs := slices.Clone(k.buf)
	w := Window{Kind: KindTumblingCount, Key: key, Start: evs[0].ts, End: evs[0].ts}
	if e.count != e.every {
		w.Kind = KindSlidingCount
	}
	for _, ev := range evs {
		w.Start, w.End = min(w.Start, ev.ts), max(w.End, ev.ts)
	}
	e.fire(w, evs, nil)
}

// Count windows do not depend on the watermark.
func (e *countEngine) fireDue(int64) {}

// flush fires every key that had arrivals since its last window, with
// what it holds (fewer than count events at most), in key order.
func (e *countEngine) flush() {
	for _, key := range slices.Sorted(maps.Keys(e.keys)) {
		k := e.keys[key]
		if k.since > 0 && len(k.buf) > 0 {
			e.fireKey(key, k)
		}
		e.drop(k, len(k.buf))
		delete(e.keys, key)
	}
}

func (e *countEngine) open() (int, int) { return len(e.keys), e.events }

func (e *countEngine) each(f func(*sdk.Tuple)) {
	for _, k := range e.keys {
		for _, ev := range k.buf {
			f(ev.t)
		}
	}
}
