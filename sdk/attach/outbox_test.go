package attach

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

// TestALargeEmitStartsAFrameOfItsOwn: an emit that would take the open
// frame over the 16 MiB a node receives goes in the next frame.
func TestALargeEmitStartsAFrameOfItsOwn(t *testing.T) {
	var o outbox
	for _, v := range []string{strings.Repeat("a", 900_000), strings.Repeat("b", 16<<20-200_000), "c"} {
		vals := []sdk.Value{sdk.String(v)}
		o.emit(&galev1.Emit{Values: []*galev1.Value{sdk.ValueToProto(vals[0])}}, sdk.WireSize(vals))
	}
	frames := o.take()
	var firsts []string
	for _, f := range frames {
		if n := proto.Size(f); n > 16<<20 {
			t.Errorf("a frame of %d bytes", n)
		}
		var s string
		for _, em := range f.GetEmits().GetEmits() {
			s += em.GetValues()[0].GetStringValue()[:1]
		}
		firsts = append(firsts, s)
	}
	if !slices.Equal(firsts, []string{"a", "b", "c"}) {
		t.Errorf("frames hold %q, want a, b, c apart", firsts)
	}
}
