package webanalytics

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"runtime"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/node/bench"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
	"github.com/gale-stream/gale/sdk/spec"
)

// BenchOptions say how to measure the application.
type BenchOptions struct {
	// Rates are the offered loads, events/s, measured one after another.
	Rates []float64
	// Window is the measured time at each rate, after Warmup.
	Window, Warmup time.Duration
	// Progress, if set, gets a line per rate.
	Progress io.Writer
	// Conf overrides settings of the topology (gale bench --conf), e.g.
	// ingest.confirm=received.
	Conf map[string]*galev1.Value
}

// BenchResult is one measured load.
type BenchResult struct {
	Offered  float64 // events/s the generator aimed at
	Accepted float64 // events/s the ingest accepted (200, or 202 with ingest.confirm: received)
	Refused  uint64  // events refused (503 when the ingest is saturated)
	Done     float64 // events/s the page aggregates executed
	Sessions float64 // events/s the sessionizer executed
	HeapMiB  float64 // Go heap in use at the end of the window
	// LagP99 is the p99 of the event-to-dashboard lag over the window:
	// from an event's timestamp to the dashboard receiving the snapshot
	// that includes it (the generator stamps events when it makes them, so
	// this includes its batching: up to a second).
	LagP99 time.Duration
}

// Bench runs the web-analytics topology in this process (the same runtime
// a node uses) and the traffic generator beside it, on free ports, and
// measures each offered rate: both share the machine's cores, as they
// would on one node with a local load generator.
func Bench(ctx context.Context, o BenchOptions) ([]BenchResult, error) {
	ts, ingestAddr, dashAddr, err := benchSpec(o.Conf)
	if err != nil {
		return nil, err
	}
	rt, err := node.New(ts, node.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := WaitHTTP(ctx, nil, "http://"+ingestAddr+"/healthz", 30*time.Second); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if err := WaitHTTP(ctx, nil, "http://"+dashAddr+"/api/state", 30*time.Second); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	exec := func(component string) uint64 { return executed(rt, component) }
	return benchRates(ctx, exec, ingestAddr, dashAddr, o, "")
}

// benchRates measures each offered rate; exec reads a component's executed
// counter.
func benchRates(ctx context.Context, exec func(string) uint64, ingestAddr, dashAddr string, o BenchOptions, where string) ([]BenchResult, error) {
	var out []BenchResult
	for _, rate := range o.Rates {
		r, err := benchRate(ctx, exec, ingestAddr, dashAddr, rate, o)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "web analytics%s at %.0f events/s offered: %.0f accepted, %.0f done, lag p99 %v\n", where, rate, r.Accepted, r.Done, r.LagP99)
		}
	}
	return out, nil
}

