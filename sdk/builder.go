package sdk

import (
	"fmt"
	"math"
	"slices"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/spec"
	"google.golang.org/protobuf/proto"
)

// BuilderSource is the Source of specs made by TopologyBuilder.
const BuilderSource = "go-builder"

// TopologyBuilder builds a topology in Go, in the manner of Storm's
// TopologyBuilder:
//
//	b := sdk.NewTopologyBuilder("wordcount")
//	b.SetSpout("sentences", "wordcount.SentenceSpout", 1)
//	b.SetBolt("split", "wordcount.SplitSentence", 2).ShuffleGrouping("sentences")
//	b.SetBolt("count", "wordcount.WordCount", 2).FieldsGrouping("split", sdk.DefaultStream, "word")
//	spec, err := b.Build()
//
// The result is the same *galev1.TopologySpec the YAML loader makes, checked
// by the same code (spec.Check), so a topology is valid or not regardless
// of how it was written. The setters never fail: every mistake is collected
// and Build reports them all at once, each naming the component and field.
//
// Grouping methods follow one rule: a grouping that takes no fields has a
// form for the default stream, ShuffleGrouping(from), and one for a named
// stream, ShuffleGroupingStream(from, stream); a grouping that takes fields
// always names the stream, FieldsGrouping(from, stream, fields...), since
// the variadic fields must come last. An empty stream means the default
// stream, as in the spec.
//
// A TopologyBuilder is not safe for concurrent use. Build may be called
// more than once; each call returns an independent spec.
type TopologyBuilder struct {
	name   string
	comps  []*galev1.ComponentSpec
	config map[string]*galev1.Value
	misuse spec.ErrorList // mistakes found by the setters, reported by Build
}

// NewTopologyBuilder starts a topology with the given name (1 to 64
// characters of [A-Za-z0-9._-]).
func NewTopologyBuilder(name string) *TopologyBuilder {
	return &TopologyBuilder{name: name}
}

// SetConfig sets a topology config key, read by every component (and by
// Gale for topology.* keys).
func (b *TopologyBuilder) SetConfig(key string, v Value) *TopologyBuilder {
	if b.config == nil {
		b.config = map[string]*galev1.Value{}
	}
	b.config[key] = ValueToProto(v)
	return b
}

// SetSpout adds a Go spout registered under className (RegisterSpout) with the
// given number of tasks.
func (b *TopologyBuilder) SetSpout(id, className string, parallelism int) *SpoutDeclarer {
	return &SpoutDeclarer{b.add(id, galev1.ComponentKind_COMPONENT_KIND_SPOUT, parallelism, class(className))}
}

// SetExternalSpout adds a spout run as one external process per task, started
// with argv (e.g. python3 spout.py). Declare its streams with Outputs: only
// the process knows them.
func (b *TopologyBuilder) SetExternalSpout(id string, argv []string, parallelism int) *SpoutDeclarer {
	return &SpoutDeclarer{b.add(id, galev1.ComponentKind_COMPONENT_KIND_SPOUT, parallelism, command(argv))}
}

// SetAttachedSpout adds a spout whose tasks are served by external processes
// that attach to a node by themselves. Declare its streams with Outputs.
func (b *TopologyBuilder) SetAttachedSpout(id string, parallelism int) *SpoutDeclarer {
	return &SpoutDeclarer{b.add(id, galev1.ComponentKind_COMPONENT_KIND_SPOUT, parallelism, attached)}
}

// SetBolt adds a Go bolt registered under className (RegisterBolt) with the
// given number of tasks. Subscribe it to streams with the grouping methods.
func (b *TopologyBuilder) SetBolt(id, className string, parallelism int) *BoltDeclarer {
	return &BoltDeclarer{b.add(id, galev1.ComponentKind_COMPONENT_KIND_BOLT, parallelism, class(className))}
}

// SetExternalBolt adds a bolt run as one external process per task, started
// with argv. Declare its streams with Outputs.
func (b *TopologyBuilder) SetExternalBolt(id string, argv []string, parallelism int) *BoltDeclarer {
	return &BoltDeclarer{b.add(id, galev1.ComponentKind_COMPONENT_KIND_BOLT, parallelism, command(argv))}
}

