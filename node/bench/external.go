package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"

	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/node/external"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// The external benchmark: the word count's split bolt as one task, written
// in Go (in process: the baseline), in Python and TypeScript (Gale's SDKs
// over Attach) and for Storm's multilang protocol (storm.py, storm.js: the
// scale Storm users know), between a Go sentence spout and a Go bolt that
// acks every word. The rate is completed sentences per second (each gives
// about six words), for one external process.

// SplitVariants are the split bolts the external benchmark knows, in the
// order of its table.
var SplitVariants = []string{"go", "python", "typescript", "storm-python", "storm-js"}

// ExternalOptions say what to measure.
type ExternalOptions struct {
	// Window, Warmup as in Options.
	Window, Warmup time.Duration
	// Variants to run (SplitVariants); empty means all.
	Variants []string
	// Root is the repository checkout with the example bolts
	// (examples/wordcount/{python,typescript,multilang}) and the Python
	// SDK's environment (sdk/python/.venv), as `make deps` leaves them.
	Root string
	// Progress, if set, gets a line per finished run.
	Progress io.Writer
}

// ExternalResult is one measured split variant at one load.
type ExternalResult struct {
	Variant  string
	Load     string  // max, half
	Rate     float64 // sentences/s
	P50, P99 time.Duration
	// GoRate is the in-process Go split's max rate in the same run.
	GoRate float64
}

// splitComponent returns the split bolt of a variant.
func splitComponent(variant, root string) (*galev1.ComponentSpec, error) {
	dir := filepath.Join(root, "examples", "wordcount")
	python := filepath.Join(root, "sdk", "python", ".venv", "bin", "python3")
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	c := &galev1.ComponentSpec{
		Id: "split", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: 1,
		Outputs: []*galev1.StreamSpec{{Id: "default", Fields: []string{"word"}}},
		Inputs:  []*galev1.InputSpec{{Component: "spout", Stream: "default", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}}},
	}
	cmd := func(script string, argv ...string) (*galev1.ComponentSpec, error) {
		if _, err := os.Stat(filepath.Join(dir, script)); err != nil {
			return nil, fmt.Errorf("split variant %s needs %s: run `make deps` in the repository (--root)", variant, filepath.Join(dir, script))
		}
		c.Implementation = &galev1.ComponentSpec_Command{Command: &galev1.ExternalCommand{Argv: append(argv, script), Dir: dir}}
		return c, nil
	}
	multilang := func(c *galev1.ComponentSpec, err error) (*galev1.ComponentSpec, error) {
		if err == nil {
			if _, serr := os.Stat(filepath.Join(dir, "multilang", map[string]string{"storm-python": "storm.py", "storm-js": "storm.js"}[variant])); serr != nil {
				return nil, fmt.Errorf("split variant %s needs Storm's multilang library: run `make deps`", variant)
			}
			c.GetCommand().Protocol = galev1.ExternalProtocol_EXTERNAL_PROTOCOL_STORM_MULTILANG
		}
		return c, err
	}
	switch variant {
	case "go":
		c.Implementation = &galev1.ComponentSpec_Class{Class: "wordcount.SplitSentence"}
		return c, nil
	case "python":
		return cmd("python/split.py", python)
	case "typescript":
		return cmd("typescript/dist/split.js", "node")
	case "storm-python":
		return multilang(cmd("multilang/split.py", "python3"))
	case "storm-js":
		return multilang(cmd("multilang/split.js", "node"))
	}
	return nil, fmt.Errorf("unknown split variant %q (want one of %v)", variant, SplitVariants)
}

// externalSpec is spout -> split (one task) -> a bolt that acks each word,
// with acking on; rate is sentences/s (0: unlimited).
func externalSpec(variant, root string, rate float64) (*galev1.TopologySpec, error) {
	split, err := splitComponent(variant, root)
	if err != nil {
		return nil, err
	}
	return &galev1.TopologySpec{
		Name:   "bench-split-" + variant,
		Config: map[string]*galev1.Value{node.KeyAckers: intv(1)},
		Components: []*galev1.ComponentSpec{
			{
				Id: "spout", Kind: galev1.ComponentKind_COMPONENT_KIND_SPOUT, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Class{Class: ClassSentences},
				Outputs:        []*galev1.StreamSpec{{Id: "default", Fields: []string{"sentence"}}},
				Config:         map[string]*galev1.Value{"bench.rate": {Kind: &galev1.Value_DoubleValue{DoubleValue: rate}}},
			},
			split,
			{
				Id: "null", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: 1,
				Implementation: &galev1.ComponentSpec_Class{Class: ClassNull},
				Inputs:         []*galev1.InputSpec{{Component: "split", Stream: "default", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}}},
			},
		},
	}, nil
}

