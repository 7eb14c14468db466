package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/node"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestHarnessSmoke runs every scenario briefly so the harness cannot rot;
// it asserts that tuples flowed, not how fast (no timed assertions).
func TestHarnessSmoke(t *testing.T) {
	rs, err := Run(context.Background(), Options{Window: 200 * time.Millisecond, Warmup: 100 * time.Millisecond, Loads: []string{"max", "half"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 8 {
		t.Fatalf("%d results, want 8", len(rs))
	}
	for _, r := range rs {
		if r.Rate <= 0 {
			t.Fatalf("%+v: no tuples flowed", r)
		}
		if r.Acking && r.P99 <= 0 {
			t.Fatalf("%+v: no complete latency with acking on", r)
		}
		if r.Acking && r.Load == "half" && (r.BaselineP50 <= 0 || r.BaselineP99 < r.BaselineP50 || r.AtRateP99 <= 0) {
			t.Fatalf("%+v: no latency floor from the paced channel pipeline", r)
		}
	}
	if testing.Verbose() {
		PrintTable(os.Stdout, rs)
	}
}

// TestLoadsRunAtTheirRates: a fixed rate is offered as such (the sink
// sees no more than that, give or take the warm-up's catch-up), with the
// channel pipeline timed at that rate and no share of its own maximum.
func TestLoadsRunAtTheirRates(t *testing.T) {
	const rate = 20000
	rs, err := Run(context.Background(), Options{Window: 500 * time.Millisecond, Warmup: 200 * time.Millisecond, Scenarios: []string{"passthrough"}, Loads: []string{"20000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2 (acking on and off)", len(rs))
	}
	for _, r := range rs {
		if r.Load != "20000" || r.Rate <= 0 || r.Rate > 1.5*rate {
			t.Errorf("%+v: want load 20000 at up to %d tuples/s", r, rate)
		}
		if r.Acking && (r.P99 <= 0 || r.AtRateP99 <= 0 || r.BaselineP99 != 0) {
			t.Errorf("%+v: want a complete latency and the pipeline's at this rate only", r)
		}
		if _, ok := runqueueWait(); ok && r.Waiting < 0 {
			t.Errorf("%+v: want the threads waiting for a core measured", r)
		}
	}
}

func TestParseLoads(t *testing.T) {
	cases := []struct {
		in      []string
		want    []Load
		wantErr string
	}{
		{[]string{"max", "half", "tenth"}, []Load{{Name: "max"}, {Name: "half", Share: 0.5}, {Name: "tenth", Share: 0.1}}, ""},
		{[]string{"2.5e6", "max", " half"}, []Load{{Name: "2.5e6", Rate: 2.5e6}, {Name: "max"}, {Name: "half", Share: 0.5}}, ""},
		{[]string{"half", "max"}, nil, `load "half" needs max before it`},
		{[]string{"max", "quarter"}, nil, `load "quarter": want max, half, tenth or a rate`},
		{[]string{"0"}, nil, `load "0": want`},
		{[]string{"-1"}, nil, `load "-1": want`},
		{[]string{"NaN"}, nil, `load "NaN": want`},
		{[]string{"+Inf"}, nil, `load "+Inf": want`},
		{[]string{""}, nil, `load "": want`},
	}
	for _, tc := range cases {
		got, err := ParseLoads(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseLoads(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("ParseLoads(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseLoads(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestPacerReleasesWhatIsDueByTheClock(t *testing.T) {
	p := &pacer{rate: 1000, start: 0} // one tuple per millisecond
	ms := int64(time.Millisecond)
	steps := []struct {
		now, limit, want int
	}{
		{0, 128, 0},      // nothing due at the start
		{10, 128, 10},    // ten due after 10 ms
		{10, 128, 0},     // and none again until the clock moves
		{500, 128, 128},  // at most the limit at once
		{500, 1000, 362}, // the rest that is due
		{1000, 1, 1},     // a smaller limit
	}
	for i, s := range steps {
		got := p.allow(int64(s.now)*ms, s.limit)
		if got != s.want {
			t.Fatalf("step %d: allow(%d ms, %d) = %d, want %d", i, s.now, s.limit, got, s.want)
		}
		p.took(got)
	}
	if u := (&pacer{}).allow(5, 64); u != 64 {
		t.Fatalf("an unpaced pacer allows %d, want the limit 64", u)
	}
}

func benchmark(b *testing.B, scenario string, acking bool) {
	rs, err := Run(context.Background(), Options{Window: 2 * time.Second, Warmup: 500 * time.Millisecond, Scenarios: []string{scenario}, Loads: []string{"max", "half"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rs {
		if r.Acking != acking {
			continue
		}
		switch r.Load {
		case "max":
			b.ReportMetric(r.Rate, "tuples/s")
			b.ReportMetric(r.Baseline, "baseline-tuples/s")
			b.ReportMetric(r.Ratio(), "ratio")
		case "half":
			if acking {
				b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs@half")
				b.ReportMetric(float64(r.BaselineP99.Microseconds()), "baseline-p99-µs@half")
			}
		}
	}
}

func BenchmarkWordCountAcking(b *testing.B)     { benchmark(b, "wordcount", true) }
func BenchmarkWordCountNoAcking(b *testing.B)   { benchmark(b, "wordcount", false) }
func BenchmarkPassThroughAcking(b *testing.B)   { benchmark(b, "passthrough", true) }
func BenchmarkPassThroughNoAcking(b *testing.B) { benchmark(b, "passthrough", false) }

func TestPrintTableShowsTheLatencyBaselineOnlyWhenMeasured(t *testing.T) {
	max := Result{Scenario: "wordcount", Acking: true, Load: "max", Rate: 100, Baseline: 400, P50: time.Millisecond, P99: 2 * time.Millisecond, CPU: 2, Waiting: -1}
	half := Result{Scenario: "wordcount", Acking: true, Load: "half", Rate: 50, P50: 300 * time.Microsecond, P99: 3 * time.Millisecond, CPU: 1, Waiting: 0.37,
		BaselineP50: 40 * time.Microsecond, BaselineP99: 4 * time.Millisecond, AtRateP50: 20 * time.Microsecond, AtRateP99: 500 * time.Microsecond}
	for _, tc := range []struct {
		name     string
		rs       []Result
		want     []string
		dontWant []string
	}{
		// CPU time per tuple: 2 cores at 100 tuples/s.
		{"cluster-like", []Result{max}, []string{"baseline/s", "0.25", "2.00ms", "CPU ns/tuple", "20000000"}, []string{"base p99", "at rate", "waiting"}},
		{"in process", []Result{max, half}, []string{"base p99", "at rate", "4.00ms", "500µs", "waiting", "0.37"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			PrintTable(&sb, tc.rs)
			out := sb.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(out, w) {
					t.Errorf("table has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestNodeProcsIsTheShareOfTheCores(t *testing.T) {
	for cores, want := range map[int]int{1: 1, 2: 1, 3: 1, 5: 1, 6: 2, 8: 2, 12: 4, 64: 21} {
		if got := NodeProcs(cores); got != want {
			t.Errorf("NodeProcs(%d) = %d, want %d", cores, got, want)
		}
	}
}

// TestSpecWithConfKeepsAckingOff: gale bench --conf sets the ackers of the
// acking runs; the runs without acking stay without it, and a cluster
// shape without its own acker count leaves the cluster's default.
func TestSpecWithConfKeepsAckingOff(t *testing.T) {
	three := map[string]*galev1.Value{node.KeyAckers: intv(3)}
	for _, tc := range []struct {
		name   string
		acking bool
		shape  Shape
		conf   map[string]*galev1.Value
		want   *galev1.Value // nil: the key is absent
	}{
		{"in process, acking", true, InProcessShape, nil, intv(1)},
		{"in process, no acking", false, InProcessShape, nil, intv(0)},
		{"cluster, acking", true, ClusterShape, nil, nil},
		{"cluster, no acking", false, ClusterShape, nil, intv(0)},
		{"conf, acking", true, ClusterShape, three, intv(3)},
		{"conf, no acking", false, ClusterShape, three, intv(0)},
	} {
		got, ok := SpecWithConf("passthrough", tc.acking, 0, tc.shape, tc.conf).GetConfig()[node.KeyAckers]
		if (tc.want == nil) != !ok || (ok && got.GetIntValue() != tc.want.GetIntValue()) {
			t.Errorf("%s: %s = %v (set: %v), want %v", tc.name, node.KeyAckers, got, ok, tc.want)
		}
	}
}

func TestSchedulingHint(t *testing.T) {
	half := func(cpu, waiting float64) Result {
		return Result{Scenario: "wordcount", Acking: true, Load: "half", CPU: cpu, Waiting: waiting}
	}
	for _, tc := range []struct {
		name string
		rs   []Result
		want string // a substring; empty: no hint
	}{
		{"waiting with a core to spare", []Result{half(1.2, 0.5)}, "0.50 threads on average waiting for a core while 0.80 of 2 cores"},
		{"the worst row", []Result{half(1.2, 0.3), {Scenario: "passthrough", Load: "tenth", CPU: 0.3, Waiting: 0.45}}, "at tenth load, passthrough with acking off had 0.45"},
		{"little waiting", []Result{half(1.2, 0.1)}, ""},
		{"no core to spare", []Result{half(1.9, 0.8)}, ""},
		{"the maximum is busy by design", []Result{{Scenario: "wordcount", Load: "max", CPU: 1.5, Waiting: 1}}, ""},
		{"not measured", []Result{half(1.2, -1), {Scenario: "cluster wordcount", Load: "half", CPU: -1, Waiting: 1}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SchedulingHint(tc.rs, 2, "", false)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("hint %q, want %q", got, tc.want)
			}
		})
	}
	// Under the real-time policy the hint does not suggest it again.
	for _, realtime := range []bool{false, true} {
		got := SchedulingHint([]Result{half(1.2, 0.5)}, 2, "", realtime)
		if suggests := strings.Contains(got, "--realtime may avoid it"); suggests == realtime {
			t.Errorf("realtime %v: hint %q", realtime, got)
		}
	}
	// The kernel's packing option, when set, is named as the cause.
	for _, tc := range []struct {
		cmdline string
		want    string // a substring; empty: not named
	}{
		{"console=ttyS0 quiet sched_vcpu_pack=15 rdinit=/init", "booted with sched_vcpu_pack=15, which packs"},
		{"console=ttyS0 sched_vcpu_pack=0", ""},
		{"console=ttyS0 quiet", ""},
		{"", ""},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			got := SchedulingHint([]Result{half(1.2, 0.5)}, 2, tc.cmdline, false)
			if named := strings.Contains(got, "booted with"); tc.want == "" && named || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("hint %q, want %q", got, tc.want)
			}
		})
	}
}
