package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gale-stream/gale/examples/webanalytics"
	"github.com/gale-stream/gale/node/bench"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/certgen"
	"github.com/gale-stream/gale/sdk/spec"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale bench", flag.ContinueOnError)
	o := bench.DefaultOptions()
	fs.DurationVar(&o.Window, "window", o.Window, "measured time per run")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up time per run (with --webanalytics: 3s by default)")
	scen := fs.String("scenarios", "wordcount,passthrough", "comma-separated: wordcount, passthrough")
	loads := fs.String("loads", "", "comma-separated: max, half, tenth (shares of the maximum, after max), or a fixed rate in tuples/s such as 2.5e6 (default: max,half,tenth; with --cluster: max,half)")
	cluster := fs.Bool("cluster", false, "measure on three local node processes instead of in one process")
	ext := fs.String("external", "", "measure the word count split bolt in other languages instead: all, or a comma-separated list of "+strings.Join(bench.SplitVariants, ", "))
	root := fs.String("root", ".", "with --external: the repository checkout with the example bolts (after make deps)")
	var confs multiFlag
	fs.Var(&confs, "conf", "override a setting of the benchmark topologies (in process, --cluster or --webanalytics): key=value (repeatable)")
	app := fs.Bool("webanalytics", false, "measure the web-analytics application instead: events/s and event-to-dashboard p99, generator in the same process")
	rates := fs.String("rates", "20000,50000,100000,200000", "with --webanalytics: offered loads, events/s, comma-separated")
	nodeProcs := fs.Int("node-procs", 0, fmt.Sprintf("with --cluster: GOMAXPROCS of each node process (0: this machine's cores shared among the %d nodes, at least 1: %d here)", bench.ClusterNodes, bench.NodeProcs(runtime.NumCPU())))
	parallelism := fs.Int("parallelism", 0, "with --cluster: the tasks of every component of the benchmark topologies (0: one spout, two of each word count bolt, one of each pass-through bolt; the ackers: --conf "+spec.KeyAckers+"=N)")
	realtime := realtimeFlag(fs)
	withTLS := fs.Bool("tls", false, "with --cluster: the nodes run with mutual TLS and encrypted gossip (a throwaway CA made for the run), and the raw stream baseline runs over TLS too")
	debugPort := fs.Int("node-debug-port", 0, "with --cluster: serve the profiler of node k (1, 2, 3) on 127.0.0.1:PORT+k-1 (see gale node --debug-addr)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale bench [--window 3s] [--warmup 1s] [--scenarios wordcount,passthrough] [--loads max,half,tenth,RATE] [--conf key=value ...] [--cluster [--parallelism N] [--node-procs N] [--node-debug-port PORT] [--tls]] [--realtime]\n       gale bench --external all|LANG,... [--root DIR] [--realtime]\n       gale bench --webanalytics [--rates R,...] [--cluster] [--conf key=value ...] [--realtime]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if o.Window < 100*time.Millisecond {
		return usagef("--window %v: at least 100ms", o.Window)
	}
	for _, c := range confs {
		k, v, err := spec.ParseConfFlag(c)
		if err == nil {
			err = spec.CheckConfigEntry(k, v)
		}
		if err != nil {
			return usagef("--conf %s: %v", c, err)
		}
		if k == spec.KeyAckers && v.GetIntValue() == 0 && !*app {
			// Its rows would still say acking on.
			return usagef("--conf %s: the benchmark measures acking on and off itself (the 'acking' column); give the number of ackers above 0", c)
		}
		if o.Conf == nil {
			o.Conf = map[string]*galev1.Value{}
		}
		o.Conf[k] = v
	}
	if *parallelism < 0 || *parallelism > 1000 {
		return usagef("--parallelism %d: want 1 to 1000 tasks (0: the default shape)", *parallelism)
	}
	if *parallelism > 0 && (!*cluster || *app || *ext != "") {
		return usagef("--parallelism is for the word count and pass-through benchmarks with --cluster")
	}
	if *withTLS && (!*cluster || *app || *ext != "") {
		return usagef("--tls is for the word count and pass-through benchmarks with --cluster")
	}
	if *nodeProcs < 0 {
		return usagef("--node-procs %d: want 0 (automatic) or more", *nodeProcs)
	}
	if *nodeProcs == 0 {
		*nodeProcs = bench.NodeProcs(runtime.NumCPU())
	}
	o.Scenarios = strings.Split(*scen, ",")
	for _, sc := range o.Scenarios {
		// Checked before anything runs: with --cluster an unknown name ran
		// pass-through under it.
		if sc != "wordcount" && sc != "passthrough" {
			return usagef("--scenarios %s: unknown scenario %q (want wordcount, passthrough or both, comma-separated)", *scen, sc)
		}
	}
	switch {
	case *ext != "" && *cluster:
		return usagef("--external runs in one process: leave out --cluster")
	case *ext != "" && *app:
		return usagef("--external and --webanalytics are two benchmarks: give one")
	}
	if *loads != "" {
		o.Loads = strings.Split(*loads, ",")
		if _, err := bench.ParseLoads(o.Loads); err != nil {
			return usagef("--loads %s: %v", *loads, err)
		}
	}
	o.Progress = stderr
	if *app {
		var rs []float64
		for _, f := range strings.Split(*rates, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				return usagef("--rates %s: %q is not a positive number", *rates, f)
			}
			rs = append(rs, r)
		}
		if err := applyRealtime(*realtime); err != nil {
			return err
		}
		if len(flagsGiven(fs, "warmup")) == 0 {
			// The generator's requests started in a 1 s warm-up are still
			// being answered in the window: pages and sessions per second
			// read 15% above the offered rate.
			o.Warmup = 3 * time.Second
		}
		bo := webanalytics.BenchOptions{Rates: rs, Window: o.Window, Warmup: o.Warmup, Progress: stderr, Conf: o.Conf}
		var res []webanalytics.BenchResult
		if *cluster {
			fmt.Fprintf(stderr, "%d node processes, GOMAXPROCS %d each (--node-procs)\n", bench.ClusterNodes, *nodeProcs)
			dir, derr := os.MkdirTemp("", "gale-bench-webanalytics")
			if derr != nil {
				return derr
			}
			defer os.RemoveAll(dir)
			res, err = webanalytics.BenchCluster(ctx, bo, func(ctx context.Context, name string, args ...string) (bench.ClusterNode, error) {
				return startBenchNode(ctx, filepath.Join(dir, name), *nodeProcs, *realtime, name, args...)
			})
		} else {
			res, err = webanalytics.Bench(ctx, bo)
		}
		webanalytics.PrintBench(stdout, res)
		if ctx.Err() != nil {
			return errStopped
		}
		return err
	}
	if *ext != "" {
		var variants []string
		if *ext != "all" {
			variants = strings.Split(*ext, ",")
			for _, v := range variants {
				if !slices.Contains(bench.SplitVariants, v) {
					return usagef("--external %s: unknown split bolt %q (want all or some of %s)", *ext, v, strings.Join(bench.SplitVariants, ", "))
				}
			}
		}
		if err := applyRealtime(*realtime); err != nil {
			return err
		}
		rs, err := bench.RunExternal(ctx, bench.ExternalOptions{Window: o.Window, Warmup: o.Warmup, Variants: variants, Root: *root, Progress: stderr})
		bench.PrintExternalTable(stdout, rs)
		if ctx.Err() != nil {
			return errStopped
		}
		return err
	}
	if *debugPort < 0 || *debugPort > 65533 {
		return usagef("--node-debug-port %d: want a port from 1 to 65533", *debugPort)
	}
	if err := applyRealtime(*realtime); err != nil {
		return err
	}
	if *cluster {
		shape := bench.ClusterShape
		if *parallelism > 0 {
			shape = bench.SpreadShape(int32(*parallelism))
		}
		ackers := "one per node (the cluster's default; --conf " + spec.KeyAckers + "=N)"
		if n, ok := spec.IntValue(o.Conf[spec.KeyAckers]); ok {
			ackers = fmt.Sprint(n)
		}
		fmt.Fprintf(stderr, "%d node processes, GOMAXPROCS %d each (--node-procs); tasks: spout %d, word count bolts %d each, pass-through bolts %d each (--parallelism), ackers %s\n",
			bench.ClusterNodes, *nodeProcs, shape.Spout, shape.Bolt, shape.PassBolt, ackers)
		dir, err := os.MkdirTemp("", "gale-bench-cluster")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		var sec *security.Security
		var tlsArgs []string
		if *withTLS {
			if sec, tlsArgs, err = benchTLS(filepath.Join(dir, "certs")); err != nil {
				return fmt.Errorf("making the benchmark's certificates: %w", err)
			}
			fmt.Fprintln(stderr, "TLS: every gRPC connection (Transfer streams, the Coordinator API, the embedded etcd) with mutual TLS, gossip encrypted; the raw stream baseline over TLS")
		}
		started := 0
		rs, err := bench.RunCluster(ctx, bench.ClusterOptions{
			Window: o.Window, Warmup: o.Warmup, Scenarios: o.Scenarios, Loads: o.Loads, Conf: o.Conf, Shape: shape, Progress: stderr, TLS: sec,
			Start: func(ctx context.Context, name string, args ...string) (bench.ClusterNode, error) {
				args = append(args, tlsArgs...)
				if *debugPort > 0 {
					addr := fmt.Sprintf("127.0.0.1:%d", *debugPort+started)
					fmt.Fprintf(stderr, "node %s: profiler on http://%s/debug/pprof/\n", name, addr)
					args = append(args, "--debug-addr", addr)
				}
				started++
				return startBenchNode(ctx, filepath.Join(dir, name), *nodeProcs, *realtime, name, args...)
			},
		})
		bench.PrintTable(stdout, rs)
		if hint := bench.SchedulingHint(rs, runtime.NumCPU(), kernelCmdline(), *realtime); hint != "" && ctx.Err() == nil {
			fmt.Fprintln(stderr, hint)
		}
		if ctx.Err() != nil {
			return errStopped
		}
		return err
	}
	rs, err := bench.Run(ctx, o)
	bench.PrintTable(stdout, rs)
	if hint := bench.SchedulingHint(rs, max(startProcs, 1), kernelCmdline(), *realtime); hint != "" && ctx.Err() == nil {
		fmt.Fprintln(stderr, hint)
	}
	if ctx.Err() != nil {
		return errStopped
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}

