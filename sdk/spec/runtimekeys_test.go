package spec

import (
	"os"
	"strings"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestRuntimeKeysDocumented keeps the table and sdk/CONFIG.md in step:
// every key the validator accepts has a row there.
func TestRuntimeKeysDocumented(t *testing.T) {
	doc, err := os.ReadFile("../CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range RuntimeKeys() {
		if !strings.Contains(string(doc), "| `"+k.Name+"` |") {
			t.Errorf("sdk/CONFIG.md has no row for %s", k.Name)
		}
		if !strings.HasPrefix(k.Name, RuntimePrefix) {
			t.Errorf("%s is not under %s", k.Name, RuntimePrefix)
		}
	}
}

func TestRuntimeKeyReadsValues(t *testing.T) {
	timeout := MustRuntimeKey(KeyMessageTimeout) // seconds, >= 10ms
	linger := MustRuntimeKey(KeyBatchLinger)     // milliseconds, >= 0
	batch := MustRuntimeKey(KeyBatchSize)        // 1..65536
	durations := []struct {
		k       RuntimeKey
		v       *galev1.Value
		want    time.Duration
		wantErr string
	}{
		{timeout, nil, 7 * time.Second, ""}, // unset: the default
		{timeout, vNull(), 7 * time.Second, ""},
		{timeout, vInt(2), 2 * time.Second, ""},
		{timeout, vDbl(1.5), 1500 * time.Millisecond, ""},
		{timeout, vStr("250ms"), 250 * time.Millisecond, ""},
		{timeout, vStr("3"), 3 * time.Second, ""},
		{linger, vDbl(0.2), 200 * time.Microsecond, ""},
		{linger, vStr("50us"), 50 * time.Microsecond, ""},
		{linger, vInt(0), 0, ""},
		{timeout, vStr("soon"), 0, `want a duration (a number of seconds, or a string such as 250ms), got string "soon"`},
		{timeout, vBool(true), 0, "got bool true"},
		{timeout, vStr("1ms"), 0, "must be at least 10ms, got 1ms"},
		{timeout, vInt(100000), 0, "must be at most 24h0m0s, got 27h46m40s"},
		{linger, vDbl(-1), 0, "must be at least 0s, got -1ms"},
	}
	for _, tc := range durations {
		got, err := tc.k.Duration(tc.v, 7*time.Second)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "config "+tc.k.Name+": ") {
				t.Errorf("%s = %v: err = %v, want %q", tc.k.Name, tc.v, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("%s = %v: got %v, %v; want %v", tc.k.Name, tc.v, got, err, tc.want)
		}
	}
	ints := []struct {
		v       *galev1.Value
		want    int64
		wantErr string
	}{
		{nil, 99, ""},
		{vInt(256), 256, ""},
		{vDbl(64), 64, ""},
		{vStr("32"), 32, ""},
		{vDbl(1.5), 0, "want an integer, got double 1.5"},
		{vStr("1k"), 0, `want an integer, got string "1k"`},
		{vInt(0), 0, "must be at least 1, got 0"},
		{vInt(1 << 17), 0, "must be at most 65536, got 131072"},
	}
	for _, tc := range ints {
		got, err := batch.Int(tc.v, 99)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("batch size %v: err = %v, want %q", tc.v, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("batch size %v: got %d, %v; want %d", tc.v, got, err, tc.want)
		}
	}
	precise := MustRuntimeKey(KeyPreciseWakeups)
	bools := []struct {
		v       *galev1.Value
		want    bool
		wantErr string
	}{
		{nil, true, ""}, // unset: the default
		{vNull(), true, ""},
		{vBool(false), false, ""},
		{vBool(true), true, ""},
		{vStr("false"), false, ""}, // as --conf gives it
		{vStr("true"), true, ""},
		{vStr("yes"), false, `want true or false, got string "yes"`},
		{vInt(1), false, "want true or false, got int 1"},
	}
	for _, tc := range bools {
		got, err := precise.BoolOf(tc.v, true)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || precise.Check(tc.v) == nil {
				t.Errorf("%s %v: err = %v, want %q", precise.Name, tc.v, err, tc.wantErr)
			}
		case err != nil || got != tc.want || precise.Check(tc.v) != nil:
			t.Errorf("%s %v: got %v, %v; want %v", precise.Name, tc.v, got, err, tc.want)
		}
	}
}

// TestValidateRuntimeKeys covers specs built in code (no file): the error
// names the path of the key.
func TestValidateRuntimeKeys(t *testing.T) {
	base := func() *galev1.TopologySpec {
		return &galev1.TopologySpec{
			Name: "t",
			Components: []*galev1.ComponentSpec{{
				Id: "s", Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Class{Class: "x"},
				Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"a"}}},
			}},
		}
	}
	cases := []struct {
		name      string
		top, comp map[string]*galev1.Value
		want      string // "" for valid
	}{
		{"own keys are free", map[string]*galev1.Value{"app.topology.x": vInt(1), "topologyx": vStr("y")}, nil, ""},
		{"every key at the top", map[string]*galev1.Value{
			KeyAckers: vInt(0), KeyMessageTimeout: vInt(30), KeyMaxSpoutPend: vInt(0), KeyTickFreq: vDbl(0.5),
			KeyBatchSize: vInt(128), KeyRemoteBatch: vInt(512), KeyBatchLinger: vStr("200us"), KeyIdleFlushGap: vDbl(0.05), KeyRemoteFrameGap: vStr("1ms"),
			KeyQueueSize: vInt(64), KeySpoutWait: vInt(1), KeyExternalHeartbeat: vInt(1000),
			KeyExternalMaxInflight: vInt(2048), KeySubprocessTimeout: vInt(30),
		}, nil, ""},
		{"per-component keys on a component", nil, map[string]*galev1.Value{
			KeyMaxSpoutPend: vInt(10), KeyTickFreq: vInt(1), KeyExternalHeartbeat: vStr("50ms"),
			KeyExternalMaxInflight: vInt(1), KeySubprocessTimeout: vInt(5),
		}, ""},
		{"null is unset", map[string]*galev1.Value{KeyBatchSize: vNull()}, nil, ""},
		{"misspelled", map[string]*galev1.Value{"topology.acker.executor": vInt(1)}, nil,
			`config["topology.acker.executor"]: unknown setting 'topology.acker.executor' (did you mean 'topology.acker.executors'?)`},
		{"unit added", map[string]*galev1.Value{"topology.batch.linger.ms": vInt(1)}, nil, "config[\"topology.batch.linger.ms\"]: unknown setting 'topology.batch.linger.ms' (did you mean 'topology.batch.linger'?)"},
		{"unit left out", map[string]*galev1.Value{"topology.message.timeout": vInt(1)}, nil, "config[\"topology.message.timeout\"]: unknown setting 'topology.message.timeout' (did you mean 'topology.message.timeout.secs'?)"},
		{"topology-wide on a component", nil, map[string]*galev1.Value{KeyAckers: vInt(2)},
			`components[0].config["topology.acker.executors"]: spout 's': 'topology.acker.executors' is a setting of the whole topology`},
		{"bad value on a component", nil, map[string]*galev1.Value{KeyMaxSpoutPend: vInt(-1)},
			`components[0].config["topology.max.spout.pending"]: spout 's': config topology.max.spout.pending: must be at least 0, got -1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			s.Config, s.Components[0].Config = tc.top, tc.comp
			errs := Validate(s)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Path.String()+": "+errs[0].Msg, tc.want) {
				t.Fatalf("got %v\nwant one error starting %q", errs, tc.want)
			}
		})
	}
}
