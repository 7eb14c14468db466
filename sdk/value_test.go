package sdk

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestWireSizeIsNotBelowTheEncoding: senders bound frames with WireSize,
// so it must not be below what the values take in an Attach Emit (the
// larger of Gale's two encodings of values).
func TestWireSizeIsNotBelowTheEncoding(t *testing.T) {
	for _, vs := range [][]Value{
		nil,
		{Null()},
		{Int(-1), Double(1.5), Bool(true)},
		{String(""), Bytes(nil)},
		{String("word"), Int(1 << 62)},
		{String(strings.Repeat("x", 200)), Bytes(make([]byte, 70000))},
		{String(strings.Repeat("y", 3<<20))},
	} {
		em := &galev1.Emit{}
		for _, v := range vs {
			em.Values = append(em.Values, ValueToProto(v))
		}
		if got, enc := WireSize(vs), proto.Size(em); got < enc {
			t.Errorf("WireSize = %d, below the %d bytes of the encoding (%d values)", got, enc, len(vs))
		}
		data := 0
		for _, v := range vs {
			s, _ := v.Raw()
			data += len(s)
		}
		if got := DataSize(vs); got != data {
			t.Errorf("DataSize = %d, want the %d bytes of string and bytes data", got, data)
		}
	}
}