// SetAttachedBolt adds a bolt whose tasks are served by external processes
// that attach to a node by themselves. Declare its streams with Outputs.
func (b *TopologyBuilder) SetAttachedBolt(id string, parallelism int) *BoltDeclarer {
	return &BoltDeclarer{b.add(id, galev1.ComponentKind_COMPONENT_KIND_BOLT, parallelism, attached)}
}

func class(name string) func(*galev1.ComponentSpec) {
	return func(c *galev1.ComponentSpec) { c.Implementation = &galev1.ComponentSpec_Class{Class: name} }
}

func command(argv []string) func(*galev1.ComponentSpec) {
	return func(c *galev1.ComponentSpec) {
		c.Implementation = &galev1.ComponentSpec_Command{Command: &galev1.ExternalCommand{Argv: slices.Clone(argv)}}
	}
}

func attached(c *galev1.ComponentSpec) {
	c.Implementation = &galev1.ComponentSpec_Attached{Attached: &galev1.AttachedComponent{}}
}

// add appends a component; set, given the new spec, sets its
// implementation (the oneof's interface type is unexported, so it cannot
// be passed as a value).
func (b *TopologyBuilder) add(id string, kind galev1.ComponentKind, parallelism int, set func(*galev1.ComponentSpec)) declarer {
	c := &galev1.ComponentSpec{Id: id, Kind: kind, Parallelism: clampInt32(parallelism)}
	set(c)
	b.comps = append(b.comps, c)
	return declarer{b: b, i: len(b.comps) - 1}
}

// clampInt32 keeps an out-of-range parallelism out of range after the
// conversion (rather than wrapping around to a plausible number), so that
// validation reports it.
func clampInt32(n int) int32 {
	switch {
	case n > math.MaxInt32:
		return math.MaxInt32
	case n < math.MinInt32:
		return math.MinInt32
	}
	return int32(n)
}

// Build resolves the outputs of Go classes through the registry, checks the
// topology and returns its spec (Source "go-builder"). On failure the error
// is a spec.ErrorList with every problem found, each naming the component
// and field.
func (b *TopologyBuilder) Build() (*galev1.TopologySpec, error) {
	return b.BuildWith(RegistryResolver{})
}