// RunExternal measures the split variants at full and at half load.
func RunExternal(ctx context.Context, o ExternalOptions) ([]ExternalResult, error) {
	if o.Window <= 0 {
		o.Window = DefaultOptions().Window
	}
	if o.Warmup <= 0 {
		o.Warmup = DefaultOptions().Warmup
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	o.Root = root
	variants := o.Variants
	if len(variants) == 0 {
		variants = SplitVariants
	}
	// The Go split runs first: it is every row's reference.
	if variants[0] != "go" {
		variants = append([]string{"go"}, variants...)
	}
	var out []ExternalResult
	var goRate float64
	for i, v := range variants {
		if i > 0 && v == "go" {
			continue
		}
		var maxRate float64
		for _, load := range []string{"max", "half"} {
			rate := 0.0
			if load == "half" {
				rate = maxRate / 2
			}
			spec, err := externalSpec(v, o.Root, rate)
			if err != nil {
				return out, err
			}
			r, err := measureExternal(ctx, o, spec)
			if err != nil {
				return out, fmt.Errorf("split %s, %s load: %w", v, load, err)
			}
			r.Variant, r.Load = v, load
			if load == "max" {
				maxRate = r.Rate
				if v == "go" {
					goRate = r.Rate
				}
			}
			r.GoRate = goRate
			out = append(out, r)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "split %s %s: %.0f sentences/s, p50 %v, p99 %v\n", v, load, r.Rate, r.P50, r.P99)
			}
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
		}
	}
	return out, nil
}

// measureExternal runs a spec with an Attach endpoint and measures the
// spout's completed trees per second and their complete latency.
func measureExternal(ctx context.Context, o ExternalOptions, spec *galev1.TopologySpec) (ExternalResult, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ExternalResult{}, err
	}
	hub := external.NewHub()
	srv := grpc.NewServer()
	galev1.RegisterAttachServiceServer(srv, hub)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := node.New(spec, node.Options{Logger: logger, Attach: hub, AttachAddr: lis.Addr().String()})
	if err != nil {
		return ExternalResult{}, err
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
	spoutSnapshot := func() (uint64, node.Histogram) {
		for _, c := range rt.Stats() {
			if c.Spout {
				return c.Counters.Acked, c.Latency
			}
		}
		return 0, node.Histogram{}
	}
	// Warm up until the process is attached and tuples flow, then for
	// Warmup more.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := spoutSnapshot(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = stop()
			return ExternalResult{}, fmt.Errorf("no sentence completed within 30s%s", lastError(rt))
		}
		select {
		case err := <-done:
			cancel()
			return ExternalResult{}, fmt.Errorf("benchmark topology ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(o.Warmup)
	c0, h0 := spoutSnapshot()
	t0 := time.Now()
	time.Sleep(o.Window)
	c1, h1 := spoutSnapshot()
	wall := time.Since(t0)
	if err := stop(); err != nil {
		return ExternalResult{}, err
	}
	h1.Sub(&h0)
	return ExternalResult{
		Rate: float64(c1-c0) / wall.Seconds(),
		P50:  time.Duration(h1.Quantile(0.5)),
		P99:  time.Duration(h1.Quantile(0.99)),
	}, nil
}

// PrintExternalTable writes the external results as an aligned table.
func PrintExternalTable(w io.Writer, rs []ExternalResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "split bolt\tload\tsentences/s\twords/s\tvs Go split\tp50\tp99\t")
	for _, r := range rs {
		ratio := ""
		if r.GoRate > 0 && r.Load == "max" {
			ratio = fmt.Sprintf("%.3f", r.Rate/r.GoRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t\n", r.Variant, r.Load, r.Rate, r.Rate*corpusWords(), ratio, fmtDur(r.P50), fmtDur(r.P99))
	}
	tw.Flush()
}

// lastError describes a run's last task error, if any.
func lastError(rt *node.Runtime) string {
	errs := rt.Errors()
	if len(errs) == 0 {
		return ""
	}
	return "; last task error: " + errs[len(errs)-1].Err.Error()
}
