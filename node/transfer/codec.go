package transfer

import (
	"errors"
	"fmt"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// Errors of the data plane.
var (
	// ErrTaskNotHere means a tuple arrived for a task this node does not
	// run (it moved, or the sender's assignment is stale).
	ErrTaskNotHere = errors.New("task not hosted here")
	// ErrBadFrame means a frame broke the protocol; the message says how.
	ErrBadFrame = errors.New("malformed transfer frame")
	// ErrUnknownTopology means no topology run of that id is hosted here.
	ErrUnknownTopology = errors.New("unknown topology run")
)

// Sources resolves the shared description of a stream from the task that
// emitted a tuple and the stream id; nil if there is no such stream. The
// receiving runtime knows the topology, so streams travel by name only.
type Sources func(task int32, stream string) *sdk.Source

// AppendTuples appends the tuples of b, all addressed to dest, to tb.
func AppendTuples(tb *galev1.TupleBatch, dest int32, b *router.Batch) {
	for i := range b.Tuples {
		t := &b.Tuples[i]
		pt := &galev1.Tuple{SourceTask: t.SourceTask, DestTask: dest, Values: make([]*galev1.Value, len(t.Values))}
		if s := t.Source.Stream; s != sdk.DefaultStream {
			pt.Stream = s
		}
		for j, v := range t.Values {
			pt.Values[j] = sdk.ValueToProto(v)
		}
		if n := len(t.Anchors); n > 0 {
			pt.Roots = make([]uint64, n)
			pt.Edges = make([]uint64, n)
			for j, a := range t.Anchors {
				pt.Roots[j], pt.Edges[j] = a.Root, a.ID
			}
		}
		tb.Tuples = append(tb.Tuples, pt)
	}
}

// DecodeTuples decodes tb into batches, one per destination task, obtained
// from batchFor (called once per destination, in order of first
// appearance). It checks every tuple against the stream it names.
func DecodeTuples(tb *galev1.TupleBatch, sources Sources, batchFor func(dest int32) *router.Batch) error {
	var vals []sdk.Value
	for i, pt := range tb.GetTuples() {
		stream := pt.GetStream()
		if stream == "" {
			stream = sdk.DefaultStream
		}
		src := sources(pt.GetSourceTask(), stream)
		if src == nil {
			return fmt.Errorf("%w: tuple %d: task %d has no stream %q", ErrBadFrame, i, pt.GetSourceTask(), stream)
		}
		if len(pt.GetValues()) != len(src.Fields) {
			return fmt.Errorf("%w: tuple %d on %s/%s: %d values for fields %v", ErrBadFrame, i, src.Component, stream, len(pt.GetValues()), src.Fields)
		}
		if len(pt.GetRoots()) != len(pt.GetEdges()) {
			return fmt.Errorf("%w: tuple %d: %d roots but %d edges", ErrBadFrame, i, len(pt.GetRoots()), len(pt.GetEdges()))
		}
		vals = vals[:0]
		for _, v := range pt.GetValues() {
			vals = append(vals, sdk.ValueFromProto(v))
		}
		b := batchFor(pt.GetDestTask())
		t := b.AddTuple(src, pt.GetSourceTask(), vals, len(pt.GetRoots()))
		for j := range t.Anchors {
			t.Anchors[j] = sdk.Anchor{Root: pt.GetRoots()[j], ID: pt.GetEdges()[j]}
		}
	}
	return nil
}