// startBenchNode starts this binary as `gale node` on free ports, with
// GOMAXPROCS procs.
func startBenchNode(ctx context.Context, dir string, procs int, realtime bool, name string, args ...string) (bench.ClusterNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return bench.ClusterNode{}, err
	}
	all := append([]string{"node", "--name", name, "--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0",
		"--data-dir", dir, "--log-level", "error", "--drain-timeout", "1s"}, args...)
	if realtime {
		// The node would inherit the policy anyway (fork keeps it); the
		// flag makes it visible in its command line.
		all = append(all, "--realtime")
	}
	cmd := exec.Command(exe, all...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return bench.ClusterNode{}, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return bench.ClusterNode{}, fmt.Errorf("start node %s: %w", name, err)
	}
	done := make(chan struct{})
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 7 && f[3] == "serving" {
				ready <- [2]string{f[5], strings.TrimSuffix(f[7], ",")}
			}
		}
		cmd.Wait()
		close(done)
	}()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	select {
	case a := <-ready:
		return bench.ClusterNode{Name: name, GRPC: a[0], Gossip: a[1], Pid: cmd.Process.Pid, Stop: stop}, nil
	case <-done:
		return bench.ClusterNode{}, errors.New("node " + name + " exited before serving")
	case <-time.After(30 * time.Second):
		stop()
		return bench.ClusterNode{}, errors.New("node " + name + " did not start in 30s")
	case <-ctx.Done():
		stop()
		return bench.ClusterNode{}, ctx.Err()
	}
}

