package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
)

// ClusterNode is a node process started for the cluster benchmark.
type ClusterNode struct {
	Name, GRPC, Gossip string
	// Pid is the node's process id, for its CPU time and the time its
	// threads waited for a core (0: unknown, not measured).
	Pid int
	// Stop stops the process and waits for it.
	Stop func()
}

// StartNode starts a `gale node` process with the given extra flags (the
// binary supplies it: a library cannot start itself).
type StartNode func(ctx context.Context, name string, args ...string) (ClusterNode, error)

// ClusterOptions say how to run the cluster benchmark.
type ClusterOptions struct {
	Window, Warmup time.Duration
	Scenarios      []string
	// Loads of the runs with acking on (ParseLoad); empty means max and
	// half. Runs without acking measure the maximum only (when listed).
	Loads []string
	// Conf overrides settings of the benchmark topologies (gale bench
	// --conf), as Options.Conf does in process.
	Conf map[string]*galev1.Value
	// Shape is the topologies' parallelism (zero: ClusterShape).
	Shape    Shape
	Start    StartNode
	Progress io.Writer
	// TLS, when set, is what the benchmark's own connections present to
	// nodes that Start runs with mutual TLS, and the raw stream baseline
	// runs over TLS with it too (the same handshake and cipher as the
	// nodes' Transfer streams).
	TLS *security.Security
}

// ClusterNodes is how many node processes StartCluster starts.
const ClusterNodes = 3

// ClusterShape is the cluster benchmark's default parallelism: the
// in-process shape, so that the tasks of a topology spread over the three
// nodes as a pipeline (pass-through: spout, pass and null on a node each),
// with the cluster's default ackers (one per node) as any topology that
// does not set them. SpreadShape(n) gives every component n tasks instead.
var ClusterShape = Shape{Spout: InProcessShape.Spout, Bolt: InProcessShape.Bolt, PassBolt: InProcessShape.PassBolt}

// SpreadShape is n tasks of every component (and the cluster's default
// ackers): with n = ClusterNodes, each node runs a task of each and
// shuffle grouping sends two of three tuples to another node.
func SpreadShape(n int32) Shape { return Shape{Spout: n, Bolt: n, PassBolt: n} }

// NodeProcs is the GOMAXPROCS the benchmark gives each node process on a
// machine of cores cores: its share of them, at least one. The nodes of a
// real cluster run on machines of their own; here they share one, and a Go
// process that schedules on more processors than its share of the cores
// only adds context switches and idle spinning (what Go also does for a
// container limited to its share: GOMAXPROCS follows the CPU limit).
func NodeProcs(cores int) int { return max(1, cores/ClusterNodes) }

// Cluster is three local node processes formed into one cluster, and a
// Coordinator client of the first.
type Cluster struct {
	Nodes  []ClusterNode
	Client galev1.CoordinatorServiceClient
	close  []func()
}

// Close stops the client and the nodes, the first last.
func (c *Cluster) Close() {
	for i := len(c.close) - 1; i >= 0; i-- {
		c.close[i]()
	}
}

