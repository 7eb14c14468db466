package sdk

// Emitter is the runtime behind the collectors. It is implemented by the
// Gale runtime (package node) and by test harnesses, never by components.
// Calls come from the task's own goroutine only. The slices passed in are
// owned by the collector and reused after the call returns.
type Emitter interface {
	// EmitBolt emits values on stream, anchored to anchors (may be empty),
	// to directTask when >= 1 (direct streams).
	EmitBolt(stream string, anchors []*Tuple, values []Value, directTask int32)
	// EmitSpout emits values on stream; reliable emits are tracked under
	// msgID.
	EmitSpout(stream string, msgID uint64, reliable bool, values []Value, directTask int32)
	// Ack acks an input tuple.
	Ack(t *Tuple)
	// Fail fails an input tuple.
	Fail(t *Tuple)
	// ReportError records an error in the task's status without stopping it.
	ReportError(err error)
	// EndOfInput declares that a spout will emit nothing new.
	EndOfInput()
}

// TimeoutResetter is implemented by an Emitter whose runtime times out
// tuple trees (Gale's, in process and over the Attach stream), for
// BoltCollector.ResetTimeout. It is optional, so that test harnesses need
// not implement it.
type TimeoutResetter interface {
	// ResetTimeout starts the message timeout of t's trees again.
	ResetTimeout(t *Tuple)
}

// SpoutCollector is what a spout emits through. Not safe for concurrent use:
// call it from the spout's own methods only.
type SpoutCollector struct {
	e    Emitter
	vals []Value
}

// NewSpoutCollector wraps the runtime's emitter; used by runtimes and tests.
func NewSpoutCollector(e Emitter) *SpoutCollector { return &SpoutCollector{e: e} }

// Emit emits a reliable tuple on the default stream: its tree is tracked and
// the spout's Ack or Fail is called with msgID.
func (c *SpoutCollector) Emit(msgID uint64, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitSpout("", msgID, true, c.vals, 0)
}

// EmitTo emits a reliable tuple on a named stream.
func (c *SpoutCollector) EmitTo(stream string, msgID uint64, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitSpout(stream, msgID, true, c.vals, 0)
}

// EmitUnreliable emits an untracked tuple on the default stream
// (at-most-once).
func (c *SpoutCollector) EmitUnreliable(values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitSpout("", 0, false, c.vals, 0)
}

// EmitUnreliableTo emits an untracked tuple on a named stream
// (at-most-once).
func (c *SpoutCollector) EmitUnreliableTo(stream string, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitSpout(stream, 0, false, c.vals, 0)
}

// EmitDirect emits a reliable tuple on a direct stream to one task.
func (c *SpoutCollector) EmitDirect(task int32, stream string, msgID uint64, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitSpout(stream, msgID, true, c.vals, task)
}

// End declares end of input: the spout will emit nothing new, though it may
// still replay failed messages. Once every tree completed or failed for
// good, downstream bolts see end of input (Finisher) and a local run ends.
// "For good" is judged by the calls: the spout ends at the first NextTuple
// after End that emits nothing while none of its messages is pending, so
// a spout replays a failed message in the first NextTuple after its Fail
// (not when a rate limiter allows), or calls End only once all its
// messages completed.
func (c *SpoutCollector) End() { c.e.EndOfInput() }

// ReportError records an error in the task's status.
func (c *SpoutCollector) ReportError(err error) { c.e.ReportError(err) }

// BoltCollector is what a bolt emits, acks and fails through. Not safe for
// concurrent use: call it from the bolt's own methods only.
type BoltCollector struct {
	e       Emitter
	vals    []Value
	anchor1 [1]*Tuple
}

// NewBoltCollector wraps the runtime's emitter; used by runtimes and tests.
func NewBoltCollector(e Emitter) *BoltCollector { return &BoltCollector{e: e} }

// Emit emits on the default stream, anchored to anchor (nil: unanchored).
func (c *BoltCollector) Emit(anchor *Tuple, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitBolt("", c.one(anchor), c.vals, 0)
}

// EmitTo emits on a named stream, anchored to anchor (nil: unanchored).
func (c *BoltCollector) EmitTo(stream string, anchor *Tuple, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitBolt(stream, c.one(anchor), c.vals, 0)
}

// EmitAnchored emits on a stream anchored to several input tuples
// (multi-anchoring: the tuple completes a part of each of their trees).
func (c *BoltCollector) EmitAnchored(stream string, anchors []*Tuple, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitBolt(stream, anchors, c.vals, 0)
}

// EmitDirect emits on a direct stream to one task, anchored to anchor.
func (c *BoltCollector) EmitDirect(task int32, stream string, anchor *Tuple, values ...Value) {
	c.vals = appendValues(c.vals[:0], values)
	c.e.EmitBolt(stream, c.one(anchor), c.vals, task)
}

// Ack acks an input tuple: this task is done with it.
func (c *BoltCollector) Ack(t *Tuple) { c.e.Ack(t) }

// Fail fails an input tuple: its tree fails and the spout may replay it.
func (c *BoltCollector) Fail(t *Tuple) { c.e.Fail(t) }

// ResetTimeout says that the bolt still holds t and works on it (Storm's
// resetTimeout): the message timeout (topology.message.timeout.secs) of
// t's trees starts again, and their spouts do not replay them meanwhile.
// A bolt that keeps an input longer than the timeout on purpose (a window
// until it fires, a batch until it is written, a slow call) calls it at
// intervals shorter than the timeout, a third of it say, until it acks
// or fails t. A tick tuple, a tuple without trees and acking off make it
// do nothing, and so does an Emitter that tracks no timeouts (a test
// harness that does not implement TimeoutResetter).
func (c *BoltCollector) ResetTimeout(t *Tuple) {
	if r, ok := c.e.(TimeoutResetter); ok {
		r.ResetTimeout(t)
	}
}

// ReportError records an error in the task's status.
func (c *BoltCollector) ReportError(err error) { c.e.ReportError(err) }

func (c *BoltCollector) one(anchor *Tuple) []*Tuple {
	if anchor == nil {
		return nil
	}
	c.anchor1[0] = anchor
	return c.anchor1[:]
}

// appendValues appends src to dst one value at a time: for the few values
// of a tuple that is several times faster than append(dst, src...), which
// calls the runtime's typed copy (a write-barrier pass and a memmove) for
// each tuple.
func appendValues(dst, src []Value) []Value {
	for i := range src {
		dst = append(dst, src[i])
	}
	return dst
}
