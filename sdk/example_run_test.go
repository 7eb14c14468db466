package sdk_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/sdk"
)

// namesSpout emits a few names reliably, then declares end of input.
type namesSpout struct {
	out   *sdk.SpoutCollector
	names []string
}

func (s *namesSpout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("name") }
func (s *namesSpout) Open(_ context.Context, _ *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.out, s.names = out, []string{"ada", "grace", "edsger"}
	return nil
}
func (s *namesSpout) NextTuple() {
	if len(s.names) == 0 {
		s.out.End()
		return
	}
	s.out.Emit(uint64(len(s.names)), sdk.String(s.names[0]))
	s.names = s.names[1:]
}
func (s *namesSpout) Ack(uint64)   {}
func (s *namesSpout) Fail(uint64)  {}
func (s *namesSpout) Close() error { return nil }

// upperBolt emits its input in capitals, anchored, and acks it.
type upperBolt struct{ out *sdk.BoltCollector }

func (b *upperBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("name") }
func (b *upperBolt) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}
func (b *upperBolt) Execute(t *sdk.Tuple) {
	b.out.Emit(t, sdk.String(strings.ToUpper(t.Str(0))))
	b.out.Ack(t)
}
func (b *upperBolt) Cleanup() error { return nil }

var (
	seenMu sync.Mutex
	seen   []string
)

// printBolt collects what it sees; Finish runs at end of input.
type printBolt struct{ out *sdk.BoltCollector }

func (b *printBolt) DeclareOutputFields(*sdk.OutputDeclarer) {}
func (b *printBolt) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}
func (b *printBolt) Execute(t *sdk.Tuple) {
	seenMu.Lock()
	seen = append(seen, t.Str(0))
	seenMu.Unlock()
	b.out.Ack(t)
}
func (b *printBolt) Finish() error  { return nil }
func (b *printBolt) Cleanup() error { return nil }

// Example_run registers three components, builds a topology with the
// builder, and runs it in this process to its end.
func Example_run() {
	sdk.MustRegisterSpout("example.Names", func() sdk.Spout { return &namesSpout{} })
	sdk.MustRegisterBolt("example.Upper", func() sdk.Bolt { return &upperBolt{} })
	sdk.MustRegisterBolt("example.Print", func() sdk.Bolt { return &printBolt{} })

	b := sdk.NewTopologyBuilder("shout")
	b.SetSpout("names", "example.Names", 1)
	b.SetBolt("upper", "example.Upper", 2).ShuffleGrouping("names")
	b.SetBolt("print", "example.Print", 1).GlobalGrouping("upper")
	spec, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	rt, err := node.New(spec, node.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	sort.Strings(seen)
	fmt.Println(seen)
	// Output: [ADA EDSGER GRACE]
}
