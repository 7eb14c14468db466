package sdk

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/internal/hint"
)

var declaredKeys = struct {
	sync.RWMutex
	keys map[string]bool
}{keys: map[string]bool{}}

// DeclareConfigKeys says which config keys this binary's components read
// (besides Gale's own topology.* settings, which the spec loader checks).
// Packages call it from init beside RegisterSpout and RegisterBolt. A key
// set in a topology or by --conf that nothing declares, but that is a near
// miss of a declared key, is then a likely typo: ConfigKeyWarnings says
// so, and gale submit and gale local print it. A component's keys are not
// required to be declared; undeclared ones are simply not checked.
func DeclareConfigKeys(keys ...string) {
	declaredKeys.Lock()
	defer declaredKeys.Unlock()
	for _, k := range keys {
		declaredKeys.keys[k] = true
	}
}

// ConfigKeyWarnings returns a warning for every config key of ts (its own
// or a component's, topology.* aside) that no component declares
// (DeclareConfigKeys) while a declared key is within a typo of it, such
// as wordcount.outpt for wordcount.output: a setting that would otherwise
// be ignored without a word. Warnings, not errors: a component in another
// language may read a key no Go package declares.
func ConfigKeyWarnings(ts *galev1.TopologySpec) []string {
	declaredKeys.RLock()
	known := maps.Clone(declaredKeys.keys)
	declaredKeys.RUnlock()
	declared := slices.Sorted(maps.Keys(known)) // a stable guess among equally close keys

	var out []string
	check := func(where string, conf map[string]*galev1.Value) {
		keys := make([]string, 0, len(conf))
		for k := range conf {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "topology.") || known[k] {
				continue
			}
			if guess := hint.Suggest(k, declared); guess != "" {
				out = append(out, fmt.Sprintf("%sconfig key %q is read by no component (did you mean %q?)", where, k, guess))
			}
		}
	}
	check("", ts.GetConfig())
	for _, c := range ts.GetComponents() {
		check("component "+c.GetId()+": ", c.GetConfig())
	}
	return out
}
