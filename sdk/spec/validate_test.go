package spec

import (
	"errors"
	"strings"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"google.golang.org/protobuf/proto"
)

const (
	shuffle = galev1.GroupingType_GROUPING_TYPE_SHUFFLE
	fields  = galev1.GroupingType_GROUPING_TYPE_FIELDS
	direct  = galev1.GroupingType_GROUPING_TYPE_DIRECT
)

// validSpec is a small valid topology with resolved outputs: s -> b -> c,
// where b also has a direct stream.
func validSpec() *galev1.TopologySpec {
	return &galev1.TopologySpec{
		Name: "t",
		Components: []*galev1.ComponentSpec{
			{Id: "s", Kind: spout, Parallelism: 1, Implementation: class("x.S"),
				Outputs: []*galev1.StreamSpec{stream("default", false, "line")}},
			{Id: "b", Kind: bolt, Parallelism: 2, Implementation: class("x.B"),
				Outputs: []*galev1.StreamSpec{stream("default", false, "word"), stream("d", true, "w")},
				Inputs:  []*galev1.InputSpec{input("s", "", shuffle)}},
			{Id: "c", Kind: bolt, Parallelism: 2,
				Implementation: &galev1.ComponentSpec_Command{Command: &galev1.ExternalCommand{Argv: []string{"python3", "c.py"}}},
				Inputs:         []*galev1.InputSpec{input("b", "default", fields, "word"), input("b", "d", direct)}},
		},
	}
}

func TestValidateValid(t *testing.T) {
	s := validSpec()
	before := proto.Clone(s)
	if errs := Validate(s); len(errs) != 0 {
		t.Fatalf("Validate(valid) = %v", errs)
	}
	if errs := Validate(s); errs.Err() != nil {
		t.Fatalf("Err() of an empty list is not nil")
	}
	if !proto.Equal(s, before) {
		t.Error("Validate modified the spec")
	}
}

