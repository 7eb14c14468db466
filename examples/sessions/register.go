package sessions

import "github.com/gale-stream/gale/sdk"

// init registers the components, so that importing the package for its
// side effect is all a binary needs to run the sessions topology.
func init() {
	sdk.MustRegisterSpout(ClassSpout, func() sdk.Spout { return NewJSONLinesSpout() })
	sdk.MustRegisterBolt(ClassSessionize, func() sdk.Bolt { return NewSessionize() })
	sdk.DeclareConfigKeys(KeyInput, KeyOutput, KeyGapMS, KeyOutOfOrderness, KeyLateness, KeyTimeoutCheck, KeyBatch)
}

var _ sdk.Spout = (*JSONLinesSpout)(nil)
