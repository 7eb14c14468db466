package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/spec"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Test components, registered under test-only names.
type testSpout struct{}

func (testSpout) DeclareOutputFields(d *OutputDeclarer) { d.Declare("sentence") }
func (testSpout) Open(context.Context, *TaskContext, *SpoutCollector) error {
	return nil
}
func (testSpout) NextTuple()   {}
func (testSpout) Ack(uint64)   {}
func (testSpout) Fail(uint64)  {}
func (testSpout) Close() error { return nil }

// testBolt declares what it is told to; its zero value declares nothing.
type testBolt struct {
	declare func(d *OutputDeclarer)
}

func (b testBolt) DeclareOutputFields(d *OutputDeclarer) {
	if b.declare != nil {
		b.declare(d)
	}
}
func (testBolt) Prepare(context.Context, *TaskContext, *BoltCollector) error { return nil }
func (testBolt) Execute(*Tuple)                                              {}
func (testBolt) Cleanup() error                                              { return nil }

func init() {
	MustRegisterSpout("sdktest.Spout", func() Spout { return testSpout{} })
	MustRegisterBolt("sdktest.Split", func() Bolt {
		return testBolt{func(d *OutputDeclarer) {
			d.Declare("word")
			d.DeclareDirectStream("direct", "word")
		}}
	})
	MustRegisterBolt("sdktest.Count", func() Bolt {
		return testBolt{func(d *OutputDeclarer) { d.Declare("word", "count") }}
	})
	MustRegisterBolt("sdktest.Sink", func() Bolt { return testBolt{} })
	MustRegisterBolt("sdktest.DeclarePanics", func() Bolt {
		return testBolt{func(d *OutputDeclarer) { panic("declare exploded") }}
	})
	MustRegisterBolt("sdktest.FactoryPanics", func() Bolt { panic("factory exploded") })
	MustRegisterBolt("sdktest.FactoryNil", func() Bolt { return nil })
	MustRegisterBolt("sdktest.BadStreams", func() Bolt {
		return testBolt{func(d *OutputDeclarer) { d.DeclareStream("__reserved", "a", "a") }}
	})
}

// wordcount is the builder form of testdata's wordcount topology.
func wordcount() *TopologyBuilder {
	b := NewTopologyBuilder("wordcount")
	b.SetConfig("topology.acker.executors", Int(2))
	b.SetConfig("wordcount.input", String(""))
	b.SetSpout("sentences", "sdktest.Spout", 1).SetConfig("wordcount.x", Int(1))
	b.SetBolt("split", "sdktest.Split", 2).ShuffleGrouping("sentences")
	b.SetBolt("count", "sdktest.Count", 2).FieldsGrouping("split", "", "word")
	b.SetExternalBolt("ext", []string{"python3", "split.py"}, 1).
		Dir("scripts").
		Env("MODE", "fast").
		Protocol(galev1.ExternalProtocol_EXTERNAL_PROTOCOL_STORM_MULTILANG).
		Outputs(StreamDecl{ID: "default", Fields: []string{"word"}}, StreamDecl{ID: "errors", Fields: []string{"msg"}, Direct: true}).
		LocalOrShuffleGrouping("sentences")
	b.SetAttachedBolt("attached-bolt", 1).
		Token("secret").
		Outputs(StreamDecl{ID: "default", Fields: []string{"x"}}).
		AllGrouping("sentences").
		DirectGroupingStream("ext", "errors").
		DirectGroupingStream("split", "direct")
	return b
}

const wordcountYAML = `
name: wordcount
config:
  topology.acker.executors: 2
  wordcount.input: ""
spouts:
  - id: sentences
    class: sdktest.Spout
    config: {wordcount.x: 1}
bolts:
  - id: split
    class: sdktest.Split
    parallelism: 2
    inputs: [{from: sentences, grouping: shuffle}]
  - id: count
    class: sdktest.Count
    parallelism: 2
    inputs: [{from: split, grouping: fields, fields: [word]}]
  - id: ext
    run: [python3, split.py]
    dir: scripts
    env: {MODE: fast}
    protocol: storm-multilang
    outputs:
      default: [word]
      errors: {fields: [msg], direct: true}
    inputs: [{from: sentences, grouping: local_or_shuffle}]
  - id: attached-bolt
    attached: {token: secret}
    outputs: {default: [x]}
    inputs:
      - {from: sentences, grouping: all}
      - {from: ext, stream: errors, grouping: direct}
      - {from: split, stream: direct, grouping: direct}
`

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBuilderMatchesYAML checks the promise that both ways of writing a
// topology give the same spec.
func TestBuilderMatchesYAML(t *testing.T) {
	built, err := wordcount().Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if built.Source != BuilderSource {
		t.Errorf("source = %q", built.Source)
	}
	path := writeFile(t, "wordcount.yaml", wordcountYAML)
	loaded, err := LoadTopology(path, nil)
	if err != nil {
		t.Fatalf("LoadTopology: %v", err)
	}
	if loaded.Source != path {
		t.Errorf("loaded source = %q, want %q", loaded.Source, path)
	}
	loaded.Source = BuilderSource
	// The loader resolves command dirs against the file's folder; a
	// builder's relative dir is relative to wherever the topology runs.
	for _, c := range built.Components {
		if cmd := c.GetCommand(); cmd != nil {
			cmd.Dir = filepath.Join(filepath.Dir(path), cmd.Dir)
		}
	}
	if !proto.Equal(built, loaded) {
		t.Errorf("builder and YAML differ:\nbuilder:\n%s\nyaml:\n%s", prototext.Format(built), prototext.Format(loaded))
	}
	// The registry filled in the Go classes' outputs.
	want := []*galev1.StreamSpec{{Id: "default", Fields: []string{"word"}}, {Id: "direct", Fields: []string{"word"}, Direct: true}}
	got := built.Components[1].Outputs
	if len(got) != 2 || !proto.Equal(got[0], want[0]) || !proto.Equal(got[1], want[1]) {
		t.Errorf("split outputs = %v", got)
	}
}

