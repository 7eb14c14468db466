package spec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/internal/hint"
)

// RuntimePrefix starts the names of Gale's own config keys. Keys under it
// are checked against RuntimeKeys: a misspelled setting is an error, not a
// silent no-op. Components' own keys live outside it (wordcount.input).
const RuntimePrefix = "topology."

// Gale's own config keys. sdk/CONFIG.md documents them for users; the
// runtime's defaults are in node.DefaultSettings.
const (
	KeyAckers         = "topology.acker.executors"
	KeyMessageTimeout = "topology.message.timeout.secs"
	KeyMaxSpoutPend   = "topology.max.spout.pending"
	KeyTickFreq       = "topology.tick.tuple.freq.secs"
	KeyBatchSize      = "topology.batch.size"
	KeyRemoteBatch    = "topology.remote.batch.size"
	KeyBatchLinger    = "topology.batch.linger"
	KeyQueueSize      = "topology.queue.size"
	KeyBatchBytes     = "topology.batch.bytes"
	KeyQueueBytes     = "topology.queue.bytes"
	KeySpoutWait      = "topology.spout.wait"
	KeyIdleFlushGap   = "topology.batch.idle.gap"
	KeyRemoteFrameGap = "topology.remote.batch.gap"
	KeyPreciseWakeups = "topology.wakeup.precise"
	// KeyBalanceOnJoin lets a node that joins take running tasks of the
	// topology from the most loaded nodes (they restart there, losing
	// their in-memory state); by default they stay where they run.
	KeyBalanceOnJoin = "topology.balance.on.join"

	// Keys of external components (sdk/ATTACH.md), read per component.
	KeyExternalHeartbeat   = "topology.external.heartbeat.ms"
	KeyExternalMaxInflight = "topology.external.max.inflight"
	// KeyExternalMaxInflightBytes bounds the bytes of the inputs a
	// process holds, beside their count.
	KeyExternalMaxInflightBytes = "topology.external.max.inflight.bytes"
	// KeySubprocessTimeout is Storm's key for how long a multilang
	// process may leave a command unanswered.
	KeySubprocessTimeout = "topology.subprocess.timeout.secs"
)

// RuntimeKey describes one of Gale's config keys: where it is read and
// which values it takes. The spec validator, the runtime and the SDKs'
// window bolts all read the keys through this one table, so a value the
// validator accepts is one the runtime can use.
type RuntimeKey struct {
	Name string
	// PerComponent keys are read from each component's config (over the
	// topology's, which sets them for every component); the others are
	// settings of the whole topology, and a component's config may not
	// set them (it would be silently ignored).
	PerComponent bool
	// Bool keys take true or false (or a string of either, as --conf
	// gives).
	Bool bool
	// Unit is the unit of a bare number for a duration key (a string such
	// as "250us" gives its own); 0 for an integer key.
	Unit time.Duration
	// Min and Max bound the value: a count, or nanoseconds for durations.
	// Upper bounds keep a typo from allocating the machine away.
	Min, Max int64
}

// runtimeKeys is the table, in the order of sdk/CONFIG.md.
var runtimeKeys = []RuntimeKey{
	{Name: KeyAckers, Min: 0, Max: 10000},
	{Name: KeyMessageTimeout, Unit: time.Second, Min: int64(10 * time.Millisecond), Max: int64(24 * time.Hour)},
	{Name: KeyMaxSpoutPend, PerComponent: true, Min: 0, Max: 1 << 24},
	{Name: KeyTickFreq, PerComponent: true, Unit: time.Second, Min: 0, Max: int64(24 * time.Hour)},
	{Name: KeyBatchSize, Min: 1, Max: 1 << 16},
	{Name: KeyRemoteBatch, Min: 1, Max: 1 << 16},
	{Name: KeyBatchLinger, Unit: time.Millisecond, Min: 0, Max: int64(24 * time.Hour)},
	{Name: KeyIdleFlushGap, Unit: time.Millisecond, Min: 0, Max: int64(24 * time.Hour)},
	{Name: KeyRemoteFrameGap, Unit: time.Millisecond, Min: 0, Max: int64(time.Minute)},
	{Name: KeyQueueSize, Min: 1, Max: 1 << 16},
	{Name: KeyBatchBytes, Min: 1 << 10, Max: 1 << 30},
	{Name: KeyQueueBytes, Min: 1 << 10, Max: 1 << 40},
	{Name: KeySpoutWait, Unit: time.Millisecond, Min: 0, Max: int64(24 * time.Hour)},
	{Name: KeyPreciseWakeups, Bool: true},
	{Name: KeyBalanceOnJoin, Bool: true},
	{Name: KeyExternalHeartbeat, PerComponent: true, Unit: time.Millisecond, Min: int64(10 * time.Millisecond), Max: int64(time.Hour)},
	{Name: KeyExternalMaxInflight, PerComponent: true, Min: 1, Max: 1 << 20},
	{Name: KeyExternalMaxInflightBytes, PerComponent: true, Min: 1 << 10, Max: 1 << 40},
	{Name: KeySubprocessTimeout, PerComponent: true, Unit: time.Second, Min: int64(100 * time.Millisecond), Max: int64(24 * time.Hour)},
}