// StartCluster starts three node processes named prefix1..3 (an embedded
// etcd in the first, the others joining it by gossip) and waits until the
// cluster lists all three.
func StartCluster(ctx context.Context, start StartNode, prefix string, sec *security.Security) (_ *Cluster, err error) {
	c := &Cluster{}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	n1, err := start(ctx, prefix+"1", "--etcd-client-addr", "127.0.0.1:0", "--etcd-peer-addr", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.Nodes, c.close = append(c.Nodes, n1), append(c.close, n1.Stop)
	for _, name := range []string{prefix + "2", prefix + "3"} {
		n, err := start(ctx, name, "--join", n1.Gossip)
		if err != nil {
			return nil, err
		}
		c.Nodes, c.close = append(c.Nodes, n), append(c.close, n.Stop)
	}
	client, conn, err := coordinator.DialCoordinator(ctx, n1.GRPC, sec, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.Client, c.close = client, append(c.close, func() { conn.Close() })
	if err := waitUntil(ctx, 30*time.Second, func() (bool, error) {
		ns, err := client.ListNodes(ctx, &galev1.ListNodesRequest{})
		return err == nil && len(ns.GetNodes()) == 3, err
	}); err != nil {
		return nil, fmt.Errorf("three nodes did not form a cluster: %w", err)
	}
	return c, nil
}

// RunCluster measures the scenarios on three local node processes (an
// embedded etcd in the first), with acking on and off, at the maximum rate
// and (acking on) at the other loads (ClusterOptions.Loads: half of the
// maximum by default), and in the same run the raw gRPC stream baseline
// (transfer.MeasureRawStream, RawMessages) with the same batch size; the
// transport alone (RawBytes) goes to Progress. At a load below the
// maximum the raw stream is also timed, paced at the same share of its own
// maximum and at Gale's rate (Result.BaselineP99, AtRateP99): the latency
// floor of one stream on this machine. Rates are counted at the sink
// component across all nodes through the Coordinator API; latency is the
// spouts' complete latency over the window.
func RunCluster(ctx context.Context, o ClusterOptions) ([]Result, error) {
	if len(o.Scenarios) == 0 {
		o.Scenarios = []string{"passthrough", "wordcount"}
	}
	if o.Shape == (Shape{}) {
		o.Shape = ClusterShape
	}
	names := o.Loads
	if len(names) == 0 {
		names = []string{"max", "half"}
	}
	loads, err := ParseLoads(names)
	if err != nil {
		return nil, err
	}
	cl, err := StartCluster(ctx, o.Start, "bench", o.TLS)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	client := cl.Client
	// The baseline's frames hold as many tuples as Gale's frames at most
	// do: its batches to tasks on other nodes.
	settings, err := node.SettingsFromConfig(sdk.ConfigFromProto(o.Conf))
	if err != nil {
		return nil, err
	}
	batch := settings.RemoteBatchSize
	baseline, err := transfer.MeasureRawStream(ctx, o.Window, batch, transfer.RawMessages, o.TLS)
	if err != nil {
		return nil, fmt.Errorf("raw stream baseline: %w", err)
	}
	transport, err := transfer.MeasureRawStream(ctx, o.Window, batch, transfer.RawBytes, o.TLS)
	if err != nil {
		return nil, fmt.Errorf("raw stream of bytes: %w", err)
	}
	if o.Progress != nil {
		over := ""
		if o.TLS != nil {
			over = " over mutual TLS"
		}
		fmt.Fprintf(o.Progress, "raw gRPC stream%s: %.0f tuples/s as protobuf messages (the baseline), %.0f tuples/s as pre-encoded bytes (transport only)\n", over, baseline, transport)
	}
	var out []Result
	run := 0
	for _, sc := range o.Scenarios {
		for _, acking := range []bool{true, false} {
			var maxRate float64
			for _, load := range loads {
				if !acking && load.Name != "max" {
					continue // no latency to measure without acking
				}
				rate := load.Rate
				if load.Share > 0 {
					rate = load.Share * maxRate
				}
				run++
				spec := SpecWithConf(sc, acking, rate, o.Shape, o.Conf)
				spec.Name = fmt.Sprintf("bench%d", run)
				r, err := measureCluster(ctx, client, cl.Nodes, o, sc, spec)
				if err != nil {
					return out, fmt.Errorf("%s acking=%v %s: %w", sc, acking, load.Name, err)
				}
				r.Acking, r.Load = acking, load.Name
				if load.Name == "max" {
					maxRate = r.Rate
					r.Baseline = baseline
				} else {
					// The stream's own latency at the same share of its
					// maximum (none for a fixed rate), and at Gale's rate.
					if load.Share > 0 {
						own, err := transfer.MeasureRawStreamAt(ctx, o.Window, batch, transfer.RawMessages, load.Share*baseline, o.TLS)
						if err != nil {
							return out, fmt.Errorf("raw stream baseline at %s its maximum: %w", load.Name, err)
						}
						r.BaselineP50, r.BaselineP99 = own.P50, own.P99
					}
					if rate > 0 {
						same, err := transfer.MeasureRawStreamAt(ctx, o.Window, batch, transfer.RawMessages, rate, o.TLS)
						if err != nil {
							return out, fmt.Errorf("raw stream baseline at %.0f tuples/s: %w", rate, err)
						}
						r.AtRateP50, r.AtRateP99 = same.P50, same.P99
					}
				}
				out = append(out, r)
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "cluster %s acking=%v %s: %.0f tuples/s, p99 %v", sc, acking, load.Name, r.Rate, r.P99)
					if r.BaselineP99 > 0 {
						fmt.Fprintf(o.Progress, "; raw stream at %s its maximum: p50 %v, p99 %v", load.Name, r.BaselineP50, r.BaselineP99)
					}
					if r.AtRateP99 > 0 {
						fmt.Fprintf(o.Progress, "; at this rate: p50 %v, p99 %v", r.AtRateP50, r.AtRateP99)
					}
					fmt.Fprintln(o.Progress)
				}
			}
		}
	}
	return out, nil
}