// TestValidateMessages checks what builder users see: no file or line, a
// message naming the component and field, and a path the coordinator or a
// loader can map back.
func TestValidateMessages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *galev1.TopologySpec)
		path   string
		msg    string
	}{
		{"no name", func(s *galev1.TopologySpec) { s.Name = "" }, "name", "topology name is missing"},
		{"long name", func(s *galev1.TopologySpec) { s.Name = strings.Repeat("a", 65) }, "name", "is invalid"},
		{"max name", func(s *galev1.TopologySpec) { s.Name = strings.Repeat("a", 64); s.Components[0].Id = "" }, "components[0].id", "spout #1 has no id"},
		{"empty config key", func(s *galev1.TopologySpec) { s.Config = map[string]*galev1.Value{"": vInt(1)} }, `config[""]`, "config has an empty key"},
		{"component config key", func(s *galev1.TopologySpec) { s.Components[1].Config = map[string]*galev1.Value{"": nil} }, `components[1].config[""]`, "bolt 'b': config has an empty key"},
		{"no components", func(s *galev1.TopologySpec) { s.Components = nil }, "components", "topology has no spout"},
		{"nil component", func(s *galev1.TopologySpec) { s.Components = append(s.Components, nil) }, "components[3]", "component #4 is missing"},
		{"no kind", func(s *galev1.TopologySpec) { s.Components[2].Kind = 0 }, "components[2].kind", "component 'c' has no kind"},
		{"bad kind", func(s *galev1.TopologySpec) { s.Components[2].Kind = 7 }, "components[2].kind", "unknown kind 7"},
		{"parallelism 0", func(s *galev1.TopologySpec) { s.Components[1].Parallelism = 0 }, "components[1].parallelism", "bolt 'b': parallelism must be at least 1, got 0"},
		{"parallelism big", func(s *galev1.TopologySpec) { s.Components[1].Parallelism = 10001 }, "components[1].parallelism", "at most 10000"},
		{"no implementation", func(s *galev1.TopologySpec) { s.Components[1].Implementation = nil }, "components[1].implementation", "bolt 'b' has no implementation"},
		{"empty class", func(s *galev1.TopologySpec) { s.Components[1].Implementation = class("") }, "components[1].class", "bolt 'b': class is empty"},
		{"typed nil class", func(s *galev1.TopologySpec) { s.Components[1].Implementation = (*galev1.ComponentSpec_Class)(nil) }, "components[1].class", "bolt 'b': class is empty"},
		{"typed nil command", func(s *galev1.TopologySpec) { s.Components[2].Implementation = (*galev1.ComponentSpec_Command)(nil) }, "components[2].command.argv", "the external command is empty"},
		{"nil command", func(s *galev1.TopologySpec) {
			s.Components[2].Implementation = &galev1.ComponentSpec_Command{}
		}, "components[2].command.argv", "bolt 'c': the external command is empty"},
		{"empty program", func(s *galev1.TopologySpec) { s.Components[2].GetCommand().Argv[0] = "" }, "components[2].command.argv[0]", "program (argv[0]) is empty"},
		{"bad protocol", func(s *galev1.TopologySpec) { s.Components[2].GetCommand().Protocol = 9 }, "components[2].command.protocol", "unknown external protocol 9"},
		{"bad env", func(s *galev1.TopologySpec) { s.Components[2].GetCommand().Env = map[string]string{"A=B": "x"} }, `components[2].command.env["A=B"]`, `invalid environment variable name "A=B"`},
		{"reserved id", func(s *galev1.TopologySpec) { s.Components[2].Id = "__c" }, "components[2].id", "reserved for system components"},
		{"duplicate id", func(s *galev1.TopologySpec) { s.Components[2].Id = "s" }, "components[2].id", "duplicate component id 's': already used by the spout declared first"},
		{"spout inputs", func(s *galev1.TopologySpec) { s.Components[0].Inputs = []*galev1.InputSpec{input("b", "", shuffle)} }, "components[0].inputs", "spout 's' has inputs"},
		{"bolt no inputs", func(s *galev1.TopologySpec) { s.Components[1].Inputs = nil }, "components[1].inputs", "bolt 'b' has no inputs"},
		{"nil output", func(s *galev1.TopologySpec) { s.Components[0].Outputs = append(s.Components[0].Outputs, nil) }, "components[0].outputs[1]", "output stream #2 is missing"},
		{"no stream id", func(s *galev1.TopologySpec) { s.Components[0].Outputs[0].Id = "" }, "components[0].outputs[0].id", "spout 's': output stream #1 has no id"},
		{"duplicate stream", func(s *galev1.TopologySpec) {
			s.Components[0].Outputs = append(s.Components[0].Outputs, stream("default", false, "x"))
		}, "components[0].outputs[1].id", "spout 's' declares output stream 'default' twice"},
		{"nil input", func(s *galev1.TopologySpec) { s.Components[2].Inputs[0] = nil }, "components[2].inputs[0]", "bolt 'c': input #1 is missing"},
		{"no source", func(s *galev1.TopologySpec) { s.Components[2].Inputs[0].Component = "" }, "components[2].inputs[0].component", "bolt 'c': input #1 has no source component"},
		{"unknown source", func(s *galev1.TopologySpec) { s.Components[2].Inputs[0].Component = "bb" }, "components[2].inputs[0].component", "bolt 'c': input from unknown component 'bb' (did you mean 'b'?)"},
		{"nil grouping", func(s *galev1.TopologySpec) { s.Components[1].Inputs[0].Grouping = nil }, "components[1].inputs[0].grouping.type", "bolt 'b': input from 's' has no grouping"},
		{"unknown grouping", func(s *galev1.TopologySpec) { s.Components[1].Inputs[0].Grouping.Type = 42 }, "components[1].inputs[0].grouping.type", "bolt 'b': input from 's' has an unknown grouping type 42"},
		{"missing stream", func(s *galev1.TopologySpec) { s.Components[1].Inputs[0].Stream = "x" }, "components[1].inputs[0].stream", "'s' has no output stream 'x' (it declares: default)"},
		{"missing field", func(s *galev1.TopologySpec) { s.Components[2].Inputs[0].Grouping.Fields = []string{"word", "nope"} }, "components[2].inputs[0].grouping.fields[1]", "stream 'default' has no field 'nope' (its fields: word)"},
		{"field twice", func(s *galev1.TopologySpec) { s.Components[2].Inputs[0].Grouping.Fields = []string{"word", "word"} }, "components[2].inputs[0].grouping.fields[1]", "lists field 'word' twice"},
		{"subscribed twice", func(s *galev1.TopologySpec) {
			s.Components[2].Inputs = append(s.Components[2].Inputs, input("b", "default", shuffle))
		}, "components[2].inputs[2]", "bolt 'c' subscribes to 'b' stream 'default' twice (inputs #1 and #3)"},
		{"direct on plain", func(s *galev1.TopologySpec) { s.Components[2].Inputs[0].Grouping = &galev1.Grouping{Type: direct} }, "components[2].inputs[0].grouping.type", "direct grouping needs a direct stream"},
		{"plain on direct", func(s *galev1.TopologySpec) { s.Components[2].Inputs[1].Grouping.Type = shuffle }, "components[2].inputs[1].grouping.type", "is a direct stream: subscribe to it with direct grouping, not shuffle"},
		{"self loop", func(s *galev1.TopologySpec) {
			s.Components[1].Inputs = append(s.Components[1].Inputs, input("b", "d", direct))
		}, "components[1].inputs[1].component", "bolt 'b' subscribes to itself: cycle: b -> b"},
		{"cycle", func(s *galev1.TopologySpec) {
			s.Components[2].Outputs = []*galev1.StreamSpec{stream("default", false, "z")}
			s.Components[1].Inputs = append(s.Components[1].Inputs, input("c", "", shuffle))
		}, "components[1].inputs[1].component", "bolt 'b': cycle: b -> c -> b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.mutate(s)
			errs := Validate(s)
			for _, e := range errs {
				if e.File != "" || e.Line != 0 {
					t.Errorf("error has a position: %+v", e)
				}
				if e.Path.String() == tc.path && strings.Contains(e.Msg, tc.msg) {
					if e.Error() != e.Msg {
						t.Errorf("Error() = %q, want the bare message", e.Error())
					}
					return
				}
			}
			t.Errorf("want an error at %s containing %q; got:", tc.path, tc.msg)
			for _, e := range errs {
				t.Errorf("  %s: %s", e.Path, e.Msg)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if errs := Validate(nil); len(errs) != 1 {
		t.Errorf("Validate(nil) = %v", errs)
	}
	if errs := Check(nil, nil); len(errs) != 1 {
		t.Errorf("Check(nil) = %v", errs)
	}
}

// TestCycles checks that each cycle is reported once, as a shortest cycle
// through its first-declared component, on big graphs too.
func TestCycles(t *testing.T) {
	s := &galev1.TopologySpec{Name: "t", Components: []*galev1.ComponentSpec{
		{Id: "s", Kind: spout, Parallelism: 1, Implementation: class("x"), Outputs: []*galev1.StreamSpec{stream("default", false, "f")}},
	}}
	add := func(id string, from ...string) {
		c := &galev1.ComponentSpec{Id: id, Kind: bolt, Parallelism: 1, Implementation: class("x"), Outputs: []*galev1.StreamSpec{stream("default", false, "f")}}
		for _, f := range from {
			c.Inputs = append(c.Inputs, input(f, "", shuffle))
		}
		s.Components = append(s.Components, c)
	}
	// Two separate cycles: a -> b -> c -> a (with a shortcut a -> c), and
	// d -> e -> d; f hangs off a and is in no cycle.
	add("a", "s", "c")
	add("b", "a")
	add("c", "b", "a")
	add("d", "e", "s")
	add("e", "d")
	add("f", "a")
	errs := Validate(s)
	var got []string
	for _, e := range errs {
		got = append(got, e.Msg)
	}
	want := []string{"bolt 'a': cycle: a -> c -> a", "bolt 'd': cycle: d -> e -> d"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A long chain closed into a ring: no stack trouble, one error.
	s.Components = s.Components[:1]
	const n = 5000
	add("r0", "s", "r4999")
	for i := 1; i < n; i++ {
		add("r"+itoa(i), "r"+itoa(i-1))
	}
	errs = Validate(s)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Msg, "bolt 'r0': cycle: r0 -> r1 -> r2") || !strings.HasSuffix(errs[0].Msg, "r4999 -> r0") {
		t.Errorf("ring: %d errors, first %.200q", len(errs), errs)
	}
}

func TestCheckResolves(t *testing.T) {
	s := validSpec()
	s.Components[0].Outputs = nil
	s.Components[1].Outputs = []*galev1.StreamSpec{stream("stale", false)}
	r := ResolverFunc(func(kind galev1.ComponentKind, c string) ([]*galev1.StreamSpec, error) {
		if c == "x.S" {
			return []*galev1.StreamSpec{stream("default", false, "line")}, nil
		}
		return []*galev1.StreamSpec{stream("default", false, "word"), stream("d", true, "w")}, nil
	})
	if errs := Check(s, r); len(errs) != 0 {
		t.Fatalf("Check = %v", errs)
	}
	if !proto.Equal(s, validSpec()) {
		t.Errorf("Check did not fill the outputs: %v", s)
	}

	// A resolver error names the component and class, at its class path,
	// and inputs from it are not checked any further.
	s = validSpec()
	errs := Check(s, ResolverFunc(func(kind galev1.ComponentKind, c string) ([]*galev1.StreamSpec, error) {
		if c == "x.B" {
			return nil, errors.New(`unknown bolt class "x.B"`)
		}
		return []*galev1.StreamSpec{stream("default", false, "line")}, nil
	}))
	if len(errs) != 1 || errs[0].Path.String() != "components[1].class" || errs[0].Msg != `bolt 'b': unknown bolt class "x.B"` {
		t.Errorf("Check = %v", errs)
	}

	// Without a resolver, class outputs are left alone.
	s = validSpec()
	if errs := Check(s, nil); len(errs) != 0 || !proto.Equal(s, validSpec()) {
		t.Errorf("Check(nil resolver) = %v", errs)
	}
}

func TestParseGrouping(t *testing.T) {
	for in, want := range map[string]galev1.GroupingType{
		"shuffle": shuffle, "FIELDS": fields, "Local-Or-Shuffle": galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE,
		"PARTIAL_KEY": galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY, " none ": galev1.GroupingType_GROUPING_TYPE_NONE,
		"global": galev1.GroupingType_GROUPING_TYPE_GLOBAL, "all": galev1.GroupingType_GROUPING_TYPE_ALL, "direct": direct,
	} {
		if got, err := ParseGrouping(in); err != nil || got != want {
			t.Errorf("ParseGrouping(%q) = %v, %v", in, got, err)
		}
		if got, _ := ParseGrouping(GroupingName(want)); got != want {
			t.Errorf("GroupingName(%v) does not parse back", want)
		}
	}
	if _, err := ParseGrouping("CUSTOM"); err == nil || !strings.Contains(err.Error(), "custom groupings are not supported") {
		t.Errorf("CUSTOM: %v", err)
	}
	if _, err := ParseGrouping("feilds"); err == nil || !strings.Contains(err.Error(), "did you mean 'fields'?") {
		t.Errorf("feilds: %v", err)
	}
}

// A spout without its kind is reported as such, without a "no spout"
// error before it that blames the topology.
func TestAKindlessSpoutIsNotANoSpoutTopology(t *testing.T) {
	s := validSpec()
	s.Components[0].Kind = 0
	errs := Validate(s)
	if len(errs) != 1 || errs[0].Path.String() != "components[0].kind" || !strings.Contains(errs[0].Msg, "has no kind") {
		t.Fatalf("Validate: %v, want the one error of the missing kind", errs)
	}
}
