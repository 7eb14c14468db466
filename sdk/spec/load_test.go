package spec

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Value constructors for expected specs.
func vInt(i int64) *galev1.Value { return &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: i}} }
func vStr(s string) *galev1.Value {
	return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: s}}
}
func vDbl(f float64) *galev1.Value {
	return &galev1.Value{Kind: &galev1.Value_DoubleValue{DoubleValue: f}}
}
func vBool(b bool) *galev1.Value { return &galev1.Value{Kind: &galev1.Value_BoolValue{BoolValue: b}} }
func vBytes(b []byte) *galev1.Value {
	return &galev1.Value{Kind: &galev1.Value_BytesValue{BytesValue: b}}
}
func vNull() *galev1.Value { return &galev1.Value{} }

const (
	spout = galev1.ComponentKind_COMPONENT_KIND_SPOUT
	bolt  = galev1.ComponentKind_COMPONENT_KIND_BOLT
)

func class(c string) *galev1.ComponentSpec_Class { return &galev1.ComponentSpec_Class{Class: c} }

func input(from, stream string, t galev1.GroupingType, fields ...string) *galev1.InputSpec {
	return &galev1.InputSpec{Component: from, Stream: stream, Grouping: &galev1.Grouping{Type: t, Fields: fields}}
}

func stream(id string, direct bool, fields ...string) *galev1.StreamSpec {
	return &galev1.StreamSpec{Id: id, Fields: fields, Direct: direct}
}

// wantWordcount is testdata/wordcount.yaml as a proto.
func wantWordcount() *galev1.TopologySpec {
	return &galev1.TopologySpec{
		Name:   "wordcount",
		Source: "testdata/wordcount.yaml",
		Config: map[string]*galev1.Value{
			"topology.acker.executors":      vInt(2),
			"topology.message.timeout.secs": vDbl(1.5),
			"wordcount.debug":               vBool(false),
			"wordcount.input":               vStr(""),
			"wordcount.nothing":             vNull(),
		},
		Components: []*galev1.ComponentSpec{
			{
				Id: "sentences", Kind: spout, Parallelism: 1,
				Implementation: class("wordcount.SentenceSpout"),
				Outputs:        []*galev1.StreamSpec{stream("default", false, "sentence")},
				Config:         map[string]*galev1.Value{"wordcount.x": vInt(1)},
			},
			{
				Id: "split", Kind: bolt, Parallelism: 2,
				Implementation: class("wordcount.SplitSentence"),
				Outputs:        []*galev1.StreamSpec{stream("default", false, "word")},
				Inputs:         []*galev1.InputSpec{input("sentences", "default", galev1.GroupingType_GROUPING_TYPE_SHUFFLE)},
			},
			{
				Id: "count", Kind: bolt, Parallelism: 2,
				Implementation: class("wordcount.WordCount"),
				Outputs:        []*galev1.StreamSpec{stream("default", false, "word", "count")},
				Inputs:         []*galev1.InputSpec{input("split", "", galev1.GroupingType_GROUPING_TYPE_FIELDS, "word")},
			},
			{
				Id: "ext", Kind: bolt, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Command{Command: &galev1.ExternalCommand{
					Argv:     []string{"python3", "split.py"},
					Dir:      "scripts",
					Env:      map[string]string{"PYTHONUNBUFFERED": "1", "MODE": "fast"},
					Protocol: galev1.ExternalProtocol_EXTERNAL_PROTOCOL_STORM_MULTILANG,
				}},
				Outputs: []*galev1.StreamSpec{stream("default", false, "word"), stream("errors", true, "msg")},
				Inputs:  []*galev1.InputSpec{input("sentences", "", galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE)},
			},
			{
				Id: "attached-bolt", Kind: bolt, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Attached{Attached: &galev1.AttachedComponent{Token: "secret"}},
				Outputs:        []*galev1.StreamSpec{stream("default", false, "x")},
				Inputs: []*galev1.InputSpec{
					input("sentences", "", galev1.GroupingType_GROUPING_TYPE_ALL),
					input("ext", "errors", galev1.GroupingType_GROUPING_TYPE_DIRECT),
				},
			},
		},
	}
}

func TestLoadFullExample(t *testing.T) {
	r := newFakeResolver()
	got, err := Load("testdata/wordcount.yaml", r, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := wantWordcount()
	// Load makes command dirs absolute, relative to the file's folder.
	abs, _ := filepath.Abs("testdata/scripts")
	want.Components[3].GetCommand().Dir = abs
	if !proto.Equal(got, want) {
		t.Errorf("spec differs from the expected one:\ngot:\n%s\nwant:\n%s", prototext.Format(got), prototext.Format(want))
	}
	if r.calls != 3 {
		t.Errorf("resolver called %d times, want 3 (once per class component)", r.calls)
	}
	// The result is valid by the same rules, and survives the wire.
	if errs := Validate(got); len(errs) > 0 {
		t.Errorf("Validate(loaded spec) = %v", errs)
	}
	b, err := proto.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back := &galev1.TopologySpec{}
	if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, got) {
		t.Errorf("wire round trip changed the spec (err %v)", err)
	}
}

