package spec

import (
	"fmt"
	"sort"
	"strings"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// fakeResolver plays the registry in tests: a few spout and bolt classes
// with fixed outputs.
type fakeResolver struct {
	spouts, bolts map[string][]*galev1.StreamSpec
	calls         int
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{
		spouts: map[string][]*galev1.StreamSpec{
			"wordcount.SentenceSpout": {{Id: "default", Fields: []string{"sentence"}}},
			"test.TwoStreams": {
				{Id: "default", Fields: []string{"a", "b"}},
				{Id: "side", Fields: []string{"c"}},
			},
		},
		bolts: map[string][]*galev1.StreamSpec{
			"wordcount.SplitSentence": {{Id: "default", Fields: []string{"word"}}},
			"wordcount.WordCount":     {{Id: "default", Fields: []string{"word", "count"}}},
			"test.Direct": {
				{Id: "default", Fields: []string{"x"}},
				{Id: "d", Fields: []string{"y"}, Direct: true},
			},
			"test.Sink":   nil,
			"test.Panics": {{Id: "default"}}, // handled in Outputs
		},
	}
}

func (f *fakeResolver) Outputs(kind galev1.ComponentKind, class string) ([]*galev1.StreamSpec, error) {
	f.calls++
	if class == "test.Panics" {
		panic("boom")
	}
	m, what := f.spouts, "spout"
	if kind == galev1.ComponentKind_COMPONENT_KIND_BOLT {
		m, what = f.bolts, "bolt"
	}
	outs, ok := m[class]
	if !ok {
		var names []string
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown %s class %q (registered %ss: %s)", what, class, what, strings.Join(names, ", "))
	}
	return outs, nil
}

// lines joins its arguments as the lines of a file, so that a test can
// count line numbers by eye: the i-th argument is line i+1.
func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
