package sdk

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gale-stream/gale/sdk/spec"
)

// Config is a merged set of settings: topology config, overridden by
// component config, overridden by --conf flags. Keys are dotted names
// (sdk/CONFIG.md lists the topology.* keys Gale reads). Values keep the
// type they were written with; the getters convert strings such as those
// from --conf, and report a clear error when a value does not fit.
type Config map[string]Value

// Has reports whether key is set.
func (c Config) Has(key string) bool { _, ok := c[key]; return ok }

// String returns key as text, or def when unset.
func (c Config) String(key, def string) string {
	v, ok := c[key]
	if !ok || v.IsNull() {
		return def
	}
	return v.String()
}

// Int returns key as an integer, or def when unset.
func (c Config) Int(key string, def int64) (int64, error) {
	v, ok := c[key]
	if !ok || v.IsNull() {
		return def, nil
	}
	if i, ok := spec.IntValue(ValueToProto(v)); ok {
		return i, nil
	}
	return def, fmt.Errorf("config %s: want an integer, got %s %q", key, v.Kind(), v.String())
}

// Float returns key as a number, or def when unset.
func (c Config) Float(key string, def float64) (float64, error) {
	v, ok := c[key]
	if !ok || v.IsNull() {
		return def, nil
	}
	switch v.Kind() {
	case KindInt, KindDouble:
		return v.Double(), nil
	case KindString:
		if f, err := strconv.ParseFloat(v.Str(), 64); err == nil {
			return f, nil
		}
	}
	return def, fmt.Errorf("config %s: want a number, got %s %q", key, v.Kind(), v.String())
}

// Bool returns key as a boolean, or def when unset.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok := c[key]
	if !ok || v.IsNull() {
		return def, nil
	}
	switch v.Kind() {
	case KindBool:
		return v.Bool(), nil
	case KindString:
		if b, err := strconv.ParseBool(v.Str()); err == nil {
			return b, nil
		}
	}
	return def, fmt.Errorf("config %s: want true or false, got %s %q", key, v.Kind(), v.String())
}

// Duration returns key as a duration, or def when unset. Strings use Go
// syntax ("250ms", "30s"); bare numbers are read in the given unit, so
// Duration("topology.message.timeout.secs", time.Second, 30*time.Second)
// reads Storm-style second counts.
func (c Config) Duration(key string, unit, def time.Duration) (time.Duration, error) {
	v, ok := c[key]
	if !ok || v.IsNull() {
		return def, nil
	}
	if d, ok := spec.DurationValue(ValueToProto(v), unit); ok {
		return d, nil
	}
	return def, fmt.Errorf("config %s: want a duration such as 30s, got %s %q", key, v.Kind(), v.String())
}

// Clone returns a copy that can be modified independently.
func (c Config) Clone() Config {
	out := make(Config, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}
