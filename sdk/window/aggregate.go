package window

import (
	"fmt"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// Aggregate is an incremental window function, as Flink's
// AggregateFunction: instead of a Func over all the events of a window,
// the bolt keeps one accumulator per open window (per pane for sliding
// windows), folds each event into it on arrival and hands it to Result
// when the window fires. See the package documentation, "Incremental
// aggregation".
//
// A is the accumulator. Use a pointer type (Add and Merge then update it
// in place and return it): a non-pointer A is boxed on every call.
type Aggregate[A any] interface {
	// New returns an empty accumulator.
	New() A
	// Add folds an event into acc and returns the result. Events come in
	// arrival order, which may differ from event-time order within the
	// bound of OutOfOrderness (and AllowedLateness): an aggregate that
	// depends on the order of events is exact only for events that arrive
	// in time order. t is valid during the call only: keep no reference to
	// it or to its Values (copy strings with strings.Clone), and do not
	// ack or fail it.
	Add(acc A, ts int64, t *sdk.Tuple) A
	// Merge folds b into a and returns the result; it may update a but
	// must not modify b, and the result must not share mutable state with
	// b. Every event of a is earlier in event time than every event of b:
	// Merge concatenates in time order. Sessions merge when an event
	// bridges them (that event is added to the earlier session first, so
	// the order is a, the event, b); sliding windows merge their panes.
	Merge(a, b A) A
	// Result is called once per window that fires, with its accumulator
	// (never empty: empty windows do not fire); it emits through out as a
	// Func does, and may use acc freely (the bolt drops it afterwards).
	Result(w Window, acc A, out *Output)
}

// AggregateFuncs is an Aggregate made of functions.
type AggregateFuncs[A any] struct {
	NewFunc    func() A
	AddFunc    func(acc A, ts int64, t *sdk.Tuple) A
	MergeFunc  func(a, b A) A
	ResultFunc func(w Window, acc A, out *Output)
}

func (f AggregateFuncs[A]) New() A                              { return f.NewFunc() }
func (f AggregateFuncs[A]) Add(acc A, ts int64, t *sdk.Tuple) A { return f.AddFunc(acc, ts, t) }
func (f AggregateFuncs[A]) Merge(a, b A) A                      { return f.MergeFunc(a, b) }
func (f AggregateFuncs[A]) Result(w Window, acc A, out *Output) { f.ResultFunc(w, acc, out) }

// NewAggregate returns a windowed bolt that aggregates incrementally with
// agg: one accumulator per open window instead of its events. Session and
// time windows only (Prepare rejects count windows). Configuration,
// firing, lateness, the late stream and acking are those of New; in
// AckOnReceipt mode (or with acking off) the bolt retains no input at
// all, in AckOnFire mode it still holds every input (a Clone) until its
// window fires, to anchor the result to it and ack it.
func NewAggregate[A any](cfg Config, agg Aggregate[A], opts ...Option) *Bolt {
	b := &Bolt{cfg: cfg, now: time.Now}
	if agg != nil {
		b.agg = aggAdapter[A]{agg}
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

// aggOps is an Aggregate with its accumulator type erased, for the
// engines.
type aggOps interface {
	newAcc() any
	add(acc any, ts int64, t *sdk.Tuple) any
	merge(a, b any) any
	result(w Window, acc any, out *Output)
}

type aggAdapter[A any] struct{ a Aggregate[A] }

func (x aggAdapter[A]) newAcc() any { return x.a.New() }
func (x aggAdapter[A]) add(acc any, ts int64, t *sdk.Tuple) any {
	return x.a.Add(acc.(A), ts, t)
}
func (x aggAdapter[A]) merge(a, b any) any { return x.a.Merge(a.(A), b.(A)) }
func (x aggAdapter[A]) result(w Window, acc any, out *Output) {
	x.a.Result(w, acc.(A), out)
}

// errAggregatePanic wraps a panic in Add or Merge.
func aggPanic(r any, key string, ts int64) error {
	return fmt.Errorf("window: panic in the aggregate's Add or Merge for key %q at %d: %v", key, ts, r)
}
