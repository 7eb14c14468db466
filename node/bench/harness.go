package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/gale-stream/gale/examples/wordcount" // the real split and count bolts
	"github.com/gale-stream/gale/node"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Options say what to measure and for how long.
type Options struct {
	// Window is the measured time of each run, after Warmup.
	Window, Warmup time.Duration
	// Scenarios to run: "wordcount", "passthrough"; empty means both.
	Scenarios []string
	// Loads to run (ParseLoad): "max", "half", "tenth", or a fixed rate;
	// empty means the first three. "half" and "tenth" need "max" first
	// (they are shares of it).
	Loads []string
	// Logger for the runtimes; nil discards.
	Logger *slog.Logger
	// Progress, if set, gets a line per finished run.
	Progress io.Writer
	// Conf overrides topology config of every benchmark topology (like
	// --conf), for trying runtime settings.
	Conf map[string]*galev1.Value
}

// A Load is the offered load of one run: the most the spouts can do
// ("max"), a share of the maximum measured before it ("half", "tenth"),
// or a fixed rate in the scenario's unit (a number of tuples/s, such as
// 2500000 or 2.5e6). A share is what the targets are stated in; a fixed
// rate compares two builds at the same offered load, which shares of two
// different maxima do not.
type Load struct {
	Name  string
	Share float64 // of the measured maximum ("half", "tenth")
	Rate  float64 // tuples/s, for a fixed rate
}

// ParseLoad parses one load of --loads.
func ParseLoad(s string) (Load, error) {
	switch s {
	case "max":
		return Load{Name: s}, nil
	case "half":
		return Load{Name: s, Share: 0.5}, nil
	case "tenth":
		return Load{Name: s, Share: 0.1}, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !(r > 0) || math.IsInf(r, 0) {
		return Load{}, fmt.Errorf("load %q: want max, half, tenth or a rate in tuples/s above 0", s)
	}
	return Load{Name: s, Rate: r}, nil
}

// ParseLoads parses loads (ParseLoad), in order, and checks that every
// share of the maximum comes after "max".
func ParseLoads(loads []string) ([]Load, error) {
	var out []Load
	sawMax := false
	for _, s := range loads {
		l, err := ParseLoad(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if l.Share > 0 && !sawMax {
			return nil, fmt.Errorf("load %q needs max before it (it is a share of the maximum)", l.Name)
		}
		sawMax = sawMax || l.Name == "max"
		out = append(out, l)
	}
	return out, nil
}

// DefaultOptions measure 3 s per run after 1 s of warm-up.
func DefaultOptions() Options {
	return Options{Window: 3 * time.Second, Warmup: time.Second}
}

// Result is one measured run.
type Result struct {
	Scenario string
	Acking   bool
	Load     string  // max, half, tenth
	Rate     float64 // tuples/s in the scenario's unit
	P50, P99 time.Duration
	CPU      float64 // cores used by the process
	// Waiting is how many threads were runnable but waiting for a core,
	// on average over the window: the process's in process, the three
	// nodes' together with --cluster (Linux; -1 when not measured, like
	// CPU). Threads that exit during the window drop out of the sum, so
	// it can read a little low.
	Waiting  float64
	Baseline float64 // the channel pipeline's tuples/s (max runs)
	// BaselineP50 and BaselineP99 are the channel pipeline's emit-to-sink
	// latency at the same share (half, tenth) of its own maximum rate:
	// what the shape itself gets on this machine at that load. Measured
	// for the paced runs with acking on (the only ones with a latency).
	BaselineP50, BaselineP99 time.Duration
	// AtRateP50 and AtRateP99 are the channel pipeline's latency at Gale's
	// rate of the run: the same work offered, for Gale's overhead.
	AtRateP50, AtRateP99 time.Duration
}

// Ratio is Rate over Baseline (max runs), or 0.
func (r Result) Ratio() float64 {
	if r.Baseline == 0 {
		return 0
	}
	return r.Rate / r.Baseline
}

// Run measures the chosen scenarios.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Window <= 0 {
		o.Window = DefaultOptions().Window
	}
	if o.Warmup <= 0 {
		o.Warmup = DefaultOptions().Warmup
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	scen := o.Scenarios
	if len(scen) == 0 {
		scen = []string{"wordcount", "passthrough"}
	}
	names := o.Loads
	if len(names) == 0 {
		names = []string{"max", "half", "tenth"}
	}
	loads, err := ParseLoads(names)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, sc := range scen {
		var baseline float64
		switch sc {
		case "wordcount":
			baseline = baselineWordCount(o.Window, 0).Rate
		case "passthrough":
			baseline = baselinePassThrough(o.Window, 0).Rate
		default:
			return out, fmt.Errorf("unknown scenario %q (want wordcount or passthrough)", sc)
		}
		for _, acking := range []bool{true, false} {
			var maxRate float64
			for _, load := range loads {
				rate := load.Rate
				if load.Share > 0 {
					rate = load.Share * maxRate
				}
				r, err := measure(ctx, o, sc, acking, rate)
				if err != nil {
					return out, err
				}
				r.Load = load.Name
				switch {
				case load.Name == "max":
					maxRate = r.Rate
					r.Baseline = baseline
				case acking:
					// Complete latency is measured with acking on only:
					// the channel pipeline at the same share of its own
					// maximum (none for a fixed rate), and at this rate.
					if load.Share > 0 {
						b := pacedBaseline(sc, o.Window, load.Share*baseline)
						r.BaselineP50, r.BaselineP99 = b.P50, b.P99
					}
					b := pacedBaseline(sc, o.Window, rate)
					r.AtRateP50, r.AtRateP99 = b.P50, b.P99
				}
				out = append(out, r)
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "%s acking=%v %s: %.0f tuples/s, p99 %v, %.2f cores", sc, acking, load.Name, r.Rate, r.P99, r.CPU)
					if r.BaselineP99 > 0 {
						fmt.Fprintf(o.Progress, "; channel pipeline at %s its maximum: p50 %v, p99 %v", load.Name, r.BaselineP50, r.BaselineP99)
					}
					if r.AtRateP99 > 0 {
						fmt.Fprintf(o.Progress, "; at this rate: p50 %v, p99 %v", r.AtRateP50, r.AtRateP99)
					}
					fmt.Fprintln(o.Progress)
				}
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
			}
		}
	}
	return out, nil
}

