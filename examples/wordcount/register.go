package wordcount

import "github.com/gale-stream/gale/sdk"

// init registers the components, so that importing the package for its side
// effect is all a binary needs to run the word count topology.
func init() {
	sdk.MustRegisterSpout(ClassSentenceSpout, func() sdk.Spout { return NewSentenceSpout() })
	sdk.MustRegisterBolt(ClassSplitSentence, func() sdk.Bolt { return NewSplitSentence() })
	sdk.MustRegisterBolt(ClassWordCount, func() sdk.Bolt { return NewWordCount() })
	sdk.DeclareConfigKeys(KeyInput, KeyOutput, KeyBatch, KeyRate, KeyMaxRetries)
}

// The components implement the SDK interfaces the runtime checks for.
var (
	_ sdk.Spout    = (*SentenceSpout)(nil)
	_ sdk.Bolt     = (*SplitSentence)(nil)
	_ sdk.Bolt     = (*WordCount)(nil)
	_ sdk.Finisher = (*WordCount)(nil)
)