func TestBuilderGroupings(t *testing.T) {
	b := NewTopologyBuilder("g")
	b.SetSpout("s", "sdktest.Spout", 1)
	b.SetBolt("split", "sdktest.Split", 1).ShuffleGrouping("s")
	d := b.SetBolt("all", "sdktest.Sink", 3).
		ShuffleGroupingStream("split", DefaultStream).
		FieldsGrouping("s", DefaultStream, "sentence").
		PartialKeyGrouping("split", "", "word").
		AllGroupingStream("s", "default").
		GlobalGrouping("split").
		DirectGroupingStream("split", "direct").
		LocalOrShuffleGroupingStream("s", "").
		NoneGroupingStream("split", "").
		Grouping("s", "", galev1.GroupingType_GROUPING_TYPE_NONE)
	if d == nil {
		t.Fatal("chained declarer is nil")
	}
	// Subscribing twice to one stream is an error, so the plain forms are
	// checked on a second bolt.
	b.SetBolt("plain", "sdktest.Sink", 1).AllGrouping("split")
	b.SetBolt("plain2", "sdktest.Sink", 1).LocalOrShuffleGrouping("split")
	b.SetBolt("plain3", "sdktest.Sink", 1).NoneGrouping("split")
	b.SetBolt("plain4", "sdktest.Sink", 1).DirectGrouping("s")

	_, err := b.Build()
	// The only problems: "all" subscribes twice to s/default and
	// split/default, and plain4 uses direct on a plain stream.
	var list spec.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	var msgs []string
	for _, e := range list {
		msgs = append(msgs, e.Error())
	}
	wantMsgs := []string{
		"bolt 'all' subscribes to 'split' stream 'default' twice (inputs #1 and #3)",
		"bolt 'all' subscribes to 's' stream 'default' twice (inputs #2 and #4)",
		"bolt 'all' subscribes to 'split' stream 'default' twice (inputs #1 and #5)",
		"bolt 'all' subscribes to 's' stream 'default' twice (inputs #2 and #7)",
		"bolt 'all' subscribes to 'split' stream 'default' twice (inputs #1 and #8)",
		"bolt 'all' subscribes to 's' stream 'default' twice (inputs #2 and #9)",
		"bolt 'plain4': direct grouping needs a direct stream, but stream 'default' of 's' is not direct",
	}
	if strings.Join(msgs, "\n") != strings.Join(wantMsgs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(wantMsgs, "\n"))
	}

	s, err := b.BuildWith(spec.ResolverFunc(func(galev1.ComponentKind, string) ([]*galev1.StreamSpec, error) {
		return nil, errors.New("unused")
	}))
	if err == nil || s != nil {
		t.Fatal("BuildWith(failing resolver) succeeded")
	}

	// The inputs, in order, as each method recorded them.
	in := b.comps[2].Inputs
	type want struct {
		from, stream string
		t            galev1.GroupingType
		fields       string
	}
	wants := []want{
		{"split", "default", galev1.GroupingType_GROUPING_TYPE_SHUFFLE, ""},
		{"s", "default", galev1.GroupingType_GROUPING_TYPE_FIELDS, "sentence"},
		{"split", "", galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY, "word"},
		{"s", "default", galev1.GroupingType_GROUPING_TYPE_ALL, ""},
		{"split", "", galev1.GroupingType_GROUPING_TYPE_GLOBAL, ""},
		{"split", "direct", galev1.GroupingType_GROUPING_TYPE_DIRECT, ""},
		{"s", "", galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE, ""},
		{"split", "", galev1.GroupingType_GROUPING_TYPE_NONE, ""},
		{"s", "", galev1.GroupingType_GROUPING_TYPE_NONE, ""},
	}
	if len(in) != len(wants) {
		t.Fatalf("%d inputs, want %d", len(in), len(wants))
	}
	for i, w := range wants {
		got := want{in[i].Component, in[i].Stream, in[i].Grouping.Type, strings.Join(in[i].Grouping.Fields, ",")}
		if got != w {
			t.Errorf("input %d = %+v, want %+v", i, got, w)
		}
	}
	for _, c := range b.comps[3:7] {
		if len(c.Inputs) != 1 || c.Inputs[0].Stream != "" {
			t.Errorf("%s inputs = %v", c.Id, c.Inputs)
		}
	}
}