func TestFluxStreamsWiring(t *testing.T) {
	r := newFakeResolver()
	flux, err := Load("testdata/flux.yaml", r, nil)
	if err != nil {
		t.Fatalf("Load flux: %v", err)
	}
	plain, err := Load("testdata/flux_inputs.yaml", r, nil)
	if err != nil {
		t.Fatalf("Load inputs: %v", err)
	}
	plain.Source = flux.Source
	if !proto.Equal(flux, plain) {
		t.Errorf("streams: and inputs: give different specs:\nstreams:\n%s\ninputs:\n%s", prototext.Format(flux), prototext.Format(plain))
	}
}

func TestFluxStreamsAppendAfterInputs(t *testing.T) {
	data := lines(
		"name: t",
		"spouts:",
		"  - {id: s, class: test.TwoStreams}",
		"bolts:",
		"  - id: b",
		"    class: wordcount.WordCount",
		"    inputs: [{from: s, grouping: shuffle}]",
		"streams:",
		"  - {from: s, to: b, grouping: {type: partial_key, args: [c], streamId: side}}",
	)
	s, err := Parse("t.yaml", data, newFakeResolver(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []*galev1.InputSpec{
		input("s", "", galev1.GroupingType_GROUPING_TYPE_SHUFFLE),
		input("s", "side", galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY, "c"),
	}
	got := s.Components[1].Inputs
	if len(got) != len(want) {
		t.Fatalf("inputs = %v", got)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("input %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	s, err := Load("testdata/anchors.yaml", newFakeResolver(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Components[0].Config; !proto.Equal(got["app.retries"], vInt(5)) || !proto.Equal(got["app.region"], vStr("eu")) {
		t.Errorf("merged config = %v", got)
	}
	if len(s.Components) != 4 {
		t.Fatalf("components = %d, want 4", len(s.Components))
	}
	split2 := s.Components[2]
	if split2.Id != "split2" || split2.Parallelism != 2 || split2.GetClass() != "wordcount.SplitSentence" || len(split2.Inputs) != 1 {
		t.Errorf("split2 (merged from split) = %v", split2)
	}
}

func TestOverrides(t *testing.T) {
	data := lines(
		"name: t",
		"config: {a: 1, b: x}",
		"spouts: [{id: s, class: wordcount.SentenceSpout}]",
	)
	ov := map[string]*galev1.Value{"a": vStr("over"), "c": vBool(true), "d": nil}
	s, err := Parse("t.yaml", data, newFakeResolver(), ov)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*galev1.Value{"a": vStr("over"), "b": vStr("x"), "c": vBool(true), "d": vNull()}
	if !proto.Equal(&galev1.TopologySpec{Config: s.Config}, &galev1.TopologySpec{Config: want}) {
		t.Errorf("config = %v, want %v", s.Config, want)
	}
	if s.Source != "t.yaml" {
		t.Errorf("source = %q", s.Source)
	}
	ov["a"].Kind = &galev1.Value_IntValue{IntValue: 9}
	if !proto.Equal(s.Config["a"], vStr("over")) {
		t.Error("the spec shares override values with the caller")
	}

	// Overrides are validated like file config.
	_, err = Parse("t.yaml", data, newFakeResolver(), map[string]*galev1.Value{"": vInt(1)})
	if err == nil || err.Error() != "--conf: config has an empty key" {
		t.Errorf("empty override key: err = %v", err)
	}

	// An override's error names --conf, not the file's line of the key
	// it replaced.
	data = lines(
		"name: t",
		"config: {topology.batch.size: 64}",
		"spouts: [{id: s, class: wordcount.SentenceSpout}]",
	)
	for _, tc := range []struct {
		key  string
		v    *galev1.Value
		want string
	}{
		{"topology.batch.sise", vInt(8), "--conf: unknown setting 'topology.batch.sise' (did you mean 'topology.batch.size'?)"},
		{"topology.batch.size", vStr("abc"), `--conf: config topology.batch.size: want an integer, got string "abc"`},
		{"topology.batch.size", vInt(1 << 20), "--conf: config topology.batch.size: must be at most 65536, got 1048576"},
		{"topology.wakeup.precise", vStr("on"), `--conf: config topology.wakeup.precise: want true or false, got string "on"`},
	} {
		_, err = Parse("t.yaml", data, newFakeResolver(), map[string]*galev1.Value{tc.key: tc.v})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("--conf %s=%v: err = %v, want it to start with %q", tc.key, tc.v, err, tc.want)
		}
	}
	if _, err = Parse("t.yaml", data, newFakeResolver(), map[string]*galev1.Value{"topology.batch.size": vStr("32")}); err != nil {
		t.Errorf("a good override of a runtime key: %v", err)
	}
}

func TestConfigValueKinds(t *testing.T) {
	data := lines(
		"name: t",
		"config:",
		"  i: 42",
		"  neg: -7",
		"  hex: 0x10",
		"  f: 2.5",
		"  exp: 1e3",
		"  inf: .inf",
		"  t: true",
		"  n: null",
		"  tilde: ~",
		"  s: hello",
		"  q: '10'",
		"  empty: ''",
		"  date: 2024-01-02",
		"  bin: !!binary aGk=",
		"  big: 9223372036854775807",
		"spouts: [{id: s, class: wordcount.SentenceSpout}]",
	)
	s, err := Parse("t.yaml", data, newFakeResolver(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*galev1.Value{
		"i": vInt(42), "neg": vInt(-7), "hex": vInt(16), "f": vDbl(2.5), "exp": vDbl(1000),
		"inf": vDbl(math.Inf(1)), "t": vBool(true), "n": vNull(), "tilde": vNull(), "s": vStr("hello"),
		"q": vStr("10"), "empty": vStr(""), "date": vStr("2024-01-02"), "bin": vBytes([]byte("hi")),
		"big": vInt(math.MaxInt64),
	}
	for k, w := range want {
		if !proto.Equal(s.Config[k], w) {
			t.Errorf("config %s = %v, want %v", k, s.Config[k], w)
		}
	}
	if len(s.Config) != len(want) {
		t.Errorf("config has %d keys, want %d", len(s.Config), len(want))
	}
}

func TestAttachedTrueAndNilResolver(t *testing.T) {
	data := lines(
		"name: t",
		"spouts: [{id: s, class: not.Registered, parallelism: 3}]",
		"bolts:",
		"  - {id: b, attached: true, inputs: [{from: s, stream: whatever, grouping: fields, fields: [f]}]}",
		"  - {id: c, attached: ~, inputs: [{from: b, grouping: none}]}",
	)
	// Without a resolver the class outputs are unknown, so inputs from s
	// are not checked; b's declared (empty) outputs are.
	_, err := Parse("t.yaml", data, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:5:35: bolt 'c': input from 'b': 'b' has no output stream 'default' (it declares no output streams)") {
		t.Fatalf("err = %v", err)
	}
	data = lines(
		"name: t",
		"spouts: [{id: s, class: not.Registered, parallelism: 3}]",
		"bolts:",
		"  - {id: b, attached: true, inputs: [{from: s, stream: whatever, grouping: fields, fields: [f]}]}",
	)
	s, err := Parse("t.yaml", data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Components[1].GetAttached(); a == nil || a.Token != "" {
		t.Errorf("attached = %v", s.Components[1].Implementation)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := Parse("t.yaml", lines("name: t", "spouts: []", "bolts: 3"), nil, nil)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("errors.As(ErrorList) failed or wrong count: %v", err)
	}
	var first *Error
	if !errors.As(err, &first) || first != list[0] {
		t.Fatalf("errors.As(*Error) = %v", first)
	}
	if first.File != "t.yaml" || first.Line != 2 {
		t.Errorf("first error = %+v", first)
	}
}

// badCase is a topology file with one expected error.
type badCase struct {
	name string
	data []byte
	line int
	col  int // 0: not checked
	msg  string
}

func TestParseBadSpecs(t *testing.T) {
	for _, tc := range badCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("bad.yaml", tc.data, newFakeResolver(), nil)
			if err == nil {
				t.Fatalf("no error; spec %v", s)
			}
			if s != nil {
				t.Errorf("a spec was returned with the error")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList: %v", err, err)
			}
			found := false
			for _, e := range list {
				if e.File != "bad.yaml" {
					t.Errorf("error without the file name: %v", e)
				}
				if e.Line == tc.line && (tc.col == 0 || e.Column == tc.col) && strings.Contains(e.Msg, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("want an error at line %d col %d containing %q; got:\n%v", tc.line, tc.col, tc.msg, err)
			}
			if strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), ".go:") {
				t.Errorf("error looks like a stack trace:\n%v", err)
			}
		})
	}
}

// head is the start of most bad cases: a valid name and spout (lines 1-4).
var head = []string{
	"name: t",
	"spouts:",
	"  - id: s",
	"    class: wordcount.SentenceSpout",
}

func withHead(ls ...string) []byte { return lines(append(append([]string{}, head...), ls...)...) }

func badCases() []badCase {
	return []badCase{
		// Malformed YAML: the line is where the problem is, not where the
		// enclosing block starts.
		{"yaml mis-indented key", withHead("   parallelism: 2"), 5, 0, "malformed YAML: did not find expected '-' indicator"},
		{"yaml mis-indented item", lines("name: t", "spouts:", "  - id: a", "    class: b", "  - id: c", "   class: d"), 6, 0, "malformed YAML"},
		{"yaml unclosed flow list", lines("name: t", "spouts:", "  - id: a", "    class: [b", "bolts: []"), 4, 0, "malformed YAML: did not find expected ',' or ']'"},
		{"yaml mapping in scalar", lines("name: t", "spouts:", "  - id: a", "    class: b: c"), 4, 0, "mapping values are not allowed"},
		{"yaml tab indent", lines("name: t", "spouts:", "\t- id: a"), 3, 0, "not tabs"},
		{"yaml unterminated quote", lines("name: t", "config:", "  a: 1", "  b: \"unterminated", "  c: 2", "  d: 3"), 4, 0, "malformed YAML: found unexpected end of stream"},
		{"yaml unknown anchor", lines("name: t", "config: {a: 1}", "spouts: *nope"), 3, 0, "unknown anchor 'nope'"},
		{"yaml deeply nested", []byte("name: " + strings.Repeat("[", 20000)), 1, 0, "malformed YAML: exceeded max depth"},
		{"yaml second document", lines("name: t", "spouts: [{id: s, class: wordcount.SentenceSpout}]", "---", "name: u"), 3, 0, "second YAML document"},
		{"yaml bad directive", lines("%YAML 9.9", "---", "name: t"), 1, 0, "malformed YAML"},
		{"empty file", []byte(""), 1, 0, "file is empty"},
		{"whitespace only", []byte("\n  \n"), 1, 0, "file is empty"},
		{"comments only", lines("# nothing", "# here"), 1, 0, "file is empty"},
		{"null document", lines("~"), 1, 0, "file is empty"},
		{"top-level list", lines("- name: t", "- spouts: []"), 1, 1, "a topology file must be a map with the keys name, config, spouts, bolts, streams; got list"},
		{"top-level scalar", lines("hello"), 1, 1, "must be a map"},
		{"duplicate key", lines("name: t", "spouts: []", "name: u"), 3, 1, "duplicate key 'name' in the topology (first at line 1)"},
		{"non-string key", lines("name: t", "[a]: 1", "spouts: []"), 2, 1, "keys must be strings, got list"},
		{"deeply nested junk under a key", withHead("junk: " + strings.Repeat("[", 500) + strings.Repeat("]", 500)), 5, 1, "unknown key 'junk' at the top level"},

		{"unknown top-level key", withHead("bolt: []"), 5, 1, "unknown key 'bolt' at the top level; allowed: name, config, spouts, bolts, streams (did you mean 'bolts'?)"},
		{"unknown component key", withHead("bolts:", "  - id: split", "    class: wordcount.SplitSentence", "    paralelism: 2", "    inputs: [{from: s, grouping: shuffle}]"), 8, 5,
			"unknown key 'paralelism' in bolt 'split'; allowed: id, class, run, dir, env, protocol, attached, parallelism, config, outputs, inputs (did you mean 'parallelism'?)"},
		{"flux className hint", lines("name: t", "spouts:", "  - id: s", "    className: org.X"), 4, 5, "unknown key 'className' in spout 's'; allowed: id, class"},
		{"unknown input key", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s, grouping: shuffle, streamId: x}]"), 8, 43, "unknown key 'streamId' in input #1 of bolt 'b'; allowed: from, stream, grouping, fields (did you mean 'stream'?)"},

		{"unknown component in input", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs:", "      - from: sentence", "        grouping: shuffle"), 9, 15, "bolt 'b': input from unknown component 'sentence'"},
		{"unknown spout class", lines("name: t", "spouts:", "  - id: s", "    class: wordcount.Nope"), 4, 12, `spout 's': unknown spout class "wordcount.Nope" (registered spouts: test.TwoStreams, wordcount.SentenceSpout)`},
		{"bolt class used as spout", lines("name: t", "spouts:", "  - id: s", "    class: wordcount.WordCount"), 4, 12, `unknown spout class "wordcount.WordCount"`},
		{"unknown bolt class", withHead("bolts:", "  - id: b", "    class: nope.Bolt", "    inputs: [{from: s, grouping: shuffle}]"), 7, 12, `bolt 'b': unknown bolt class "nope.Bolt" (registered bolts:`},
		{"resolver panics", withHead("bolts:", "  - id: b", "    class: test.Panics", "    inputs: [{from: s, grouping: shuffle}]"), 7, 12, `resolving bolt class "test.Panics" panicked: boom`},

		{"cycle a b a", withHead("bolts:",
			"  - id: a", "    class: wordcount.SplitSentence", "    inputs: [{from: s, grouping: shuffle}, {from: b, grouping: shuffle}]",
			"  - id: b", "    class: wordcount.SplitSentence", "    inputs: [{from: a, grouping: shuffle}]"),
			8, 51, "bolt 'a': cycle: a -> b -> a"},
		{"cycle via streams", withHead("bolts:",
			"  - {id: a, class: wordcount.SplitSentence}",
			"  - {id: b, class: wordcount.SplitSentence}",
			"  - {id: c, class: wordcount.SplitSentence}",
			"streams:",
			"  - {from: c, to: a, grouping: {type: SHUFFLE}}",
			"  - {from: a, to: b, grouping: {type: SHUFFLE}}",
			"  - {from: b, to: c, grouping: {type: SHUFFLE}}"),
			10, 12, "bolt 'a': cycle: a -> b -> c -> a"},
		{"self loop", withHead("bolts:", "  - id: a", "    class: wordcount.SplitSentence", "    inputs:", "      - {from: s, grouping: shuffle}", "      - {from: a, grouping: shuffle}"),
			10, 16, "bolt 'a' subscribes to itself: cycle: a -> a"},

		{"missing stream", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s, stream: side, grouping: shuffle}]"), 8, 32, "bolt 'b': input from 's': 's' has no output stream 'side' (it declares: default)"},
		{"missing field", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs:", "      - from: s", "        grouping: fields", "        fields: [sentence, wrd]"), 11, 28,
			"bolt 'b': fields grouping on 's': stream 'default' has no field 'wrd' (its fields: sentence)"},
		{"partial key missing field", withHead("bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: partial-key, fields: [x]}]}"), 6, 82, "partial_key grouping on 's': stream 'default' has no field 'x'"},
		{"bad grouping name", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s, grouping: shufle}]"), 8, 34,
			"bolt 'b': unknown grouping 'shufle'; use one of shuffle, fields, all, global, direct, local_or_shuffle, partial_key, none (did you mean 'shuffle'?)"},
		{"grouping not a string", withHead("bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: [shuffle]}]}"), 6, 60, "grouping must be a string, got list"},
		{"missing grouping", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s}]"), 8, 14, "bolt 'b': input from 's' has no grouping: use one of shuffle"},
		{"fields grouping without fields", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s, grouping: fields}]"), 8, 34, "bolt 'b': fields grouping on 's' needs at least one field"},
		{"shuffle grouping with fields", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s, grouping: shuffle, fields: [sentence]}]"), 8, 43, "shuffle grouping on 's' takes no fields"},
		{"direct grouping on plain stream", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [{from: s, grouping: direct}]"), 8, 34,
			"bolt 'b': direct grouping needs a direct stream, but stream 'default' of 's' is not direct"},
		{"direct stream without direct grouping", withHead("bolts:",
			"  - {id: d, class: test.Direct, inputs: [{from: s, grouping: shuffle}]}",
			"  - {id: b, class: test.Sink, inputs: [{from: d, stream: d, grouping: all}]}"), 7, 71,
			"bolt 'b': stream 'd' of 'd' is a direct stream: subscribe to it with direct grouping, not all"},
		{"subscribed twice", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs:", "      - {from: s, grouping: shuffle}", "      - {from: s, stream: default, grouping: all}"), 10, 9,
			"bolt 'b' subscribes to 's' stream 'default' twice (inputs #1 and #2)"},

		{"parallelism 0", withHead("    parallelism: 0"), 5, 18, "spout 's': parallelism must be at least 1, got 0"},
		{"parallelism -1", withHead("    parallelism: -1"), 5, 18, "spout 's': parallelism must be at least 1, got -1"},
		{"parallelism two", withHead("    parallelism: two"), 5, 18, "spout 's': parallelism must be an integer, got string"},
		{"parallelism float", withHead("    parallelism: 2.5"), 5, 18, "parallelism must be an integer, got float"},
		{"parallelism huge", withHead("    parallelism: 20000"), 5, 18, "parallelism must be at most 10000, got 20000"},
		{"too many pairs of tasks", withHead("    parallelism: 1000", "bolts:", "  - id: split", "    class: wordcount.SplitSentence", "    parallelism: 1000", "    inputs: [{from: s, grouping: shuffle}]",
			"  - id: count", "    class: wordcount.WordCount", "    parallelism: 1100", "    inputs: [{from: split, grouping: fields, fields: [word]}]"), 14, 14,
			"bolt 'count': the topology's inputs connect 2100000 pairs of tasks (this input from 'split' 1100000), over the limit of 1048576"},
		{"parallelism tagged junk", withHead("    parallelism: !!int two"), 5, 18, `spout 's': parallelism must be an integer, got "two"`},
		{"crlf line ends", []byte("name: t\r\nspouts:\r\n  - id: s\r\n    class: wordcount.SentenceSpout\r\n    parallelism: 0\r\n"), 5, 18, "parallelism must be at least 1"},
		{"crlf malformed", []byte("name: t\r\nspouts:\r\n  - id: s\r\n    class: x\r\n   parallelism: 0\r\n"), 5, 0, "malformed YAML"},
		{"parallelism overflow", withHead("    parallelism: 99999999999"), 5, 18, "parallelism 99999999999 is out of range"},

		{"duplicate ids", withHead("  - id: s", "    class: wordcount.SentenceSpout"), 5, 9, "duplicate component id 's': already used by the spout declared first"},
		{"duplicate id across kinds", withHead("bolts:", "  - {id: s, class: test.Sink, inputs: [{from: s, grouping: shuffle}]}"), 6, 10, "duplicate component id 's'"},
		{"reserved id", lines("name: t", "spouts:", "  - id: __acker", "    class: wordcount.SentenceSpout"), 3, 9, `spout '__acker': ids starting with "__" are reserved`},
		{"invalid id", lines("name: t", "spouts:", "  - id: a b", "    class: wordcount.SentenceSpout"), 3, 9, `spout "a b": id is invalid`},
		{"missing id", lines("name: t", "spouts:", "  - class: wordcount.SentenceSpout"), 3, 5, "spout #1 has no id"},
		{"missing name", lines("# a comment", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 1, "topology name is missing"},
		{"invalid name", lines("name: 'my topology'", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 1, 7, `topology name "my topology" is invalid`},
		{"name not a string", lines("name: [x]", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 1, 7, "topology name must be a string, got list"},
		{"no spouts", lines("name: t", "bolts:", "  - {id: b, class: test.Sink, inputs: [{from: b, grouping: shuffle}]}"), 1, 1, "topology has no spout"},
		{"empty spouts", lines("name: t", "spouts: []"), 2, 1, "topology has no spout"},
		{"spouts not a list", lines("name: t", "spouts: {id: s}"), 2, 9, "spouts must be a list, got map"},
		{"spout entry not a map", lines("name: t", "spouts:", "  - s"), 3, 5, "spout #1: each entry of spouts must be a map"},

		{"spout with inputs", withHead("    inputs: [{from: s, grouping: shuffle}]"), 5, 5, "spout 's' has inputs, but a spout cannot subscribe to streams"},
		{"bolt without inputs", withHead("bolts:", "  - id: b", "    class: test.Sink"), 6, 5, "bolt 'b' has no inputs: a bolt must subscribe to at least one stream"},
		{"bolt with empty inputs", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: []"), 8, 5, "bolt 'b' has no inputs"},
		{"inputs not a list", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: {from: s}"), 8, 13, "bolt 'b': inputs must be a list, got map"},
		{"input not a map", withHead("bolts:", "  - id: b", "    class: test.Sink", "    inputs: [s]"), 8, 14, "each input must be a map like {from: a, grouping: shuffle}, got string"},
		{"missing implementation", withHead("bolts:", "  - id: b", "    inputs: [{from: s, grouping: shuffle}]"), 6, 5, "bolt 'b' has no implementation: give it a class"},
		{"two implementations", withHead("bolts:", "  - id: b", "    class: test.Sink", "    run: [python3, b.py]", "    inputs: [{from: s, grouping: shuffle}]"), 8, 5,
			"bolt 'b' has both class and run: use exactly one of class, run, attached"},
		{"three implementations", withHead("bolts:", "  - id: b", "    attached: true", "    run: [x]", "    class: y", "    inputs: [{from: s, grouping: shuffle}]"), 8, 5, "bolt 'b' has both attached and run"},
		{"class not a string", lines("name: t", "spouts:", "  - id: s", "    class: [a, b]"), 4, 12, "spout 's': class must be a string, got list"},
		{"class null", lines("name: t", "spouts:", "  - id: s", "    class:"), 4, 11, "spout 's': class must be a string, got null"},
		{"run not a list", lines("name: t", "spouts:", "  - id: s", "    run: python3 s.py"), 4, 10, "spout 's': run must be a list of strings like [a, b], got string"},
		{"run empty", lines("name: t", "spouts:", "  - id: s", "    run: []", "    outputs: {default: [x]}"), 4, 5, "spout 's': the external command is empty"},
		{"run item not a string", lines("name: t", "spouts:", "  - id: s", "    run: [python3, {a: b}]"), 4, 20, "run: item #2 must be a string, got map"},
		{"dir without run", withHead("    dir: /tmp"), 5, 5, "spout 's': dir is only for external components (run)"},
		{"unknown protocol", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    protocol: thrift"), 5, 15, "unknown protocol 'thrift'; use gale or storm-multilang"},
		{"env value not a scalar", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    env: {A: [1]}"), 5, 14, "spout 's': env A must be a string, got list"},
		{"attached bad", lines("name: t", "spouts:", "  - id: s", "    attached: yes"), 4, 15, "attached must be true or a map like {token: secret}, got string"},
		{"attached unknown key", lines("name: t", "spouts:", "  - id: s", "    attached: {tokn: x}"), 4, 16, "unknown key 'tokn' in attached of spout 's'; allowed: token (did you mean 'token'?)"},
		{"outputs with class", withHead("    outputs: {default: [x]}"), 5, 5, "spout 's': outputs is only for external components"},
		{"outputs not a map", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs: [a]"), 5, 14, "outputs must be a map, got list"},
		{"output stream bad", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs: {default: 3}"), 5, 24, "output stream 'default' must be a list of field names"},
		{"output direct not bool", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs: {d: {fields: [a], direct: yes}}"), 5, 40, "direct of output stream 'd' must be true or false, got string"},
		{"output reserved stream", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs:", "      __tick: [a]"), 6, 7, `spout 's': output stream '__tick': stream ids starting with "__" are reserved`},
		{"output duplicate field", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs:", "      default: [a, b, a]"), 6, 23, "spout 's': output stream 'default' declares field 'a' twice"},
		{"output empty field", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs:", "      default: [a, '']"), 6, 20, "field #2 has an empty name"},
		{"output bad stream id", lines("name: t", "spouts:", "  - id: s", "    run: [x]", "    outputs:", "      'a b': [a]"), 6, 7, `output stream id "a b" is invalid`},

		{"config list", lines("name: t", "config:", "  a: 1", "  b: [1, 2]", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 4, 6, "config 'b' must be a scalar (integer, float, bool, string or null), got list"},
		{"config map", lines("name: t", "config:", "  b: {c: 1}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 3, 6, "config 'b' must be a scalar"},
		{"component config list", withHead("    config:", "      x: [1]"), 6, 10, "spout 's': config 'x' must be a scalar"},
		{"config not a map", lines("name: t", "config: [a]", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 9, "config must be a map, got list"},
		{"config bad int", lines("name: t", "config: {a: !!int x}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 13, "config 'a' has an integer x that does not fit"},
		{"config empty key", lines("name: t", "config: {'': 1}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10, "config has an empty key"},
		{"config misspelled runtime key", lines("name: t", "config:", "  topology.max.spout.pendng: 10", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 3, 3,
			"unknown setting 'topology.max.spout.pendng' (did you mean 'topology.max.spout.pending'?): keys under 'topology.' are Gale's own, listed in sdk/CONFIG.md"},
		{"config unknown runtime key", lines("name: t", "config: {topology.wrokers: 4}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			"unknown setting 'topology.wrokers': keys under 'topology.' are Gale's own"},
		{"config Storm key", lines("name: t", "config: {topology.workers: 4}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			"'topology.workers' is Storm's setting, not Gale's: Gale spreads a topology's tasks over the cluster's nodes"},
		{"config Storm key with a Gale equivalent", lines("name: t", "config: {topology.shellbolt.max.pending: 4}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			"'topology.shellbolt.max.pending' is Storm's setting, not Gale's: use topology.external.max.inflight"},
		{"config runtime key not an int", lines("name: t", "config: {topology.batch.size: big}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			`config topology.batch.size: want an integer, got string "big"`},
		{"config runtime key too small", lines("name: t", "config: {topology.queue.size: 0}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			"config topology.queue.size: must be at least 1, got 0"},
		{"config runtime duration", lines("name: t", "config: {topology.message.timeout.secs: soon}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			`config topology.message.timeout.secs: want a duration (a number of seconds, or a string such as 250ms), got string "soon"`},
		{"config runtime bool", lines("name: t", "config: {topology.wakeup.precise: yes}", "spouts: [{id: s, class: wordcount.SentenceSpout}]"), 2, 10,
			`config topology.wakeup.precise: want true or false, got string "yes"`},
		{"component sets a topology-wide key", withHead("    config: {topology.batch.size: 8}"), 5, 14,
			"spout 's': 'topology.batch.size' is a setting of the whole topology: set it in the topology's config, not a component's"},
		{"component runtime key out of range", withHead("    config: {topology.external.heartbeat.ms: 1}"), 5, 14,
			"spout 's': config topology.external.heartbeat.ms: must be at least 10ms, got 1ms"},

		{"streams not a list", withHead("streams: {from: s}"), 5, 10, "streams must be a list, got map"},
		{"streams unknown to", withHead("bolts:", "  - {id: b, class: test.Sink}", "streams:", "  - {from: s, to: bb, grouping: {type: SHUFFLE}}"), 8, 19, "streams entry #1: 'to' names unknown component 'bb' (did you mean 'b'?)"},
		{"streams missing to", withHead("bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: all}]}", "streams:", "  - {from: s, grouping: {type: SHUFFLE}}"), 8, 5, "streams entry #1 has no 'to'"},
		{"streams bad type", withHead("bolts:", "  - {id: b, class: test.Sink}", "streams:", "  - from: s", "    to: b", "    grouping:", "      type: CUSTOM"), 11, 13, "unknown grouping 'CUSTOM'; use one of shuffle"},
		{"streams unknown grouping key", withHead("bolts:", "  - {id: b, class: test.Sink}", "streams:", "  - {from: s, to: b, grouping: {type: FIELDS, fields: [w]}}"), 8, 47,
			"unknown key 'fields' in the grouping of streams entry #1; allowed: type, args, streamId"},
		{"streams missing field", withHead("bolts:", "  - {id: b, class: test.Sink}", "streams:", "  - {from: s, to: b, grouping: {type: FIELDS, args: [w]}}"), 8, 54,
			"bolt 'b': fields grouping on 's': stream 'default' has no field 'w' (its fields: sentence)"},
		{"streams unknown from", withHead("bolts:", "  - {id: b, class: test.Sink}", "streams:", "  - {from: x, to: b, grouping: {type: SHUFFLE}}"), 8, 12, "bolt 'b': input from unknown component 'x'"},
		{"streams to a spout", withHead("  - {id: s2, class: wordcount.SentenceSpout}", "streams:", "  - {from: s, to: s2, grouping: {type: SHUFFLE}}"), 7, 5, "spout 's2' has inputs"},
		{"streams grouping not a map", withHead("bolts:", "  - {id: b, class: test.Sink}", "streams:", "  - {from: s, to: b, grouping: SHUFFLE}"), 8, 32, "grouping must be a map like {type: SHUFFLE}, got string"},
	}
}

// TestFollowOnErrorsSuppressed checks that one mistake gives one error.
func TestFollowOnErrorsSuppressed(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"bad grouping name", withHead("bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: shufle}]}")},
		{"parallelism two", withHead("    parallelism: two")},
		{"misspelled inputs", withHead("bolts:", "  - {id: b, class: test.Sink, inputz: [{from: s, grouping: shuffle}]}")},
		{"misspelled class", withHead("bolts:", "  - {id: b, clas: test.Sink, inputs: [{from: s, grouping: shuffle}]}")},
		{"misspelled spouts", lines("name: t", "spout: [{id: s, class: wordcount.SentenceSpout}]", "bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: shuffle}]}")},
		{"unknown class", lines("name: t", "spouts: [{id: s, class: nope}]", "bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: fields, fields: [x]}]}")},
		{"bad outputs", lines("name: t", "spouts: [{id: s, run: [x], outputs: {default: 3}}]", "bolts:", "  - {id: b, class: test.Sink, inputs: [{from: s, grouping: fields, fields: [x]}]}")},
		{"two implementations", withHead("bolts:", "  - {id: b, class: test.Sink, run: [x], inputs: [{from: s, grouping: shuffle}]}")},
		{"input not a map", withHead("bolts:", "  - {id: b, class: test.Sink, inputs: [s]}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", tc.data, newFakeResolver(), nil)
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Errorf("want exactly one error, got:\n%v", err)
			}
		})
	}
}

func TestManyErrorsAreCapped(t *testing.T) {
	ls := []string{"name: t", "spouts:"}
	for range 30 {
		ls = append(ls, "  - {id: s, class: wordcount.SentenceSpout, parallelism: 0}")
	}
	_, err := Parse("f.yaml", lines(ls...), newFakeResolver(), nil)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatal(err)
	}
	if len(list) != MaxErrors+1 || !strings.Contains(list[MaxErrors].Msg, "more not shown") {
		t.Fatalf("got %d errors, want %d and a 'more' line:\n%v", len(list), MaxErrors+1, err)
	}
	for i := 1; i < MaxErrors; i++ {
		if list[i].Line < list[i-1].Line {
			t.Errorf("errors not sorted by line: %v before %v", list[i-1], list[i])
		}
	}
}

func TestBillionLaughs(t *testing.T) {
	// Each level doubles: 2^25 inputs if expanded naively.
	var b strings.Builder
	b.WriteString("name: t\nspouts: [{id: s, class: wordcount.SentenceSpout}]\nx0: &a0 [{from: s, grouping: shuffle}]\n")
	for i := 1; i <= 25; i++ {
		b.WriteString("x" + itoa(i) + ": &a" + itoa(i) + " [*a" + itoa(i-1) + ", *a" + itoa(i-1) + "]\n")
	}
	b.WriteString("bolts: [{id: b, class: test.Sink, inputs: *a25}]\n")
	_, err := Parse("f.yaml", []byte(b.String()), newFakeResolver(), nil)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "unknown key 'x0'") {
		t.Errorf("err = %v", err)
	}

	// Aliases that do expand to a huge spec are stopped by the budget:
	// 1000 bolts sharing one list of 2000 inputs.
	b.Reset()
	b.WriteString("name: t\nspouts: [{id: s, class: wordcount.SentenceSpout}]\nbolts:\n")
	b.WriteString("  - {id: b0, class: test.Sink, inputs: &in [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{from: s, grouping: shuffle}")
	}
	b.WriteString("]}\n")
	for i := 1; i < 1000; i++ {
		b.WriteString("  - {id: b" + itoa(i) + ", class: test.Sink, inputs: *in}\n")
	}
	_, err = Parse("f.yaml", []byte(b.String()), newFakeResolver(), nil)
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("err = %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestTooLarge(t *testing.T) {
	data := make([]byte, MaxFileSize+1)
	for i := range data {
		data[i] = '#'
	}
	_, err := Parse("big.yaml", data, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "file is too large") {
		t.Errorf("err = %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil, nil); err == nil || !strings.Contains(err.Error(), "file is too large") {
		t.Errorf("Load err = %v", err)
	}
}

func TestParseConfFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		key  string
		want *galev1.Value
	}{
		{"topology.workers=10", "topology.workers", vInt(10)},
		{"a=-3", "a", vInt(-3)},
		{"a=1.5", "a", vDbl(1.5)},
		{"a=true", "a", vBool(true)},
		{"a=False", "a", vBool(false)},
		{"a=hello", "a", vStr("hello")},
		{"a=", "a", vStr("")},
		{"a= ", "a", vStr(" ")},
		{"a='10'", "a", vStr("10")},
		{`a="x y"`, "a", vStr("x y")},
		{"a=null", "a", vStr("null")},
		{"a=~", "a", vStr("~")},
		{"a=[1, 2]", "a", vStr("[1, 2]")},
		{"a={b: 1}", "a", vStr("{b: 1}")},
		{"a=x=y", "a", vStr("x=y")},
		{"a=yes", "a", vStr("yes")},
		{"a=10s", "a", vStr("10s")},
		{"a=: bad", "a", vStr(": bad")},
		{"a=---", "a", vStr("---")},
		{"a=#comment", "a", vStr("#comment")},
		{" spaced.key =1", "spaced.key", vInt(1)},
	} {
		key, v, err := ParseConfFlag(tc.in)
		if err != nil || key != tc.key || !proto.Equal(v, tc.want) {
			t.Errorf("ParseConfFlag(%q) = %q, %v, %v; want %q, %v", tc.in, key, v, err, tc.key, tc.want)
		}
	}
	for _, in := range []string{"novalue", "=1", " =1", ""} {
		if _, _, err := ParseConfFlag(in); err == nil {
			t.Errorf("ParseConfFlag(%q): no error", in)
		}
	}
}

// TestFormatDocExample keeps the complete example in FORMAT.md valid.
func TestFormatDocExample(t *testing.T) {
	doc, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n# wordcount.yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("FORMAT.md has no complete example")
	}
	s, err := Parse("FORMAT.md", []byte(example), newFakeResolver(), nil)
	if err != nil {
		t.Fatalf("the example in FORMAT.md does not load:\n%v", err)
	}
	if len(s.Components) != 5 {
		t.Errorf("%d components", len(s.Components))
	}
}
