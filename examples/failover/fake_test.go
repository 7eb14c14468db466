package failover

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/gale-stream/gale/sdk"
)

// spoutEmit is one recorded EmitSpout call.
type spoutEmit struct {
	stream   string
	msgID    uint64
	reliable bool
	values   []sdk.Value
	direct   int32
}

// boltEmit is one recorded EmitBolt call.
type boltEmit struct {
	stream  string
	anchors []*sdk.Tuple
	values  []sdk.Value
	direct  int32
}

// fakeEmitter is the runtime in these tests: it records everything a
// component does. The collectors reuse the slices they pass, so it copies.
type fakeEmitter struct {
	spout []spoutEmit
	bolt  []boltEmit
	acks  []*sdk.Tuple
	fails []*sdk.Tuple
	errs  []error
	ends  int
	// order logs "emit"/"ack"/"fail"/"error" to check what comes first.
	order []string
	// onAck, when set, runs at each ack, before it is recorded.
	onAck func(t *sdk.Tuple)
}

var _ sdk.Emitter = (*fakeEmitter)(nil)

func (f *fakeEmitter) EmitBolt(stream string, anchors []*sdk.Tuple, values []sdk.Value, direct int32) {
	f.bolt = append(f.bolt, boltEmit{stream, slices.Clone(anchors), slices.Clone(values), direct})
	f.order = append(f.order, "emit")
}

func (f *fakeEmitter) EmitSpout(stream string, msgID uint64, reliable bool, values []sdk.Value, direct int32) {
	f.spout = append(f.spout, spoutEmit{stream, msgID, reliable, slices.Clone(values), direct})
}

func (f *fakeEmitter) Ack(t *sdk.Tuple) {
	if f.onAck != nil {
		f.onAck(t)
	}
	f.acks = append(f.acks, t)
	f.order = append(f.order, "ack")
}

func (f *fakeEmitter) Fail(t *sdk.Tuple) {
	f.fails = append(f.fails, t)
	f.order = append(f.order, "fail")
}

func (f *fakeEmitter) ReportError(err error) {
	f.errs = append(f.errs, err)
	f.order = append(f.order, "error")
}

func (f *fakeEmitter) EndOfInput() { f.ends++ }

// takeSpout returns and forgets the spout emits recorded so far.
func (f *fakeEmitter) takeSpout() []spoutEmit {
	e := f.spout
	f.spout = nil
	return e
}

// spoutIDs returns the "id" values of the recorded spout emits.
func (f *fakeEmitter) spoutIDs() []int64 {
	var ids []int64
	for _, e := range f.spout {
		ids = append(ids, e.values[0].Int())
	}
	return ids
}

// newTC returns the context of task index of tasks tasks of component, with
// conf as its config. Global task ids are 10+index, so that they differ from
// the indexes.
func newTC(component string, index, tasks int, conf map[string]any) *sdk.TaskContext {
	c := sdk.Config{}
	for k, v := range conf {
		val, ok := sdk.Of(v)
		if !ok {
			panic(fmt.Sprintf("config %s: unsupported %T", k, v))
		}
		c[k] = val
	}
	ids := make([]int32, tasks)
	for i := range ids {
		ids[i] = int32(10 + i)
	}
	return &sdk.TaskContext{
		Topology:       "failover",
		TopologyID:     "failover-test-1",
		Component:      component,
		TaskID:         int32(10 + index),
		TaskIndex:      int32(index),
		Config:         c,
		ComponentTasks: map[string][]int32{component: ids},
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// Sources of the tuples the tests feed to bolts.
var (
	seqSource  = sdk.NewSource("seq", sdk.DefaultStream, []string{FieldID})
	passSource = sdk.NewSource("pass", sdk.DefaultStream, []string{FieldID})
)

// idTuple is an input tuple with field "id" from src, in tree root.
func idTuple(src *sdk.Source, id int64, root uint64) *sdk.Tuple {
	return &sdk.Tuple{Values: []sdk.Value{sdk.Int(id)}, Source: src, SourceTask: 10, Anchors: []sdk.Anchor{{Root: root, ID: root ^ 0x5a5a}}}
}

// tickTuple is a tick tuple.
func tickTuple() *sdk.Tuple { return &sdk.Tuple{Source: sdk.TickSource} }