// Spec returns the benchmark topology of a scenario with the tasks of
// shape. rate is the target in the scenario's unit per second, shared by
// the spout tasks (0: unlimited).
func Spec(scenario string, acking bool, rate float64, shape Shape) *galev1.TopologySpec {
	conf := map[string]*galev1.Value{}
	switch {
	case !acking:
		conf[node.KeyAckers] = intv(0)
	case shape.Ackers > 0:
		conf[node.KeyAckers] = intv(int64(shape.Ackers))
	}
	spout := func(class, field string, perTask float64) *galev1.ComponentSpec {
		return &galev1.ComponentSpec{
			Id: "spout", Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT, Parallelism: shape.Spout,
			Implementation: &galev1.ComponentSpec_Class{Class: class},
			Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{field}}},
			Config:         map[string]*galev1.Value{"bench.rate": {Kind: &galev1.Value_DoubleValue{DoubleValue: perTask}}},
		}
	}
	bolt := func(id, class string, n int32, from string, g *galev1.Grouping, fields ...string) *galev1.ComponentSpec {
		c := &galev1.ComponentSpec{
			Id: id, Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: n,
			Implementation: &galev1.ComponentSpec_Class{Class: class},
			Inputs:         []*galev1.InputSpec{{Component: from, Stream: "default", Grouping: g}},
		}
		if len(fields) > 0 {
			c.Outputs = []*galev1.StreamSpec{{Id: "default", Fields: fields}}
		}
		return c
	}
	shuffle := &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}
	s := &galev1.TopologySpec{Name: "bench-" + scenario, Config: conf}
	switch scenario {
	case "wordcount":
		s.Components = []*galev1.ComponentSpec{
			spout(ClassSentences, "sentence", rate/corpusWords()/float64(shape.Spout)),
			bolt("split", "wordcount.SplitSentence", shape.Bolt, "spout", shuffle, "word"),
			bolt("count", "wordcount.WordCount", shape.Bolt, "split", &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_FIELDS, Fields: []string{"word"}}, "word", "count"),
		}
	default:
		s.Components = []*galev1.ComponentSpec{
			spout(ClassSequence, "n", rate/float64(shape.Spout)),
			bolt("pass", ClassPass, shape.PassBolt, "spout", shuffle, "n"),
			bolt("null", ClassNull, shape.PassBolt, "pass", shuffle),
		}
	}
	return s
}