func benchRate(ctx context.Context, exec func(string) uint64, ingestAddr, dashAddr string, rate float64, o BenchOptions) (BenchResult, error) {
	tc := DefaultTrafficConfig()
	tc.Target = "http://" + ingestAddr + ingest.EventsPath
	tc.Rate = rate
	tc.Visitors = max(10, int(rate/20))
	tc.Batch, tc.Senders = 50, 256
	tc.Duration = o.Warmup + o.Window
	if err := tc.Validate(); err != nil {
		return BenchResult{}, err
	}
	type result struct {
		rep TrafficReport
		err error
	}
	gen := make(chan result, 1)
	go func() {
		rep, err := Traffic(ctx, tc)
		gen <- result{rep, err}
	}()
	time.Sleep(o.Warmup)
	d0, s0 := exec("pages"), exec("sessions")
	t0 := time.Now()
	time.Sleep(o.Window)
	d1, s1 := exec("pages"), exec("sessions")
	wall := time.Since(t0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	lag, err := dashboardLag(dashAddr)
	if err != nil {
		return BenchResult{}, err
	}
	g := <-gen
	if g.err != nil {
		return BenchResult{}, g.err
	}
	return BenchResult{
		Offered:  rate,
		Accepted: g.rep.Rate(),
		Refused:  g.rep.Rejected,
		Done:     float64(d1-d0) / wall.Seconds(),
		Sessions: float64(s1-s0) / wall.Seconds(),
		HeapMiB:  float64(ms.HeapInuse) / (1 << 20),
		LagP99:   lag,
	}, nil
}

// executed is how many events a component has executed.
func executed(rt *node.Runtime, component string) uint64 {
	for _, c := range rt.Stats() {
		if c.ID == component {
			return c.Counters.Executed
		}
	}
	return 0
}

// dashboardLag reads the dashboard's recent event-to-dashboard p99.
func dashboardLag(addr string) (time.Duration, error) {
	resp, err := http.Get("http://" + addr + "/api/state")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		LagP99 int64 `json:"lag_p99_ms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return time.Duration(st.LagP99) * time.Millisecond, nil
}

// benchSpec is the topology with the benchmark's settings, the ingest and
// the dashboard on free ports.
func benchSpec(conf map[string]*galev1.Value) (ts *galev1.TopologySpec, ingestAddr, dashAddr string, err error) {
	if ingestAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	if dashAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	overrides := map[string]*galev1.Value{
		"ingest.addr":         sdk.ValueToProto(sdk.String(ingestAddr)),
		"dashboard.addr":      sdk.ValueToProto(sdk.String(dashAddr)),
		"ingest.max_pending":  sdk.ValueToProto(sdk.Int(1 << 20)),
		"topology.batch.size": sdk.ValueToProto(sdk.Int(256)),
	}
	maps.Copy(overrides, conf)
	ts, err = spec.Parse("examples/webanalytics/topology.yaml", TopologyYAML, sdk.RegistryResolver{}, overrides)
	return ts, ingestAddr, dashAddr, err
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WaitHTTP polls url with client (nil: http.DefaultClient) until it
// answers 200 OK, for up to timeout.
func WaitHTTP(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	if client == nil {
		client = http.DefaultClient
	}
	shown := url // in errors, without a password it may carry
	if u, err := neturl.Parse(url); err == nil {
		shown = u.Redacted()
	}
	deadline := time.Now().Add(timeout)
	var last error = errors.New("no answer")
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if cv := (*tls.CertificateVerificationError)(nil); errors.As(err, &cv) {
			return fmt.Errorf("%s: %w", shown, err) // waiting will not mend it
		}
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %w (after %v)", shown, last, timeout)
}

// PrintBench writes the results as a table.
func PrintBench(w io.Writer, rs []BenchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\taccepted/s\tpages/s\tsessions/s\trefused\tlag p99\theap MiB\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t%.0f\t%d\t%v\t%.0f\t\n", r.Offered, r.Accepted, r.Done, r.Sessions, r.Refused, r.LagP99, r.HeapMiB)
	}
	tw.Flush()
}

// BenchCluster measures the application on three `gale node` processes
// on this machine (started by start, as `gale bench --cluster` does), the
// topology submitted through the Coordinator API and spread over them by
// the scheduler; the generator runs in this process. The heap column is
// this process's (the generator's), not the nodes'.
func BenchCluster(ctx context.Context, o BenchOptions, start bench.StartNode) ([]BenchResult, error) {
	cl, err := bench.StartCluster(ctx, start, "wa", nil)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	client := cl.Client
	ts, ingestAddr, dashAddr, err := benchSpec(o.Conf)
	if err != nil {
		return nil, err
	}
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: ts}); err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	defer client.KillTopology(context.Background(), &galev1.KillTopologyRequest{Name: ts.GetName(), WaitSeconds: proto.Int32(0)})
	if err := WaitHTTP(ctx, nil, "http://"+ingestAddr+"/healthz", 30*time.Second); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if err := WaitHTTP(ctx, nil, "http://"+dashAddr+"/api/state", 30*time.Second); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	exec := func(component string) uint64 {
		st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: ts.GetName()})
		if err != nil {
			return 0
		}
		for _, c := range st.GetComponents() {
			if c.GetId() == component {
				return c.GetCounters().GetExecuted()
			}
		}
		return 0
	}
	return benchRates(ctx, exec, ingestAddr, dashAddr, o, " on 3 nodes")
}