// BuildWith is Build with another resolver for Go classes: a fake in tests,
// or nil to leave class outputs unresolved (and inputs from them unchecked)
// when building a spec for a cluster whose binary has classes this one
// lacks.
func (b *TopologyBuilder) BuildWith(r spec.Resolver) (*galev1.TopologySpec, error) {
	s := &galev1.TopologySpec{Name: b.name, Source: BuilderSource}
	for _, c := range b.comps {
		s.Components = append(s.Components, proto.CloneOf(c))
	}
	if len(b.config) > 0 {
		s.Config = make(map[string]*galev1.Value, len(b.config))
		for k, v := range b.config {
			s.Config[k] = proto.CloneOf(v)
		}
	}
	errs := append(slices.Clone(b.misuse), spec.Check(s, r)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// declarer is what spout and bolt declarers share: the component they
// configure.
type declarer struct {
	b *TopologyBuilder
	i int
}

func (d declarer) spec() *galev1.ComponentSpec { return d.b.comps[d.i] }

// who names the component in messages, like spec validation does.
func (d declarer) who() string {
	c := d.spec()
	kind := "bolt"
	if c.Kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
		kind = "spout"
	}
	return fmt.Sprintf("%s '%s'", kind, c.Id)
}

func (d declarer) fail(field, format string, args ...any) {
	d.b.misuse = append(d.b.misuse, &spec.Error{
		Path: spec.Path{}.Field("components").Index(d.i).Field(field),
		Msg:  d.who() + ": " + fmt.Sprintf(format, args...),
	})
}

func (d declarer) setConfig(key string, v Value) {
	c := d.spec()
	if c.Config == nil {
		c.Config = map[string]*galev1.Value{}
	}
	c.Config[key] = ValueToProto(v)
}

func (d declarer) outputs(method string, streams []StreamDecl) {
	c := d.spec()
	if cl, ok := c.Implementation.(*galev1.ComponentSpec_Class); ok {
		d.fail("outputs", "%s is only for external and attached components; class '%s' declares its own outputs (DeclareOutputFields)", method, cl.Class)
		return
	}
	c.Outputs = append(c.Outputs, streamSpecs(streams)...)
}

func (d declarer) command(method string) *galev1.ExternalCommand {
	if cmd, ok := d.spec().Implementation.(*galev1.ComponentSpec_Command); ok {
		return cmd.Command
	}
	d.fail("command", "%s is only for external components (SetExternalSpout, SetExternalBolt)", method)
	return nil
}

func (d declarer) setDir(dir string) {
	if cmd := d.command("Dir"); cmd != nil {
		cmd.Dir = dir
	}
}

func (d declarer) setEnv(key, value string) {
	if cmd := d.command("Env"); cmd != nil {
		if cmd.Env == nil {
			cmd.Env = map[string]string{}
		}
		cmd.Env[key] = value
	}
}

func (d declarer) setProtocol(p galev1.ExternalProtocol) {
	if cmd := d.command("Protocol"); cmd != nil {
		cmd.Protocol = p
	}
}

func (d declarer) setToken(token string) {
	if a, ok := d.spec().Implementation.(*galev1.ComponentSpec_Attached); ok {
		a.Attached.Token = token
		return
	}
	d.fail("attached", "Token is only for attached components (SetAttachedSpout, SetAttachedBolt)")
}

// SpoutDeclarer configures a spout added with SetSpout, SetExternalSpout or
// SetAttachedSpout. Its methods return the declarer, for chaining.
type SpoutDeclarer struct{ d declarer }

// SetConfig sets a config key for this spout's tasks only, overriding the
// topology's.
func (s *SpoutDeclarer) SetConfig(key string, v Value) *SpoutDeclarer {
	s.d.setConfig(key, v)
	return s
}

// Outputs declares the streams of an external or attached spout. A Go
// spout declares its own (DeclareOutputFields); calling Outputs on one is
// an error.
func (s *SpoutDeclarer) Outputs(streams ...StreamDecl) *SpoutDeclarer {
	s.d.outputs("Outputs", streams)
	return s
}

// Dir sets the working directory of an external spout's processes.
func (s *SpoutDeclarer) Dir(dir string) *SpoutDeclarer {
	s.d.setDir(dir)
	return s
}

// Env adds an environment variable to an external spout's processes.
func (s *SpoutDeclarer) Env(key, value string) *SpoutDeclarer {
	s.d.setEnv(key, value)
	return s
}

// Protocol sets the protocol an external spout's processes speak (the
// default is Gale's Attach protocol).
func (s *SpoutDeclarer) Protocol(p galev1.ExternalProtocol) *SpoutDeclarer {
	s.d.setProtocol(p)
	return s
}

// Token sets the token that the processes serving an attached spout must
// present.
func (s *SpoutDeclarer) Token(token string) *SpoutDeclarer {
	s.d.setToken(token)
	return s
}

// BoltDeclarer configures a bolt added with SetBolt, SetExternalBolt or
// SetAttachedBolt, and subscribes it to streams. Its methods return the
// declarer, for chaining.
type BoltDeclarer struct{ d declarer }

// SetConfig sets a config key for this bolt's tasks only, overriding the
// topology's.
func (b *BoltDeclarer) SetConfig(key string, v Value) *BoltDeclarer {
	b.d.setConfig(key, v)
	return b
}

// Outputs declares the streams of an external or attached bolt. A Go bolt
// declares its own (DeclareOutputFields); calling Outputs on one is an
// error.
func (b *BoltDeclarer) Outputs(streams ...StreamDecl) *BoltDeclarer {
	b.d.outputs("Outputs", streams)
	return b
}

// Dir sets the working directory of an external bolt's processes.
func (b *BoltDeclarer) Dir(dir string) *BoltDeclarer {
	b.d.setDir(dir)
	return b
}

// Env adds an environment variable to an external bolt's processes.
func (b *BoltDeclarer) Env(key, value string) *BoltDeclarer {
	b.d.setEnv(key, value)
	return b
}

// Protocol sets the protocol an external bolt's processes speak (the
// default is Gale's Attach protocol).
func (b *BoltDeclarer) Protocol(p galev1.ExternalProtocol) *BoltDeclarer {
	b.d.setProtocol(p)
	return b
}

// Token sets the token that the processes serving an attached bolt must
// present.
func (b *BoltDeclarer) Token(token string) *BoltDeclarer {
	b.d.setToken(token)
	return b
}

// Grouping subscribes the bolt to a stream of component from with any
// grouping; the named methods below are shorthands for it. An empty stream
// is the default stream.
func (b *BoltDeclarer) Grouping(from, stream string, t galev1.GroupingType, fields ...string) *BoltDeclarer {
	c := b.d.spec()
	c.Inputs = append(c.Inputs, &galev1.InputSpec{
		Component: from,
		Stream:    stream,
		Grouping:  &galev1.Grouping{Type: t, Fields: slices.Clone(fields)},
	})
	return b
}

// ShuffleGrouping subscribes to from's default stream, spreading tuples
// evenly over this bolt's tasks.
func (b *BoltDeclarer) ShuffleGrouping(from string) *BoltDeclarer {
	return b.Grouping(from, "", galev1.GroupingType_GROUPING_TYPE_SHUFFLE)
}

// ShuffleGroupingStream is ShuffleGrouping on a named stream.
func (b *BoltDeclarer) ShuffleGroupingStream(from, stream string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_SHUFFLE)
}

