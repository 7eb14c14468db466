package webanalytics

import (
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
)

// seenEvents remembers which events (by the ingest's event id,
// ingest.FieldEvent) a task has counted, so that a replayed event counts
// once. Tuples are at-least-once: when a node dies, the trees through it
// fail and the ingest replays their events to every bolt, also to those
// that had counted them already; without this, a node's death inflated
// the page aggregates by the events then in flight, once per replay.
//
// Event ids are an ingest run above a sequence number that grows with
// each event the run emits, and a replay comes soon after the first
// delivery (after a failure, or the message timeout): so each run keeps a
// window of the latest seenWindow sequence numbers as a bitmap (256 KiB).
// An event older than its run's window is counted (it cannot be told from
// a first delivery; at-least-once as before), and so is an event without
// an id. At most seenRuns runs are kept, or eight more than the task's
// inputs have tasks when that is more (every ingest task has a live run,
// and ingest tasks that restarted or moved start new ones: with fewer
// runs than live ingest tasks, the least recently used would be dropped
// at every event, and no replay recognised), the least recently used
// going first; its bitmap is reused.
type seenEvents struct {
	runs    map[int64]*seenRun
	use     uint64 // a clock for seenRun.used
	maxRuns int    // 0: seenRuns
}

type seenRun struct {
	base uint64   // the window's lowest sequence number, a multiple of 64
	bits []uint64 // a ring: sequence s is bit s%64 of word (s/64)%len(bits)
	used uint64
}

const (
	seenWindow = 1 << 21 // sequence numbers per run
	seenRuns   = 16
)

// firstTuple reports whether t is not a replay of an event seen before
// (by its ingest event id, ingest.IdxEvent), and remembers it; a tuple
// without an id is never a replay.
func (s *seenEvents) firstTuple(t *sdk.Tuple) bool {
	if len(t.Values) <= fEvent || t.Values[fEvent].Kind() != sdk.KindInt {
		return true
	}
	return s.first(t.Int(fEvent))
}

// first reports whether event id has not been seen before, and remembers
// it.
func (s *seenEvents) first(id int64) bool {
	run, seq := ingest.EventIDRun(id), uint64(ingest.EventIDSeq(id))
	if s.runs == nil {
		s.runs = map[int64]*seenRun{}
	}
	s.use++
	r := s.runs[run]
	if r == nil {
		var bits []uint64
		if len(s.runs) >= max(s.maxRuns, seenRuns) {
			bits = s.dropOldest()
			clear(bits)
		} else {
			bits = make([]uint64, seenWindow/64)
		}
		// The window starts a little below the run's first event here:
		// replays of earlier events (sent to another task of this
		// component before this one started) count as first deliveries.
		r = &seenRun{bits: bits}
		if seq > seenWindow/2 {
			r.base = (seq - seenWindow/2) &^ 63
		}
		s.runs[run] = r
	}
	r.used = s.use
	switch {
	case seq < r.base:
		return true // older than the window: cannot tell
	case seq >= r.base+seenWindow:
		// Slide the window up to seq, clearing what it leaves behind.
		next := (seq - seenWindow + 64) &^ 63
		if next-r.base >= seenWindow {
			clear(r.bits)
		} else {
			for w := r.base / 64; w < next/64; w++ {
				r.bits[w%uint64(len(r.bits))] = 0
			}
		}
		r.base = next
	}
	w, bit := &r.bits[(seq/64)%uint64(len(r.bits))], uint64(1)<<(seq%64)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	return true
}

// dropOldest forgets the least recently used run and returns its bitmap.
func (s *seenEvents) dropOldest() []uint64 {
	var oldest int64
	var used uint64
	for run, r := range s.runs {
		if used == 0 || r.used < used {
			oldest, used = run, r.used
		}
	}
	bits := s.runs[oldest].bits
	delete(s.runs, oldest)
	return bits
}

// sizeFor keeps a run for each task of the task's inputs (the ingest's
// tasks) and seenRuns/2 more, when that is more than seenRuns.
func (s *seenEvents) sizeFor(tc *sdk.TaskContext) {
	n, counted := 0, map[string]bool{}
	for _, in := range tc.Inputs {
		if !counted[in.Component] && in.Stream != sdk.TickStream {
			counted[in.Component] = true
			n += len(tc.ComponentTasks[in.Component])
		}
	}
	s.maxRuns = n + seenRuns/2
}
