package failover

import "github.com/gale-stream/gale/sdk"

// init registers the components, so that importing the package for its side
// effect is all a binary needs to run the failover topology.
func init() {
	sdk.MustRegisterSpout(ClassSequenceSpout, func() sdk.Spout { return NewSequenceSpout() })
	sdk.MustRegisterBolt(ClassPassThrough, func() sdk.Bolt { return NewPassThrough() })
	sdk.MustRegisterBolt(ClassFileSink, func() sdk.Bolt { return NewFileSink() })
	sdk.DeclareConfigKeys(KeyCount, KeyRate, KeySinkDir, KeySinkSync, KeySinkField)
}

// The components implement the SDK interfaces the runtime checks for.
var (
	_ sdk.Spout = (*SequenceSpout)(nil)
	_ sdk.Bolt  = (*PassThrough)(nil)
	_ sdk.Bolt  = (*FileSink)(nil)
)