func waitUntil(ctx context.Context, d time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := f()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("not after %v", d)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clusterSample reads the sink's executed count and the spouts' latency
// histogram from the status.
func clusterSample(ctx context.Context, client galev1.CoordinatorServiceClient, name, sinkID string) (uint64, *galev1.LatencyHistogram, error) {
	st, err := client.GetTopologyStatus(ctx, &galev1.GetTopologyStatusRequest{Name: name})
	if err != nil {
		return 0, nil, err
	}
	var n uint64
	var h *galev1.LatencyHistogram
	for _, c := range st.GetComponents() {
		if c.GetId() == sinkID {
			n = c.GetCounters().GetExecuted()
		}
		if c.GetKind() == galev1.ComponentKind_COMPONENT_KIND_SPOUT {
			h = c.GetCounters().GetCompleteLatency()
		}
	}
	return n, h, nil
}

func measureCluster(ctx context.Context, client galev1.CoordinatorServiceClient, nodes []ClusterNode, o ClusterOptions, scenario string, spec *galev1.TopologySpec) (Result, error) {
	if _, err := client.SubmitTopology(ctx, &galev1.SubmitTopologyRequest{Spec: spec}); err != nil {
		return Result{}, err
	}
	defer func() {
		_, _ = client.KillTopology(ctx, &galev1.KillTopologyRequest{Name: spec.Name, WaitSeconds: proto.Int32(0)})
		_ = waitUntil(ctx, 20*time.Second, func() (bool, error) {
			l, err := client.ListTopologies(ctx, &galev1.ListTopologiesRequest{})
			return err == nil && len(l.GetTopologies()) == 0, err
		})
	}()
	sinkID := sink(scenario)
	// Wait until tuples flow, then warm up.
	if err := waitUntil(ctx, 30*time.Second, func() (bool, error) {
		n, _, err := clusterSample(ctx, client, spec.Name, sinkID)
		return n > 0, err
	}); err != nil {
		return Result{}, fmt.Errorf("no tuples reached %s: %w", sinkID, err)
	}
	time.Sleep(o.Warmup)
	n0, h0, err := clusterSample(ctx, client, spec.Name, sinkID)
	if err != nil {
		return Result{}, err
	}
	run0, wait0, timesOK0 := nodeTimes(nodes)
	t0 := time.Now()
	time.Sleep(o.Window)
	n1, h1, err := clusterSample(ctx, client, spec.Name, sinkID)
	if err != nil {
		return Result{}, err
	}
	run1, wait1, timesOK1 := nodeTimes(nodes)
	if n1 < n0 {
		return Result{}, fmt.Errorf("the %s counter went back from %d to %d (a node did not report)", sinkID, n0, n1)
	}
	wall := time.Since(t0)
	name := "cluster " + scenario
	if o.TLS != nil {
		name = "tls " + name
	}
	r := Result{Scenario: name, Rate: float64(n1-n0) / wall.Seconds(), CPU: -1, Waiting: -1}
	if timesOK0 && timesOK1 {
		// The nodes' CPU and waiting threads, all three together (the
		// benchmark process only asks for counters meanwhile).
		r.CPU = max(0, (run1-run0).Seconds()/wall.Seconds())
		r.Waiting = max(0, (wait1-wait0).Seconds()/wall.Seconds())
	}
	r.P50, r.P99 = histDelta(h0, h1)
	return r, nil
}

// histDelta returns the p50 and p99 of the observations made between two
// snapshots of a wire histogram.
func histDelta(a, b *galev1.LatencyHistogram) (time.Duration, time.Duration) {
	if b == nil {
		return 0, 0
	}
	counts := append([]uint64(nil), b.GetCounts()...)
	for i, c := range a.GetCounts() {
		if i < len(counts) {
			counts[i] -= c
		}
	}
	var n uint64
	for _, c := range counts {
		n += c
	}
	q := func(p float64) time.Duration {
		if n == 0 {
			return 0
		}
		rank := uint64(p*float64(n) + 0.5)
		rank = max(rank, 1)
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank && i < len(b.GetUpperBoundsMicros()) {
				return time.Duration(b.GetUpperBoundsMicros()[i] * float64(time.Microsecond))
			}
		}
		return 0
	}
	return q(0.5), q(0.99)
}

// nodeTimes sums schedTimes over the nodes' processes; ok is false when a
// node's pid is unknown or its times cannot be read.
func nodeTimes(nodes []ClusterNode) (run, wait time.Duration, ok bool) {
	if len(nodes) == 0 {
		return 0, 0, false
	}
	for _, n := range nodes {
		if n.Pid <= 0 {
			return 0, 0, false
		}
		r, w, ok := schedTimes(strconv.Itoa(n.Pid))
		if !ok {
			return 0, 0, false
		}
		run += r
		wait += w
	}
	return run, wait, true
}
