package sdk

import (
	"errors"
	"math"
	"strings"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/spec"
	"google.golang.org/protobuf/proto"
)

func TestValueProtoRoundTrip(t *testing.T) {
	for _, v := range []Value{
		Null(), String(""), String("héllo"), Int(0), Int(math.MinInt64), Int(math.MaxInt64),
		Double(0), Double(-1.5), Double(math.Inf(-1)), Double(math.NaN()), Double(math.Copysign(0, -1)),
		Bool(true), Bool(false), Bytes(nil), Bytes([]byte{0, 1, 255}),
	} {
		p := ValueToProto(v)
		if got := ValueFromProto(p); !got.Equal(v) {
			t.Errorf("%v (%v): round trip gave %v (%v)", v, v.Kind(), got, got.Kind())
		}
		// And through the wire.
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		back := &galev1.Value{}
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		if got := ValueFromProto(back); !got.Equal(v) {
			t.Errorf("%v: wire round trip gave %v", v, got)
		}
	}
	// Each kind maps to the matching oneof case.
	for v, want := range map[Kind]*galev1.Value{
		KindNull:   {},
		KindString: {Kind: &galev1.Value_StringValue{StringValue: "s"}},
		KindInt:    {Kind: &galev1.Value_IntValue{IntValue: 1}},
		KindDouble: {Kind: &galev1.Value_DoubleValue{DoubleValue: 1}},
		KindBool:   {Kind: &galev1.Value_BoolValue{BoolValue: true}},
		KindBytes:  {Kind: &galev1.Value_BytesValue{BytesValue: []byte("b")}},
	} {
		val := map[Kind]Value{KindNull: Null(), KindString: String("s"), KindInt: Int(1), KindDouble: Double(1), KindBool: Bool(true), KindBytes: Bytes([]byte("b"))}[v]
		if got := ValueToProto(val); !proto.Equal(got, want) {
			t.Errorf("ValueToProto(%v) = %v, want %v", v, got, want)
		}
		if got := ValueFromProto(want); got.Kind() != v {
			t.Errorf("ValueFromProto(%v) has kind %v", want, got.Kind())
		}
	}
	if !ValueFromProto(nil).IsNull() {
		t.Error("ValueFromProto(nil) is not null")
	}
	// Bytes are copied both ways.
	raw := []byte("abc")
	p := ValueToProto(BytesNoCopy(raw))
	raw[0] = 'X'
	if string(p.GetBytesValue()) != "abc" {
		t.Error("ValueToProto shares bytes")
	}
	v := ValueFromProto(p)
	p.GetBytesValue()[1] = 'Y'
	if string(v.BytesValue()) != "abc" {
		t.Error("ValueFromProto shares bytes")
	}
}

func TestConfigProto(t *testing.T) {
	c := Config{"a": Int(1), "b": String("x"), "c": Null(), "d": Double(2.5), "e": Bool(true), "f": Bytes([]byte("z"))}
	back := ConfigFromProto(ConfigToProto(c))
	if len(back) != len(c) {
		t.Fatalf("round trip = %v", back)
	}
	for k, v := range c {
		if !back[k].Equal(v) {
			t.Errorf("%s: %v != %v", k, back[k], v)
		}
	}
	if ConfigToProto(nil) != nil {
		t.Error("ConfigToProto(nil) != nil")
	}
	empty := ConfigFromProto(nil)
	if empty == nil {
		t.Fatal("ConfigFromProto(nil) is nil")
	}
	empty["x"] = Int(1) // writable
	got := ConfigFromProto(map[string]*galev1.Value{"n": nil})
	if !got.Has("n") || !got["n"].IsNull() {
		t.Errorf("nil value = %v", got)
	}
	// Typed getters work on loaded config.
	if n, err := back.Int("a", 0); err != nil || n != 1 {
		t.Errorf("Int = %v, %v", n, err)
	}
}

