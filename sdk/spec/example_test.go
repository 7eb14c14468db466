package spec_test

import (
	"errors"
	"fmt"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/spec"
)

// registry plays the part of sdk.RegistryResolver: it knows the output
// streams of the Go classes compiled into the binary.
var registry = spec.ResolverFunc(func(kind galev1.ComponentKind, class string) ([]*galev1.StreamSpec, error) {
	switch class {
	case "wordcount.SentenceSpout":
		return []*galev1.StreamSpec{{Id: "default", Fields: []string{"sentence"}}}, nil
	case "wordcount.SplitSentence":
		return []*galev1.StreamSpec{{Id: "default", Fields: []string{"word"}}}, nil
	}
	return nil, fmt.Errorf("unknown class %q", class)
})

func ExampleParse() {
	good := []byte(`
name: wordcount
spouts:
  - id: sentences
    class: wordcount.SentenceSpout
bolts:
  - id: split
    class: wordcount.SplitSentence
    parallelism: 2
    inputs: [{from: sentences, grouping: shuffle}]
`)
	s, err := spec.Parse("wordcount.yaml", good, registry, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range s.Components {
		fmt.Println(c.Id, c.Parallelism, c.Outputs[0].Fields)
	}

	// Every problem is reported, with its line and column.
	bad := []byte(`
name: wordcount
spouts:
  - id: sentences
    class: wordcount.SentenceSpout
    paralelism: 2
bolts:
  - id: split
    class: wordcount.SplitSentence
    inputs:
      - {from: sentences, grouping: fields, fields: [word]}
      - {from: split, grouping: shuffle}
`)
	_, err = spec.Parse("wordcount.yaml", bad, registry, nil)
	fmt.Println(err)

	var list spec.ErrorList
	if errors.As(err, &list) {
		fmt.Println(len(list), "errors; the second is at line", list[1].Line, "path", list[1].Path)
	}
	// Output:
	// sentences 1 [sentence]
	// split 2 [word]
	// wordcount.yaml:6:5: unknown key 'paralelism' in spout 'sentences'; allowed: id, class, run, dir, env, protocol, attached, parallelism, config, outputs, inputs (did you mean 'parallelism'?)
	// wordcount.yaml:11:54: bolt 'split': fields grouping on 'sentences': stream 'default' has no field 'word' (its fields: sentence)
	// wordcount.yaml:12:16: bolt 'split' subscribes to itself: cycle: split -> split
	// 3 errors; the second is at line 11 path components[1].inputs[0].grouping.fields[0]
}

func ExampleValidate() {
	s := &galev1.TopologySpec{
		Name: "t",
		Components: []*galev1.ComponentSpec{{
			Id:             "s",
			Kind:           galev1.ComponentKind_COMPONENT_KIND_SPOUT,
			Parallelism:    0,
			Implementation: &galev1.ComponentSpec_Class{Class: "x.Spout"},
		}},
	}
	for _, e := range spec.Validate(s) {
		fmt.Printf("%s: %s\n", e.Path, e.Msg)
	}
	// Output:
	// components[0].parallelism: spout 's': parallelism must be at least 1, got 0
}

func ExampleParseConfFlag() {
	for _, flag := range []string{"topology.batch.size=4", "app.ratio=0.5", "app.debug=true", "app.name=demo", "app.id='42'"} {
		k, v, _ := spec.ParseConfFlag(flag)
		fmt.Println(k, v)
	}
	// Output:
	// topology.batch.size int_value:4
	// app.ratio double_value:0.5
	// app.debug bool_value:true
	// app.name string_value:"demo"
	// app.id string_value:"42"
}
