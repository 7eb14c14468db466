package window

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/gale-stream/gale/sdk"
)

type boltEmit struct {
	stream  string
	anchors []*sdk.Tuple
	values  []sdk.Value
}

type step struct {
	kind string // emit, ack, fail
	i    int    // index into bolt, acks or fails
}

// fakeEmitter records what a bolt does; the collectors reuse the slices
// they pass, so it copies.
type fakeEmitter struct {
	bolt  []boltEmit
	acks  []*sdk.Tuple
	fails []*sdk.Tuple
	// resets are the inputs whose timeout was reset (ResetTimeout).
	resets []*sdk.Tuple
	errs   []error
	order  []step
}

func (f *fakeEmitter) EmitBolt(stream string, anchors []*sdk.Tuple, values []sdk.Value, _ int32) {
	f.order = append(f.order, step{"emit", len(f.bolt)})
	f.bolt = append(f.bolt, boltEmit{stream, slices.Clone(anchors), slices.Clone(values)})
}
func (f *fakeEmitter) EmitSpout(string, uint64, bool, []sdk.Value, int32) {}
func (f *fakeEmitter) Ack(t *sdk.Tuple) {
	f.order = append(f.order, step{"ack", len(f.acks)})
	f.acks = append(f.acks, t)
}
func (f *fakeEmitter) Fail(t *sdk.Tuple) {
	f.order = append(f.order, step{"fail", len(f.fails)})
	f.fails = append(f.fails, t)
}
func (f *fakeEmitter) ResetTimeout(t *sdk.Tuple) { f.resets = append(f.resets, t) }
func (f *fakeEmitter) ReportError(err error)     { f.errs = append(f.errs, err) }
func (f *fakeEmitter) EndOfInput()               {}

// testTC is the context of task 10 of component "sessions", fed by task 1
// of component "events", with conf as its config.
func testTC(conf map[string]any) *sdk.TaskContext {
	c := sdk.Config{}
	for k, v := range conf {
		val, ok := sdk.Of(v)
		if !ok {
			panic(fmt.Sprintf("config %s: unsupported %T", k, v))
		}
		c[k] = val
	}
	return &sdk.TaskContext{
		Topology: "test", TopologyID: "test-1", Component: "sessions", TaskID: 10,
		Config:         c,
		ComponentTasks: map[string][]int32{"events": {1}, "sessions": {10}},
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}
