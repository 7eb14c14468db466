package failover

import (
	"context"
	"fmt"

	"github.com/gale-stream/gale/sdk"
)

// PassThrough re-emits the "id" field of each input anchored to it, then
// acks the input: it makes every tuple tree two hops long. Driven from one
// goroutine, like every bolt.
type PassThrough struct {
	out *sdk.BoltCollector
	ids fieldIndex
}

// NewPassThrough returns a bolt to be prepared by Prepare.
func NewPassThrough() *PassThrough { return &PassThrough{} }

// DeclareOutputFields declares the default stream with field "id".
func (p *PassThrough) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare(FieldID) }

// Prepare keeps the collector.
func (p *PassThrough) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	p.out = out
	return nil
}

// Execute re-emits the id anchored to t and acks t. Ticks are acked; an
// input without an "id" field is reported and acked, since replaying it
// could not help.
func (p *PassThrough) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		p.out.Ack(t)
		return
	}
	v, ok := p.ids.get(t)
	if !ok {
		p.out.ReportError(fmt.Errorf("%s: input from %s/%s has no %q field (fields %q); acked and dropped",
			ClassPassThrough, t.Component(), t.Stream(), FieldID, t.Source.Fields))
		p.out.Ack(t)
		return
	}
	p.out.Emit(t, v)
	p.out.Ack(t)
}

// Cleanup does nothing: the bolt holds no resources.
func (p *PassThrough) Cleanup() error { return nil }

// fieldIndex finds a field of a tuple by name (FieldID when name is
// empty), remembering the
// position for the last Source seen, so the common case (one input
// stream) costs a pointer comparison rather than a map lookup.
type fieldIndex struct {
	name string
	src  *sdk.Source
	i    int
}

func (f *fieldIndex) get(t *sdk.Tuple) (sdk.Value, bool) {
	if t.Source != f.src || f.src == nil {
		f.src, f.i = t.Source, -1
		if t.Source != nil {
			name := f.name
			if name == "" {
				name = FieldID
			}
			f.i = t.Source.FieldIndex(name)
		}
	}
	if f.i < 0 || f.i >= len(t.Values) {
		return sdk.Value{}, false
	}
	return t.Values[f.i], true
}
