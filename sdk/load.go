package sdk

import (
	"fmt"
	"slices"
	"strings"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/internal/hint"
	"github.com/gale-stream/gale/sdk/spec"
)

// LoadTopology reads a YAML topology file (format: sdk/spec/FORMAT.md),
// resolving `class:` names through this binary's registry, and returns the
// validated spec. overrides, typically from --conf flags (see
// spec.ParseConfFlag), replace topology config keys. A bad spec fails with
// a spec.ErrorList giving file:line:column and what is wrong for every
// problem found.
func LoadTopology(path string, overrides map[string]*galev1.Value) (*galev1.TopologySpec, error) {
	return spec.Load(path, RegistryResolver{}, overrides)
}

// RegistryResolver is the spec.Resolver backed by the registry
// (RegisterSpout, RegisterBolt): it makes a fresh instance of the class and
// asks it for its output streams. A class's outputs thus come from its code,
// never from the topology file, so the two cannot disagree.
//
// It is safe for concurrent use, as the registry is. Each call creates one
// instance and calls only DeclareOutputFields on it (never Open or Prepare),
// as the Component contract allows.
type RegistryResolver struct{}

// Outputs implements spec.Resolver. A class registered under the other
// kind gets an error saying so, since that is the likely mistake; an
// unknown class gets the list of registered ones; a factory or
// DeclareOutputFields that panics gets an error naming the class.
func (RegistryResolver) Outputs(kind galev1.ComponentKind, class string) ([]*galev1.StreamSpec, error) {
	var (
		c   Component
		err error
	)
	switch kind {
	case galev1.ComponentKind_COMPONENT_KIND_SPOUT:
		f, ok := LookupSpout(class)
		if !ok {
			return nil, unknownClass("spout", class)
		}
		c, err = instantiate("spout", class, func() Component { return f() })
	case galev1.ComponentKind_COMPONENT_KIND_BOLT:
		f, ok := LookupBolt(class)
		if !ok {
			return nil, unknownClass("bolt", class)
		}
		c, err = instantiate("bolt", class, func() Component { return f() })
	default:
		return nil, fmt.Errorf("cannot resolve class %q for component kind %v", class, kind)
	}
	if err != nil {
		return nil, err
	}
	return declaredStreams(kindLabel(kind), class, c)
}

func kindLabel(kind galev1.ComponentKind) string {
	if kind == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
		return "spout"
	}
	return "bolt"
}

// unknownClass explains a failed lookup.
func unknownClass(kind, class string) error {
	spouts, bolts := RegisteredClasses()
	mine, other, otherKind := spouts, bolts, "bolt"
	if kind == "bolt" {
		mine, other, otherKind = bolts, spouts, "spout"
	}
	if slices.Contains(other, class) {
		return fmt.Errorf("unknown %s class %q: it is registered as a %s", kind, class, otherKind)
	}
	if len(mine) == 0 {
		return fmt.Errorf("unknown %s class %q (no %ss are registered in this binary: import the package that registers it, or build with BuildWith(nil) to leave classes to the cluster's binary)", kind, class, kind)
	}
	const show = 30
	list := strings.Join(mine[:min(len(mine), show)], ", ")
	if len(mine) > show {
		list += fmt.Sprintf(", ... (%d more)", len(mine)-show)
	}
	if guess := hint.Suggest(class, mine); guess != "" {
		return fmt.Errorf("unknown %s class %q (did you mean %q? registered %ss: %s)", kind, class, guess, kind, list)
	}
	return fmt.Errorf("unknown %s class %q (registered %ss: %s); a class of your own runs in a program that imports its package, "+
		"or as a process of its own named with run: (see sdk/attach)", kind, class, kind, list)
}

// instantiate calls a factory, turning a panic or a nil result into an
// error: a broken component must fail the topology check, not the process.
func instantiate(kind, class string, newInstance func() Component) (c Component, err error) {
	defer func() {
		if v := recover(); v != nil {
			c, err = nil, fmt.Errorf("%s class %q: its factory panicked: %v", kind, class, v)
		}
	}()
	if c = newInstance(); c == nil {
		return nil, fmt.Errorf("%s class %q: its factory returned nil", kind, class)
	}
	return c, nil
}

// declaredStreams calls DeclareOutputFields and converts the result.
func declaredStreams(kind, class string, c Component) (outs []*galev1.StreamSpec, err error) {
	defer func() {
		if v := recover(); v != nil {
			outs, err = nil, fmt.Errorf("%s class %q: DeclareOutputFields panicked: %v", kind, class, v)
		}
	}()
	var d OutputDeclarer
	c.DeclareOutputFields(&d)
	return streamSpecs(d.Streams), nil
}

// streamSpecs converts declared streams to their proto form. Problems
// (empty ids, duplicate fields) are left for spec validation to report
// with the component's name.
func streamSpecs(decls []StreamDecl) []*galev1.StreamSpec {
	out := make([]*galev1.StreamSpec, len(decls))
	for i, s := range decls {
		out[i] = &galev1.StreamSpec{Id: s.ID, Fields: slices.Clone(s.Fields), Direct: s.Direct}
	}
	return out
}

// ValueToProto converts a Value to its wire form. Bytes are copied.
func ValueToProto(v Value) *galev1.Value {
	switch v.Kind() {
	case KindString:
		return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: v.Str()}}
	case KindInt:
		return &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: v.Int()}}
	case KindDouble:
		return &galev1.Value{Kind: &galev1.Value_DoubleValue{DoubleValue: v.Double()}}
	case KindBool:
		return &galev1.Value{Kind: &galev1.Value_BoolValue{BoolValue: v.Bool()}}
	case KindBytes:
		return &galev1.Value{Kind: &galev1.Value_BytesValue{BytesValue: v.BytesValue()}}
	}
	return &galev1.Value{}
}

// ValueFromProto converts a wire value to a Value; nil and a value with no
// kind set are null. Bytes are copied, so the Value does not pin the
// message.
func ValueFromProto(p *galev1.Value) Value {
	switch k := p.GetKind().(type) {
	case *galev1.Value_StringValue:
		return String(k.StringValue)
	case *galev1.Value_IntValue:
		return Int(k.IntValue)
	case *galev1.Value_DoubleValue:
		return Double(k.DoubleValue)
	case *galev1.Value_BoolValue:
		return Bool(k.BoolValue)
	case *galev1.Value_BytesValue:
		return Bytes(k.BytesValue)
	}
	return Null()
}

// ConfigFromProto converts a spec's config map (topology or component) to
// a Config. It never returns nil, so the result can be written to.
func ConfigFromProto(m map[string]*galev1.Value) Config {
	c := make(Config, len(m))
	for k, v := range m {
		c[k] = ValueFromProto(v)
	}
	return c
}

// ConfigToProto converts a Config to the map a spec holds; nil for an
// empty config.
func ConfigToProto(c Config) map[string]*galev1.Value {
	if len(c) == 0 {
		return nil
	}
	m := make(map[string]*galev1.Value, len(c))
	for k, v := range c {
		m[k] = ValueToProto(v)
	}
	return m
}
