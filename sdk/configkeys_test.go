package sdk

import (
	"slices"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

func TestConfigKeyWarnings(t *testing.T) {
	DeclareConfigKeys("testkeys.output", "testkeys.max_retries")
	str := func(s string) *galev1.Value { return &galev1.Value{Kind: &galev1.Value_StringValue{StringValue: s}} }
	conf := func(keys ...string) map[string]*galev1.Value {
		m := map[string]*galev1.Value{}
		for _, k := range keys {
			m[k] = str("x")
		}
		return m
	}
	for _, tc := range []struct {
		name      string
		top, comp map[string]*galev1.Value
		want      []string
	}{
		{"declared keys", conf("testkeys.output"), conf("testkeys.max_retries"), nil},
		{"a typo", conf("testkeys.outpt"), nil, []string{`config key "testkeys.outpt" is read by no component (did you mean "testkeys.output"?)`}},
		{"a typo in a component", nil, conf("testkeys.max_retires"), []string{`component c: config key "testkeys.max_retires" is read by no component (did you mean "testkeys.max_retries"?)`}},
		{"Gale's own settings are the loader's", conf("topology.batch.size"), nil, nil},
		{"a key far from every declared one", conf("myapp.threshold"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := &galev1.TopologySpec{Config: tc.top, Components: []*galev1.ComponentSpec{{Id: "c", Config: tc.comp}}}
			if got := ConfigKeyWarnings(ts); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