func TestRegistryResolver(t *testing.T) {
	r := RegistryResolver{}
	outs, err := r.Outputs(galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.Split")
	if err != nil || len(outs) != 2 || outs[1].Id != "direct" || !outs[1].Direct {
		t.Errorf("Outputs(Split) = %v, %v", outs, err)
	}
	outs, err = r.Outputs(galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.Sink")
	if err != nil || len(outs) != 0 {
		t.Errorf("Outputs(Sink) = %v, %v", outs, err)
	}
	for _, tc := range []struct {
		kind  galev1.ComponentKind
		class string
		want  string
	}{
		{galev1.ComponentKind_COMPONENT_KIND_SPOUT, "sdktest.Split", `unknown spout class "sdktest.Split": it is registered as a bolt`},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.Spout", `unknown bolt class "sdktest.Spout": it is registered as a spout`},
		{galev1.ComponentKind_COMPONENT_KIND_SPOUT, "x.Nope", `unknown spout class "x.Nope" (registered spouts: `},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "x.Nope", `unknown bolt class "x.Nope" (registered bolts: `},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "x.Nope", `; a class of your own runs in a program that imports its package, or as a process of its own named with run: (see sdk/attach)`},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.Splt", `unknown bolt class "sdktest.Splt" (did you mean "sdktest.Split"? registered bolts: `},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.DeclarePanics", `bolt class "sdktest.DeclarePanics": DeclareOutputFields panicked: declare exploded`},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.FactoryPanics", `bolt class "sdktest.FactoryPanics": its factory panicked: factory exploded`},
		{galev1.ComponentKind_COMPONENT_KIND_BOLT, "sdktest.FactoryNil", `its factory returned nil`},
		{galev1.ComponentKind_COMPONENT_KIND_UNSPECIFIED, "sdktest.Spout", `cannot resolve class "sdktest.Spout"`},
	} {
		_, err := r.Outputs(tc.kind, tc.class)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Outputs(%v, %s) error = %v, want %q", tc.kind, tc.class, err, tc.want)
		}
	}
	_, err = r.Outputs(galev1.ComponentKind_COMPONENT_KIND_SPOUT, "x.Nope")
	if !strings.Contains(err.Error(), "sdktest.Spout") || strings.Contains(err.Error(), "sdktest.Sink") {
		t.Errorf("the spout list should name spouts only: %v", err)
	}
}

func TestLoadTopology(t *testing.T) {
	path := writeFile(t, "t.yaml", `name: t
config: {a: 1}
spouts:
  - id: s
    class: sdktest.Spout
bolts:
  - id: k
    class: sdktest.Count
    inputs: [{from: s, grouping: fields, fields: [sentence]}]
`)
	s, err := LoadTopology(path, map[string]*galev1.Value{"a": ValueToProto(String("x"))})
	if err != nil {
		t.Fatal(err)
	}
	if got := ConfigFromProto(s.Config)["a"]; !got.Equal(String("x")) {
		t.Errorf("override: a = %v", got)
	}
	if len(s.Components[1].Outputs) != 1 || s.Components[1].Outputs[0].Fields[1] != "count" {
		t.Errorf("count outputs = %v", s.Components[1].Outputs)
	}

	// Kind mix-ups are reported at the class line, in the words of the
	// resolver.
	path = writeFile(t, "bad.yaml", `name: t
spouts:
  - id: s
    class: sdktest.Split
bolts:
  - id: k
    class: sdktest.Spout
    inputs: [{from: s, grouping: shuffle}]
`)
	_, err = LoadTopology(path, nil)
	var list spec.ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		path + `:4:12: spout 's': unknown spout class "sdktest.Split": it is registered as a bolt`,
		path + `:7:12: bolt 'k': unknown bolt class "sdktest.Spout": it is registered as a spout`,
	}
	for i, w := range want {
		if list[i].Error() != w {
			t.Errorf("error %d = %q, want %q", i, list[i].Error(), w)
		}
	}
}