// RuntimeKeys returns every key of Gale's, in documentation order.
func RuntimeKeys() []RuntimeKey { return slices.Clone(runtimeKeys) }

// LookupRuntimeKey returns the description of one of Gale's keys.
func LookupRuntimeKey(name string) (RuntimeKey, bool) {
	for _, k := range runtimeKeys {
		if k.Name == name {
			return k, true
		}
	}
	return RuntimeKey{}, false
}

// MustRuntimeKey is LookupRuntimeKey for the Key constants above; it
// panics on a name that is not in the table (a programming error).
func MustRuntimeKey(name string) RuntimeKey {
	k, ok := LookupRuntimeKey(name)
	if !ok {
		panic("spec: not a runtime key: " + name)
	}
	return k
}

// Int reads an integer key's value, or def when v is unset (nil or null),
// and checks its bounds.
func (k RuntimeKey) Int(v *galev1.Value, def int64) (int64, error) {
	if isUnset(v) {
		return def, nil
	}
	i, ok := IntValue(v)
	switch {
	case !ok:
		return def, fmt.Errorf("config %s: want an integer, got %s", k.Name, describeValue(v))
	case i < k.Min:
		return def, fmt.Errorf("config %s: must be at least %d, got %d", k.Name, k.Min, i)
	case i > k.Max:
		return def, fmt.Errorf("config %s: must be at most %d, got %d", k.Name, k.Max, i)
	}
	return i, nil
}

// Duration reads a duration key's value (a number in k.Unit, or a Go
// duration string), or def when v is unset, and checks its bounds.
func (k RuntimeKey) Duration(v *galev1.Value, def time.Duration) (time.Duration, error) {
	if isUnset(v) {
		return def, nil
	}
	d, ok := DurationValue(v, k.Unit)
	switch {
	case !ok:
		return def, fmt.Errorf("config %s: want a duration (a number of %s, or a string such as 250ms), got %s", k.Name, unitName(k.Unit), describeValue(v))
	case d < time.Duration(k.Min):
		return def, fmt.Errorf("config %s: must be at least %v, got %v", k.Name, time.Duration(k.Min), d)
	case d > time.Duration(k.Max):
		return def, fmt.Errorf("config %s: must be at most %v, got %v", k.Name, time.Duration(k.Max), d)
	}
	return d, nil
}

