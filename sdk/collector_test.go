package sdk_test

import (
	"reflect"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

// spoutEmits records what a spout's collector passes on.
type spoutEmits struct {
	sdk.Emitter // unused methods
	got         []string
}

func (e *spoutEmits) EmitSpout(stream string, msgID uint64, reliable bool, values []sdk.Value, direct int32) {
	e.got = append(e.got, stream+"/"+values[0].String()+map[bool]string{true: " reliable", false: " unreliable"}[reliable])
}

func TestSpoutCollectorEmits(t *testing.T) {
	e := &spoutEmits{}
	c := sdk.NewSpoutCollector(e)
	c.Emit(1, sdk.String("a"))
	c.EmitTo("s", 2, sdk.String("b"))
	c.EmitUnreliable(sdk.String("c"))
	c.EmitUnreliableTo("s", sdk.String("d"))
	want := []string{"/a reliable", "s/b reliable", "/c unreliable", "s/d unreliable"}
	if !reflect.DeepEqual(e.got, want) {
		t.Fatalf("emits %v, want %v", e.got, want)
	}
}

// A tuple made by hand, without a source (in a bolt's unit test), has no
// fields by name: Field says so rather than panicking.
func TestFieldOfATupleWithoutASource(t *testing.T) {
	if v, ok := (&sdk.Tuple{Values: []sdk.Value{sdk.Int(1)}}).Field("id"); ok {
		t.Fatalf("Field = %v, true; want false", v)
	}
}