// Shape is the benchmark topologies' parallelism: the spout's tasks, the
// tasks of each word count bolt (split, count), of each pass-through bolt
// (pass, null), and the acker tasks when acking is on (0: the setting is
// left out, so the default applies: one acker per live node in a cluster,
// one in a process).
type Shape struct{ Spout, Bolt, PassBolt, Ackers int32 }

// InProcessShape is the shape of the in-process benchmark: one spout and
// two of each word count bolt measured best on two cores; pass-through is a
// chain of single tasks.
var InProcessShape = Shape{Spout: 1, Bolt: 2, PassBolt: 1, Ackers: 1}

func intv(i int64) *galev1.Value { return &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: i}} }

// sink is the component whose executed count is the scenario's rate.
func sink(scenario string) string {
	if scenario == "wordcount" {
		return "count"
	}
	return "null"
}

// pacedBaseline runs the scenario's channel pipeline at rate.
func pacedBaseline(scenario string, d time.Duration, rate float64) baselineRun {
	if scenario == "wordcount" {
		return baselineWordCount(d, rate)
	}
	return baselinePassThrough(d, rate)
}

// SpecWithConf is Spec with the settings of conf (gale bench --conf)
// over the topology's own; a run without acking stays without it whatever
// conf sets the ackers to.
func SpecWithConf(scenario string, acking bool, rate float64, shape Shape, conf map[string]*galev1.Value) *galev1.TopologySpec {
	spec := Spec(scenario, acking, rate, shape)
	for k, v := range conf {
		spec.Config[k] = v
	}
	if !acking {
		spec.Config[node.KeyAckers] = intv(0)
	}
	return spec
}

func measure(ctx context.Context, o Options, scenario string, acking bool, rate float64) (Result, error) {
	spec := SpecWithConf(scenario, acking, rate, InProcessShape, o.Conf)
	r, err := measureSpec(ctx, o, scenario, spec)
	r.Acking = acking
	return r, err
}

func measureSpec(ctx context.Context, o Options, scenario string, spec *galev1.TopologySpec) (Result, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rt, err := node.New(spec, node.Options{Logger: o.Logger})
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stop := func() error {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, node.ErrStopped) {
			return err
		}
		return nil
	}
	select {
	case <-time.After(o.Warmup):
	case err := <-done:
		cancel()
		return Result{}, fmt.Errorf("benchmark topology ended early: %v", err)
	}
	c0, h0 := snapshot(rt, scenario)
	wait0, waitOK0 := runqueueWait()
	cpu0, t0 := cpuTime(), time.Now()
	time.Sleep(o.Window)
	c1, h1 := snapshot(rt, scenario)
	wait1, waitOK1 := runqueueWait()
	cpu1, t1 := cpuTime(), time.Now()
	if err := stop(); err != nil {
		return Result{}, err
	}
	wall := t1.Sub(t0)
	h1.Sub(&h0)
	waiting := -1.0
	if waitOK0 && waitOK1 {
		waiting = max(0, (wait1-wait0).Seconds()/wall.Seconds())
	}

	return Result{
		Scenario: scenario,
		Rate:     float64(c1-c0) / wall.Seconds(),
		P50:      time.Duration(h1.Quantile(0.5)),
		P99:      time.Duration(h1.Quantile(0.99)),
		CPU:      (cpu1 - cpu0).Seconds() / wall.Seconds(),
		Waiting:  waiting,
	}, nil
}