// TestBuilderErrors checks that Build reports every mistake at once, each
// naming the component, with no file position.
func TestBuilderErrors(t *testing.T) {
	b := NewTopologyBuilder("bad topology")
	b.SetConfig("", Int(1))
	b.SetSpout("s", "sdktest.Spout", 1).Outputs(StreamDecl{ID: "x"}).Dir("/tmp")
	b.SetSpout("wrongkind", "sdktest.Split", 1)
	b.SetBolt("b", "sdktest.Spout", 1).ShuffleGrouping("s")
	b.SetBolt("nope", "sdktest.Nope", 1).ShuffleGrouping("s")
	b.SetBolt("count", "sdktest.Count", 0).FieldsGrouping("s", "", "word").Token("t")
	b.SetBolt("loop", "sdktest.Sink", 1<<40).ShuffleGrouping("loop").ShuffleGrouping("ghost")
	b.SetBolt("nofields", "sdktest.Sink", 1).FieldsGrouping("s", "")
	b.SetBolt("panics", "sdktest.DeclarePanics", 1).ShuffleGrouping("s")
	b.SetBolt("factory", "sdktest.FactoryPanics", 1).ShuffleGrouping("s")
	b.SetBolt("nil", "sdktest.FactoryNil", 1).ShuffleGrouping("s")
	b.SetBolt("badstreams", "sdktest.BadStreams", 1).ShuffleGrouping("s")
	b.SetExternalBolt("ext", nil, 1).ShuffleGrouping("s")
	_, err := b.Build()
	var list spec.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"spout 's': Outputs is only for external and attached components; class 'sdktest.Spout' declares its own outputs (DeclareOutputFields)",
		"spout 's': Dir is only for external components (SetExternalSpout, SetExternalBolt)",
		"bolt 'count': Token is only for attached components",
		`topology name "bad topology" is invalid`,
		"config has an empty key",
		`spout 'wrongkind': unknown spout class "sdktest.Split": it is registered as a bolt`,
		`bolt 'b': unknown bolt class "sdktest.Spout": it is registered as a spout`,
		`bolt 'nope': unknown bolt class "sdktest.Nope" (registered bolts: `,
		"bolt 'count': parallelism must be at least 1, got 0",
		"bolt 'count': fields grouping on 's': stream 'default' has no field 'word' (its fields: sentence)",
		"bolt 'loop': parallelism must be at most 10000, got 2147483647",
		"bolt 'loop' subscribes to itself: cycle: loop -> loop",
		"bolt 'loop': input from unknown component 'ghost'",
		"bolt 'nofields': fields grouping on 's' needs at least one field",
		`bolt 'panics': bolt class "sdktest.DeclarePanics": DeclareOutputFields panicked: declare exploded`,
		`bolt 'factory': bolt class "sdktest.FactoryPanics": its factory panicked: factory exploded`,
		`bolt 'nil': bolt class "sdktest.FactoryNil": its factory returned nil`,
		`bolt 'badstreams': output stream '__reserved': stream ids starting with "__" are reserved`,
		"bolt 'badstreams': output stream '__reserved' declares field 'a' twice",
		"bolt 'ext': the external command is empty",
	} {
		found := false
		for _, e := range list {
			if strings.Contains(e.Msg, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing error %q", want)
		}
	}
	if len(list) > spec.MaxErrors+1 {
		t.Errorf("%d errors", len(list))
	}
	for _, e := range list {
		if e.File != "" || e.Line != 0 {
			t.Errorf("builder error with a file position: %v", e)
		}
		if _, ok := e.Path.Component(); !ok && !strings.Contains(e.Msg, "topology name") && !strings.Contains(e.Msg, "config has") {
			t.Errorf("error without a component path: %v (%s)", e, e.Path)
		}
	}
	if strings.Contains(err.Error(), "goroutine") {
		t.Errorf("stack trace in error:\n%v", err)
	}
}