// benchTLS makes a throwaway CA in dir, one node certificate for
// 127.0.0.1 (all three nodes and the benchmark's client present it) and a
// gossip key, and returns the client's security and the nodes' flags.
func benchTLS(dir string) (*security.Security, []string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	ca, err := certgen.NewCA("gale bench", 24*time.Hour)
	if err != nil {
		return nil, nil, err
	}
	files := security.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "node.pem"), Key: filepath.Join(dir, "node-key.pem")}
	if err := ca.WriteCA(files.CA, filepath.Join(dir, "ca-key.pem"), false); err != nil {
		return nil, nil, err
	}
	cert, key, err := ca.Issue(certgen.Node, "bench", []string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return nil, nil, err
	}
	if err := certgen.WritePair(files.Cert, cert, files.Key, key, false); err != nil {
		return nil, nil, err
	}
	keyFile := filepath.Join(dir, "gossip.key")
	if err := certgen.WriteGossipKey(keyFile, false); err != nil {
		return nil, nil, err
	}
	sec, err := security.Load(files, "--tls")
	if err != nil {
		return nil, nil, err
	}
	return sec, []string{"--tls-ca", files.CA, "--tls-cert", files.Cert, "--tls-key", files.Key, "--gossip-key-file", keyFile}, nil
}

// kernelCmdline returns the kernel's command line (Linux), or "".
func kernelCmdline() string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	return string(b)
}