// FieldsGrouping subscribes to a stream of from, sending tuples with equal
// values of fields to the same task.
func (b *BoltDeclarer) FieldsGrouping(from, stream string, fields ...string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_FIELDS, fields...)
}

// PartialKeyGrouping subscribes to a stream of from, sending each key to
// the less loaded of two candidate tasks (for skewed keys).
func (b *BoltDeclarer) PartialKeyGrouping(from, stream string, fields ...string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY, fields...)
}

// AllGrouping subscribes to from's default stream, replicating every tuple
// to every task.
func (b *BoltDeclarer) AllGrouping(from string) *BoltDeclarer {
	return b.Grouping(from, "", galev1.GroupingType_GROUPING_TYPE_ALL)
}

// AllGroupingStream is AllGrouping on a named stream.
func (b *BoltDeclarer) AllGroupingStream(from, stream string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_ALL)
}

// GlobalGrouping subscribes to from's default stream, sending every tuple
// to the task with the lowest id.
func (b *BoltDeclarer) GlobalGrouping(from string) *BoltDeclarer {
	return b.Grouping(from, "", galev1.GroupingType_GROUPING_TYPE_GLOBAL)
}

// GlobalGroupingStream is GlobalGrouping on a named stream.
func (b *BoltDeclarer) GlobalGroupingStream(from, stream string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_GLOBAL)
}

// DirectGrouping subscribes to from's default stream, letting the emitter
// choose the task; the stream must be declared direct.
func (b *BoltDeclarer) DirectGrouping(from string) *BoltDeclarer {
	return b.Grouping(from, "", galev1.GroupingType_GROUPING_TYPE_DIRECT)
}

// DirectGroupingStream is DirectGrouping on a named stream.
func (b *BoltDeclarer) DirectGroupingStream(from, stream string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_DIRECT)
}

// LocalOrShuffleGrouping subscribes to from's default stream, preferring
// tasks in the emitter's process.
func (b *BoltDeclarer) LocalOrShuffleGrouping(from string) *BoltDeclarer {
	return b.Grouping(from, "", galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE)
}

// LocalOrShuffleGroupingStream is LocalOrShuffleGrouping on a named stream.
func (b *BoltDeclarer) LocalOrShuffleGroupingStream(from, stream string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE)
}

// NoneGrouping subscribes to from's default stream without caring which
// task gets a tuple (Gale shuffles).
func (b *BoltDeclarer) NoneGrouping(from string) *BoltDeclarer {
	return b.Grouping(from, "", galev1.GroupingType_GROUPING_TYPE_NONE)
}

// NoneGroupingStream is NoneGrouping on a named stream.
func (b *BoltDeclarer) NoneGroupingStream(from, stream string) *BoltDeclarer {
	return b.Grouping(from, stream, galev1.GroupingType_GROUPING_TYPE_NONE)
}