func TestBuilderBuildTwice(t *testing.T) {
	b := wordcount()
	s1, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s1.Components[0].Id = "changed"
	s1.Config["topology.acker.executors"].Kind = &galev1.Value_IntValue{IntValue: 9}
	s2, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if s2.Components[0].Id != "sentences" || s2.Config["topology.acker.executors"].GetIntValue() != 2 {
		t.Errorf("specs share state with the builder: %v", s2)
	}
	// Arguments are copied, too.
	argv := []string{"python3", "x.py"}
	fields := []string{"sentence"}
	b = NewTopologyBuilder("t")
	b.SetExternalSpout("s", argv, 1).Outputs(StreamDecl{ID: "default", Fields: fields})
	b.SetBolt("k", "sdktest.Sink", 1).FieldsGrouping("s", "", fields...)
	argv[0], fields[0] = "x", "y"
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if s.Components[0].GetCommand().Argv[0] != "python3" || s.Components[0].Outputs[0].Fields[0] != "sentence" || s.Components[1].Inputs[0].Grouping.Fields[0] != "sentence" {
		t.Errorf("builder kept the caller's slices: %v", s)
	}
}

func TestBuilderExternalAndAttachedSpouts(t *testing.T) {
	b := NewTopologyBuilder("ext")
	b.SetExternalSpout("py", []string{"python3", "spout.py"}, 2).
		Dir("py").
		Env("A", "1").
		Protocol(galev1.ExternalProtocol_EXTERNAL_PROTOCOL_ATTACH).
		SetConfig("k", Bool(true)).
		Outputs(StreamDecl{ID: "default", Fields: []string{"line"}})
	b.SetAttachedSpout("att", 1).Token("tok").Outputs(StreamDecl{ID: "default", Fields: []string{"line"}})
	b.SetBolt("sink", "sdktest.Sink", 1).ShuffleGrouping("py").ShuffleGrouping("att").SetConfig("k", Double(math.Pi))
	s, err := b.BuildWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &galev1.TopologySpec{
		Name: "ext", Source: BuilderSource,
		Components: []*galev1.ComponentSpec{
			{
				Id: "py", Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT, Parallelism: 2,
				Implementation: &galev1.ComponentSpec_Command{Command: &galev1.ExternalCommand{
					Argv: []string{"python3", "spout.py"}, Dir: "py", Env: map[string]string{"A": "1"},
					Protocol: galev1.ExternalProtocol_EXTERNAL_PROTOCOL_ATTACH,
				}},
				Outputs: []*galev1.StreamSpec{{Id: "default", Fields: []string{"line"}}},
				Config:  map[string]*galev1.Value{"k": {Kind: &galev1.Value_BoolValue{BoolValue: true}}},
			},
			{
				Id: "att", Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Attached{Attached: &galev1.AttachedComponent{Token: "tok"}},
				Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"line"}}},
			},
			{
				Id: "sink", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Class{Class: "sdktest.Sink"},
				Inputs: []*galev1.InputSpec{
					{Component: "py", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}},
					{Component: "att", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}},
				},
				Config: map[string]*galev1.Value{"k": {Kind: &galev1.Value_DoubleValue{DoubleValue: math.Pi}}},
			},
		},
	}
	if !proto.Equal(s, want) {
		t.Errorf("got:\n%s\nwant:\n%s", prototext.Format(s), prototext.Format(want))
	}
}

// ExampleTopologyBuilder builds a small topology from Go components
// registered in this package's tests; the external bolt declares its
// outputs since only its process knows them.
func ExampleTopologyBuilder() {
	b := NewTopologyBuilder("wordcount")
	b.SetSpout("sentences", "sdktest.Spout", 1)
	b.SetBolt("split", "sdktest.Split", 2).ShuffleGrouping("sentences")
	b.SetBolt("count", "sdktest.Count", 2).FieldsGrouping("split", DefaultStream, "word")
	b.SetExternalBolt("py", []string{"python3", "split.py"}, 2).
		Outputs(StreamDecl{ID: "default", Fields: []string{"word"}}).
		ShuffleGrouping("sentences")
	b.SetConfig("topology.acker.executors", Int(2))
	s, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range s.Components {
		fmt.Println(c.Id, c.Kind, c.Parallelism, c.Outputs[0].Fields)
	}

	// Mistakes come back together, each naming the component.
	b.SetBolt("bad", "sdktest.Count", 1).FieldsGrouping("split", DefaultStream, "wrod")
	_, err = b.Build()
	fmt.Println(err)
	// Output:
	// sentences COMPONENT_KIND_SPOUT 1 [sentence]
	// split COMPONENT_KIND_BOLT 2 [word]
	// count COMPONENT_KIND_BOLT 2 [word count]
	// py COMPONENT_KIND_BOLT 2 [word]
	// bolt 'bad': fields grouping on 'split': stream 'default' has no field 'wrod' (its fields: word)
}
