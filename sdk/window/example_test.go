package window_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/window"
)

// printer is the runtime in this example: it prints what the bolt emits.
type printer struct{}

func (printer) EmitBolt(stream string, anchors []*sdk.Tuple, values []sdk.Value, _ int32) {
	fmt.Println(stream, values, "anchored to", len(anchors))
}
func (printer) EmitSpout(string, uint64, bool, []sdk.Value, int32) {}
func (printer) Ack(*sdk.Tuple)                                     {}
func (printer) Fail(*sdk.Tuple)                                    {}
func (printer) ReportError(error)                                  {}
func (printer) EndOfInput()                                        {}

func Example() {
	cfg := window.DefaultConfig()
	cfg.Window = window.Session(30 * time.Minute)
	cfg.KeyField, cfg.TimeField = "visitor", "ts"
	cfg.OutOfOrderness = 5 * time.Second
	cfg.OutputFields = []string{"visitor", "start", "end", "events"}
	cfg.LateFields = []string{"visitor", "ts"}
	cfg.TimeoutCheck = window.CheckOff // replayed data below, not live traffic
	b := window.New(cfg, func(w window.Window, events []*sdk.Tuple, out *window.Output) {
		out.Emit(sdk.String(w.Key), sdk.Int(w.Start), sdk.Int(w.End), sdk.Int(int64(len(events))))
	})
	tc := &sdk.TaskContext{Component: "sessionize", Config: sdk.Config{}}
	if err := b.Prepare(context.Background(), tc, sdk.NewBoltCollector(printer{})); err != nil {
		fmt.Println(err)
		return
	}
	src := sdk.NewSource("events", sdk.DefaultStream, []string{"visitor", "ts"})
	const min = 60_000
	for _, e := range []struct {
		v  string
		ts int64
	}{{"v1", 0}, {"v1", 10 * min}, {"v2", 20 * min}, {"v1", 40 * min}, {"v1", 75 * min}, {"v1", 30 * min}} {
		b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String(e.v), sdk.Int(e.ts)}, Source: src,
			Anchors: []sdk.Anchor{{Root: 1, ID: 1}}})
	}
	b.Finish()
	// Output:
	// default [v2 1200000 1200000 1] anchored to 1
	// default [v1 0 2400000 3] anchored to 3
	// late [v1 1800000] anchored to 1
	// default [v1 4500000 4500000 1] anchored to 1
}