// BoolOf reads a bool key's value, or def when v is unset.
func (k RuntimeKey) BoolOf(v *galev1.Value, def bool) (bool, error) {
	if isUnset(v) {
		return def, nil
	}
	switch x := v.GetKind().(type) {
	case *galev1.Value_BoolValue:
		return x.BoolValue, nil
	case *galev1.Value_StringValue:
		switch x.StringValue {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return def, fmt.Errorf("config %s: want true or false, got %s", k.Name, describeValue(v))
}

// Check reports whether v is a value k accepts.
func (k RuntimeKey) Check(v *galev1.Value) error {
	var err error
	switch {
	case k.Bool:
		_, err = k.BoolOf(v, false)
	case k.Unit > 0:
		_, err = k.Duration(v, 0)
	default:
		_, err = k.Int(v, 0)
	}
	return err
}

// IntValue reads a config value as an integer: an int, a double with no
// fraction, or a string of decimal digits (as --conf may give).
func IntValue(v *galev1.Value) (int64, bool) {
	switch x := v.GetKind().(type) {
	case *galev1.Value_IntValue:
		return x.IntValue, true
	case *galev1.Value_DoubleValue:
		if f := x.DoubleValue; f == float64(int64(f)) {
			return int64(f), true
		}
	case *galev1.Value_StringValue:
		if i, err := strconv.ParseInt(x.StringValue, 10, 64); err == nil {
			return i, true
		}
	}
	return 0, false
}

// DurationValue reads a config value as a duration: a number counts unit,
// a string is a Go duration ("250ms", "30s") or a number of unit.
func DurationValue(v *galev1.Value, unit time.Duration) (time.Duration, bool) {
	switch x := v.GetKind().(type) {
	case *galev1.Value_IntValue:
		return time.Duration(float64(x.IntValue) * float64(unit)), true
	case *galev1.Value_DoubleValue:
		return time.Duration(x.DoubleValue * float64(unit)), true
	case *galev1.Value_StringValue:
		if d, err := time.ParseDuration(x.StringValue); err == nil {
			return d, true
		}
		if f, err := strconv.ParseFloat(x.StringValue, 64); err == nil {
			return time.Duration(f * float64(unit)), true
		}
	}
	return 0, false
}

// isUnset: a Value with no kind is null, the same as no value.
func isUnset(v *galev1.Value) bool { return v.GetKind() == nil }

// describeValue names a value's kind and shows it, for errors.
func describeValue(v *galev1.Value) string {
	switch x := v.GetKind().(type) {
	case *galev1.Value_StringValue:
		return "string " + strconv.Quote(x.StringValue)
	case *galev1.Value_IntValue:
		return "int " + strconv.FormatInt(x.IntValue, 10)
	case *galev1.Value_DoubleValue:
		return "double " + strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *galev1.Value_BoolValue:
		return "bool " + strconv.FormatBool(x.BoolValue)
	case *galev1.Value_BytesValue:
		return fmt.Sprintf("bytes (%d)", len(x.BytesValue))
	}
	return "null"
}

func unitName(u time.Duration) string {
	switch u {
	case time.Second:
		return "seconds"
	case time.Millisecond:
		return "milliseconds"
	}
	return "units of " + u.String()
}

// stormKeys are Storm's settings that a topology brought over from Storm
// often carries, with what to do instead: the generic "unknown setting"
// (or a near miss of one of Gale's) sent people looking for a typo.
var stormKeys = map[string]string{
	"topology.workers":                           "Gale spreads a topology's tasks over the cluster's nodes, not over worker processes; remove it (each component's parallelism sets its tasks)",
	"topology.debug":                             "remove it (gale status shows each component's counters; gale node --log-level debug logs more)",
	"topology.max.task.parallelism":              "remove it (parallelism is each component's own, at most 10000 tasks)",
	"topology.shellbolt.max.pending":             "use topology.external.max.inflight (the inputs an external process may hold)",
	"topology.spout.wait.strategy":               "use topology.spout.wait, the duration a spout that emitted nothing waits before it is asked again",
	"topology.sleep.spout.wait.strategy.time.ms": "use topology.spout.wait (a duration, e.g. 1ms)",
	"topology.name":                              "a topology's name is its file's top-level name: key (or the builder's name)",
	"topology.enable.message.timeouts":           "remove it (a tree times out after topology.message.timeout.secs without progress; topology.acker.executors: 0 turns acking off)",
	"topology.executor.receive.buffer.size":      "use topology.queue.size (a task's input queue, in batches)",
	"topology.executor.send.buffer.size":         "use topology.batch.size (tuples a batch holds)",
	"topology.transfer.buffer.size":              "use topology.remote.batch.size (tuples a frame to another node holds)",
	"topology.worker.childopts":                  "remove it (a node is one Go process; GOMEMLIMIT bounds its memory)",
	"topology.worker.max.heap.size.mb":           "remove it (a node is one Go process; GOMEMLIMIT bounds its memory)",
	"topology.backpressure.enable":               "remove it (backpressure is always on: full queues slow the spouts, nothing is dropped)",
	"topology.fall.back.on.java.serialization":   "remove it (values are protobuf: strings, integers, doubles, booleans, bytes, null)",
	"topology.kryo.register":                     "remove it (values are protobuf: strings, integers, doubles, booleans, bytes, null)",
	"topology.stats.sample.rate":                 "remove it (Gale counts every tuple and samples latencies itself)",
	"topology.eventlogger.executors":             "remove it (Gale has no event logger)",
	"topology.multilang.serializer":              "remove it (Storm multilang is JSON, the protocol Gale speaks with protocol: storm-multilang)",
}

// checkRuntimeKey says what is wrong with setting key to v in a config
// map, "" if nothing: componentLevel is true for a component's config.
func checkRuntimeKey(key string, v *galev1.Value, componentLevel bool) string {
	if !strings.HasPrefix(key, RuntimePrefix) {
		return ""
	}
	k, ok := LookupRuntimeKey(key)
	if !ok {
		if what, storm := stormKeys[key]; storm {
			return fmt.Sprintf("'%s' is Storm's setting, not Gale's: %s", key, what)
		}
		guess := ""
		if g := suggestRuntimeKey(key); g != "" {
			guess = fmt.Sprintf(" (did you mean '%s'?)", g)
		}
		return fmt.Sprintf("unknown setting '%s'%s: keys under '%s' are Gale's own, listed in sdk/CONFIG.md; name settings of your own outside that prefix", key, guess, RuntimePrefix)
	}
	if componentLevel && !k.PerComponent {
		return fmt.Sprintf("'%s' is a setting of the whole topology: set it in the topology's config, not a component's (where it would be ignored)", key)
	}
	if err := k.Check(v); err != nil {
		return err.Error()
	}
	return ""
}

func suggestRuntimeKey(key string) string {
	names := make([]string, len(runtimeKeys))
	for i, k := range runtimeKeys {
		names[i] = k.Name
	}
	if g := hint.Suggest(key, names); g != "" {
		return g
	}
	// A unit added or left out: topology.batch.linger.ms,
	// topology.message.timeout.
	for _, n := range names {
		if strings.HasPrefix(key, n+".") || strings.HasPrefix(n, key+".") {
			return n
		}
	}
	return ""
}

// CheckConfigEntry checks one entry of a topology's config the way
// Validate does: a key of Gale's (topology.*) must exist and take the
// value. For settings given outside a spec, such as gale bench's --conf.
func CheckConfigEntry(key string, v *galev1.Value) error {
	if msg := checkRuntimeKey(key, v, false); msg != "" {
		return errors.New(msg)
	}
	return nil
}
