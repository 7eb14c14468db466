package wordcount_test

import (
	"context"
	"fmt"

	"github.com/gale-stream/gale/examples/wordcount"
	"github.com/gale-stream/gale/sdk"
)

// printer is a minimal sdk.Emitter that prints what a bolt emits.
type printer struct{}

func (printer) EmitBolt(_ string, _ []*sdk.Tuple, values []sdk.Value, _ int32) {
	fmt.Println(values[0].Str())
}
func (printer) EmitSpout(string, uint64, bool, []sdk.Value, int32) {}
func (printer) Ack(*sdk.Tuple)                                     { fmt.Println("(acked)") }
func (printer) Fail(*sdk.Tuple)                                    {}
func (printer) ReportError(error)                                  {}
func (printer) EndOfInput()                                        {}

// The split bolt lowercases a sentence and emits its runs of letters and
// digits, then acks the sentence.
func ExampleSplitSentence() {
	bolt := wordcount.NewSplitSentence()
	if err := bolt.Prepare(context.Background(), &sdk.TaskContext{}, sdk.NewBoltCollector(printer{})); err != nil {
		panic(err)
	}
	source := sdk.NewSource("sentences", sdk.DefaultStream, []string{"sentence"})
	bolt.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String("Ça va? A naïve abc123def, 42!")}, Source: source})
	// Output:
	// ça
	// va
	// a
	// naïve
	// abc123def
	// 42
	// (acked)
}
