package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/node/external"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"

	_ "github.com/gale-stream/gale/examples/failover"
	_ "github.com/gale-stream/gale/examples/sessions"
	_ "github.com/gale-stream/gale/examples/webanalytics" // the web-analytics components, tracker and demo page
	_ "github.com/gale-stream/gale/examples/wordcount"    // built-in example components
	_ "github.com/gale-stream/gale/node/bench"            // benchmark components
)

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale local", flag.ContinueOnError)
	var confs multiFlag
	fs.Var(&confs, "conf", "override a config key: key=value (repeatable)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	quiet := fs.Bool("quiet", false, "do not print the component summary at the end")
	attachAddr := fs.String("attach-addr", "127.0.0.1:0", "HOST:PORT where external components attach (port 0: any free port)")
	realtime := realtimeFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale local FILE.yaml [--conf key=value ...] [--attach-addr HOST:PORT] [--log-level L] [--quiet] [--realtime]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one topology file, got %d arguments (see gale local -h)", len(pos))
	}
	overrides := map[string]*galev1.Value{}
	for _, c := range confs {
		k, v, err := spec.ParseConfFlag(c)
		if err != nil {
			return usagef("--conf %s: %v", c, err)
		}
		overrides[k] = v
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	ts, err := sdk.LoadTopology(pos[0], overrides)
	if err != nil {
		return usageError{err}
	}
	for _, w := range sdk.ConfigKeyWarnings(ts) {
		fmt.Fprintf(stderr, "gale local: warning: %s: %s\n", pos[0], w)
	}
	if err := checkHostPort("--attach-addr", *attachAddr); err != nil {
		return err
	}
	if err := applyRealtime(*realtime); err != nil {
		return err
	}
	// External components (run:, attached:) attach here, over the same
	// Attach service a node serves.
	hub := external.NewHub()
	lis, err := net.Listen("tcp", *attachAddr)
	if err != nil {
		return fmt.Errorf("--attach-addr %s: %w", *attachAddr, err)
	}
	defer lis.Close() // also when the run fails before it is served
	// Plaintext: gale local is one process for development; its processes
	// attach over the loopback (a cluster's nodes take --tls-*).
	sopts, err := coordinator.ServerOptions(nil)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(sopts...)
	galev1.RegisterAttachServiceServer(srv, hub)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(galev1.AttachService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	// The processes the run ended get their streams' OK before the server
	// goes (Stop alone cut them off: an attached process then exited 1,
	// "lost the node"); one that does not end within a second is cut.
	defer node.StopServer(context.Background(), srv, time.Second)
	addr := node.LoopbackAddr(lis.Addr().String())
	var attached []*galev1.ComponentSpec
	for _, c := range ts.GetComponents() {
		if c.GetAttached() != nil {
			attached = append(attached, c)
			fmt.Fprintf(stderr, "component %s: waiting for %d process(es) to attach at %s (GALE_ATTACH_ADDR=%s GALE_TOPOLOGY=%s GALE_COMPONENT=%s)\n",
				c.GetId(), c.GetParallelism(), addr, addr, ts.GetName(), c.GetId())
		}
	}
	rt, err := node.New(ts, node.Options{Logger: logger, Attach: hub, AttachAddr: addr})
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", pos[0], err)}
	}
	// Serve once every attached task is there to be taken: a process
	// started as soon as the line above is printed would otherwise find
	// the tasks not yet started and be refused (every task "already has a
	// process"). Until then its connection waits in the listener.
	runDone := make(chan struct{})
	defer close(runDone)
	go func() {
		for _, c := range attached {
			for hub.Registered(ts.GetName(), c.GetId()) < int(c.GetParallelism()) {
				select {
				case <-runDone:
					lis.Close()
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
		_ = srv.Serve(lis)
	}()
	start := time.Now()
	err = rt.Run(ctx)
	if !*quiet {
		printSummary(stderr, rt, time.Since(start), err)
	}
	if errors.Is(err, node.ErrStopped) {
		return errStopped
	}
	return err
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// printSummary prints how the run ended (runErr: Run's error) and one
// line per component: what `gale status` shows for a cluster topology.
func printSummary(w io.Writer, rt *node.Runtime, took time.Duration, runErr error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ended := "finished in"
	switch {
	case errors.Is(runErr, node.ErrStopped):
		ended = "stopped after"
	case runErr != nil:
		ended = "failed after"
	}
	fmt.Fprintf(tw, "topology %s %s %v\n", rt.ID(), ended, took.Round(time.Millisecond))
	fmt.Fprintln(tw, "component\ttasks\temitted\ttransferred\texecuted\tacked\tfailed\tcomplete p50/p99\tprocess p50/p99")
	for _, c := range rt.Stats() {
		k := c.Counters
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", c.ID, len(c.Tasks), k.Emitted, k.Transferred, k.Executed, k.Acked, k.Failed,
			formatLatency(c.Latency.Proto()), formatLatency(c.Process.Proto()))
	}
	tw.Flush()
	errs := rt.Errors()
	if len(errs) == 0 {
		return
	}
	fmt.Fprintf(w, "%s, the last ones:\n", plural(int(rt.ErrorsReported()), "task error"))
	comp := map[int32]string{}
	last := make([]*galev1.ComponentError, 0, len(errs))
	for _, e := range errs {
		comp[e.Task] = e.Component
		last = append(last, &galev1.ComponentError{TaskId: e.Task, Message: e.Err.Error(), UnixMillis: e.At.UnixMilli()})
	}
	folded := repeatedErrors(last)
	noteDropped(folded, rt.ErrorsReportedByTask())
	for _, e := range folded[max(0, len(folded)-5):] {
		fmt.Fprintf(w, "  %s task %d: %s%s\n", comp[e.task], e.task, e.msg, e.times())
	}
}

var _ = os.Stderr