func snapshot(rt *node.Runtime, scenario string) (uint64, node.Histogram) {
	var n uint64
	var h node.Histogram
	for _, c := range rt.Stats() {
		if c.ID == sink(scenario) {
			n = c.Counters.Executed
		}
		if c.Spout {
			h.Merge(&c.Latency)
		}
	}
	return n, h
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PrintTable writes results as an aligned table. The latency baseline's
// columns appear when some result has them (in-process runs at half or a
// tenth of the maximum, acking on), and the waiting threads' when some
// result measured them.
func PrintTable(w io.Writer, rs []Result) {
	latencyBase, waitingCol := false, false
	for _, r := range rs {
		latencyBase = latencyBase || r.BaselineP99 > 0 || r.AtRateP99 > 0
		waitingCol = waitingCol || r.Waiting >= 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "scenario\tacking\tload\ttuples/s\tbaseline/s\tratio\tp50\tp99\t"
	if latencyBase {
		head += "base p99\tat rate\t"
	}
	head += "CPU cores\tCPU ns/tuple\t"
	if waitingCol {
		head += "waiting\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rs {
		base, ratio, p50, p99 := "", "", "", ""
		if r.Baseline > 0 {
			base = fmt.Sprintf("%.0f", r.Baseline)
			ratio = fmt.Sprintf("%.2f", r.Ratio())
		}
		if r.Acking {
			p50, p99 = fmtDur(r.P50), fmtDur(r.P99)
		}
		ack := "off"
		if r.Acking {
			ack = "on"
		}
		cpu, perTuple := "-", "-"
		if r.CPU >= 0 {
			cpu = fmt.Sprintf("%.2f", r.CPU)
			if r.Rate > 0 {
				// CPU time per tuple: what a change to the code moves
				// even when the machine's noise moves tuples/s more.
				perTuple = fmt.Sprintf("%.0f", r.CPU*1e9/r.Rate)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t", r.Scenario, ack, r.Load, r.Rate, base, ratio, p50, p99)
		if latencyBase {
			baseP99, atRate := "", ""
			if r.BaselineP99 > 0 {
				baseP99 = fmtDur(r.BaselineP99)
			}
			if r.AtRateP99 > 0 {
				atRate = fmtDur(r.AtRateP99)
			}
			fmt.Fprintf(tw, "%s\t%s\t", baseP99, atRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t", cpu, perTuple)
		if waitingCol {
			waiting := "-"
			if r.Waiting >= 0 {
				waiting = fmt.Sprintf("%.2f", r.Waiting)
			}
			fmt.Fprintf(tw, "%s\t", waiting)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
}

// SchedulingHint says, when some run below the maximum rate had threads
// waiting for a core while a core's worth had time to spare, that the
// kernel queued woken threads behind busy ones (README, "Threads woken
// behind busy ones"), which lengthens the tail at that load; empty when no
// run shows it or the waiting was not measured. cores is the cores the
// process (or, with --cluster, the nodes) could use; cmdline is the
// kernel's command line (/proc/cmdline; may be empty), whose packing
// option, when set, the hint names as the likely cause. realtime says the
// runs were under the real-time policy already, so the hint does not
// suggest it.
func SchedulingHint(rs []Result, cores int, cmdline string, realtime bool) string {
	var worst *Result
	for i := range rs {
		r := &rs[i]
		if r.Load == "max" || r.Waiting < 0.2 || r.CPU < 0 || float64(cores)-r.CPU < 0.25 {
			continue
		}
		if worst == nil || r.Waiting > worst.Waiting {
			worst = r
		}
	}
	if worst == nil {
		return ""
	}
	ack := "off"
	if worst.Acking {
		ack = "on"
	}
	cause := ""
	if opt := packingOption(cmdline); opt != "" {
		cause = " (this kernel was booted with " + opt + ", which packs threads onto few CPUs)"
	}
	advice := "--realtime may avoid it, at a cost"
	if realtime {
		advice = "this was under the real-time policy (--realtime) already"
	}
	return fmt.Sprintf("note: at %s load, %s with acking %s had %.2f threads on average waiting for a core while %.2f of %d cores had time to spare: "+
		"woken threads were queued behind busy ones%s, which lengthens the latency tail; "+
		"%s (README, \"Threads woken behind busy ones\" and \"Real-time scheduling\")",
		worst.Load, worst.Scenario, ack, worst.Waiting, float64(cores)-worst.CPU, cores, cause, advice)
}

// packingOption returns the kernel boot option in cmdline that packs
// threads onto few virtual CPUs (sched_vcpu_pack=N, a vendor option that
// mainline Linux does not have; README, "Threads woken behind busy
// ones"), or "" when it is absent or 0.
func packingOption(cmdline string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "sched_vcpu_pack="); ok && v != "0" && v != "" {
			return f
		}
	}
	return ""
}
