package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gale-stream/gale/examples/webanalytics"
	"github.com/gale-stream/gale/node"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/client"
	"github.com/gale-stream/gale/sdk/ingest"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/spec"
)

// runDev is the main job in one command: a one-node cluster on an embedded
// etcd, the web-analytics topology submitted to it, and generated traffic,
// with the dashboard's address printed.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale dev", flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:7070", "HOST:PORT of the node's gRPC API (gale status --addr)")
	ingestAddr := fs.String("ingest-addr", "127.0.0.1:8080", "HOST:PORT of the HTTP ingest (the tracker and the demo page)")
	dashAddr := fs.String("dashboard-addr", "127.0.0.1:8090", "HOST:PORT of the dashboard")
	visitors := fs.Int("visitors", 200, "generated visitors on the page at once (0: no generated traffic)")
	rate := fs.Float64("rate", 2000, "generated events per second")
	dataDir := fs.String("data-dir", "", "node data directory (default: a temporary one, removed at the end)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	httpsCert := fs.String("https-cert", "", "PEM file of a certificate (chain) for the ingest's and the dashboard's HTTPS, with --https-key; a tracked page served over HTTPS can only send to an HTTPS ingest")
	httpsKey := fs.String("https-key", "", "PEM file of the private key of --https-cert")
	dashPassword := fs.String("dashboard-password-file", "", "file whose first line is the dashboard's password (12 characters or more; any user name), asked by browsers (dashboard.password_file)")
	var confs multiFlag
	fs.Var(&confs, "conf", "override a setting of the web-analytics topology: key=value (repeatable), e.g. dashboard.page_url=http://127.0.0.1:8000/ to show your own pages under the heatmap, webanalytics.cta=#buy for the call to action (examples/webanalytics/README.md)")
	realtime := realtimeFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale dev [--visitors N] [--rate R] [--dashboard-addr HOST:PORT] [--ingest-addr HOST:PORT] [--grpc-addr HOST:PORT] [--data-dir DIR] [--log-level L] [--https-cert PEM --https-key PEM] [--dashboard-password-file F] [--conf key=value ...] [--realtime]")
		fmt.Fprintln(stderr, "\nStarts a one-node cluster (embedded etcd), submits the web-analytics topology, generates traffic, and prints the dashboard URL.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	for name, v := range map[string]string{"--grpc-addr": *grpcAddr, "--ingest-addr": *ingestAddr, "--dashboard-addr": *dashAddr} {
		if err := checkHostPort(name, v); err != nil {
			return err
		}
	}
	if *visitors < 0 || *rate < 0 {
		return usagef("--visitors and --rate must not be negative")
	}
	// HTTPS: the files are checked here, so a bad pair fails before
	// anything starts, not as a task that cannot open. The generator and
	// the start-up checks trust the certificate file's own certificates.
	scheme, probe := "http", http.DefaultClient
	if *httpsCert != "" || *httpsKey != "" {
		cert, err := security.LoadCertificate(*httpsCert, *httpsKey, "--https-cert", "--https-key")
		if err != nil {
			return usageError{err}
		}
		// The URLs gale dev prints and checks name these hosts: a
		// certificate for other names would fail every browser and
		// the start-up check.
		for _, a := range []struct{ flag, addr string }{{"--ingest-addr", *ingestAddr}, {"--dashboard-addr", *dashAddr}} {
			// A wildcard address is dialled (and printed) as 127.0.0.1.
			host, _, _ := net.SplitHostPort(node.LoopbackAddr(a.addr))
			if err := cert.CheckHost(host); err != nil {
				return usagef("%v (%s %s): give an address it names, or a certificate for that host", err, a.flag, a.addr)
			}
		}
		roots, err := webanalytics.TrustedRoots(*httpsCert, "--https-cert")
		if err != nil {
			return usageError{err}
		}
		scheme = "https"
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
		defer tr.CloseIdleConnections()
		probe = &http.Client{Transport: tr, Timeout: 5 * time.Second}
		if *httpsCert, err = filepath.Abs(*httpsCert); err == nil {
			*httpsKey, err = filepath.Abs(*httpsKey)
		}
		if err != nil {
			return err
		}
	}
	var dashUser *url.Userinfo
	if *dashPassword != "" {
		pw, err := webanalytics.ReadPasswordFile(*dashPassword)
		if err != nil {
			return usagef("--dashboard-password-file %s: %v", *dashPassword, err)
		}
		dashUser = url.UserPassword("gale", pw) // for the start-up check
		if *dashPassword, err = filepath.Abs(*dashPassword); err != nil {
			return err
		}
	}
	// The ingest and the dashboard bind their ports in tasks of the
	// topology, which would retry a taken port with backoff and leave only
	// a timeout to report: check them first, as the node does its own.
	if *ingestAddr == *dashAddr && !strings.HasSuffix(*ingestAddr, ":0") {
		return usagef("--ingest-addr and --dashboard-addr are both %s: give them different ports", *ingestAddr)
	}
	for _, a := range []struct{ flag, addr string }{{"--ingest-addr", *ingestAddr}, {"--dashboard-addr", *dashAddr}} {
		if err := portFree(a.addr); err != nil {
			hint := ""
			if errors.Is(err, syscall.EADDRINUSE) {
				hint = fmt.Sprintf(" (another program listens there: stop it or pick another port with %s)", a.flag)
			}
			return fmt.Errorf("%s %s: %w%s", a.flag, a.addr, err, hint)
		}
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if err := applyRealtime(*realtime); err != nil {
		return err
	}
	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gale-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	// The topology first: a bad setting fails before anything starts.
	overrides := map[string]*galev1.Value{
		"ingest.addr":        sdk.ValueToProto(sdk.String(*ingestAddr)),
		"dashboard.addr":     sdk.ValueToProto(sdk.String(*dashAddr)),
		"dashboard.page_url": sdk.ValueToProto(sdk.String(scheme + "://" + node.LoopbackAddr(*ingestAddr) + "/")),
	}
	if *dashPassword != "" {
		overrides["dashboard.password_file"] = sdk.ValueToProto(sdk.String(*dashPassword))
	}
	// Keys the flags own are refused: gale dev also uses their values
	// itself (it waits for the ingest at --ingest-addr, prints the URLs).
	flagOf := map[string]string{
		"ingest.addr": "--ingest-addr", "dashboard.addr": "--dashboard-addr", "dashboard.password_file": "--dashboard-password-file",
		"ingest.tls_cert": "--https-cert", "ingest.tls_key": "--https-key", "dashboard.tls_cert": "--https-cert", "dashboard.tls_key": "--https-key",
	}
	for _, c := range confs {
		k, v, err := spec.ParseConfFlag(c)
		if err != nil {
			return usagef("--conf %s: %v", c, err)
		}
		if f, ok := flagOf[k]; ok {
			return usagef("--conf %s: gale dev sets %s from %s; use that flag", c, k, f)
		}
		overrides[k] = v
	}
	if scheme == "https" {
		for _, k := range []string{"ingest", "dashboard"} {
			overrides[k+".tls_cert"] = sdk.ValueToProto(sdk.String(*httpsCert))
			overrides[k+".tls_key"] = sdk.ValueToProto(sdk.String(*httpsKey))
		}
	}
	ts, err := spec.Parse("examples/webanalytics/topology.yaml", webanalytics.TopologyYAML, sdk.RegistryResolver{}, overrides)
	if err != nil {
		return err
	}

	cfg := node.DefaultPeerConfig()
	cfg.Name = "dev"
	cfg.GRPCAddr = *grpcAddr
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.Version = Version
	cfg.Log = logger
	p, err := node.NewPeer(cfg)
	if err != nil {
		return usageError{err}
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.Start(startCtx); err != nil {
		return fmt.Errorf("starting the node: %w", err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = p.Shutdown(sctx)
	}()
	runID, err := client.Submit(ctx, p.Addr(), ts, nil)
	if err != nil {
		return err
	}
	// A run that fails to start (a bad --conf value its bolts refuse) is
	// said at once, with its error, rather than as an ingest that did not
	// come up 30 s later.
	waitCtx, stopWait := context.WithCancelCause(ctx)
	defer stopWait(nil)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-waitCtx.Done():
				return
			case <-tick.C:
			}
			// Failed for good, or twice in a row after restarts (the same
			// error each time: a setting, not a passing hiccup).
			r := p.RunState(runID)
			if r != nil && r.GetError() != "" && (r.GetState() == galev1.NodeRunState_NODE_RUN_STATE_FAILED ||
				r.GetState() == galev1.NodeRunState_NODE_RUN_STATE_RESTARTING && r.GetRestarts() >= 2) {
				stopWait(errors.New(r.GetError()))
				return
			}
		}
	}()
	ingestURL := scheme + "://" + node.LoopbackAddr(*ingestAddr)
	if err := webanalytics.WaitHTTP(waitCtx, probe, ingestURL+"/healthz", 30*time.Second); err != nil {
		if cause := context.Cause(waitCtx); cause != nil && ctx.Err() == nil {
			return fmt.Errorf("the web-analytics topology failed to start: %w", cause)
		}
		return fmt.Errorf("the ingest did not come up at %s: %w (see gale status webanalytics --addr %s)", ingestURL, err, p.Addr())
	}
	stopWait(nil)
	dashURL := scheme + "://" + node.LoopbackAddr(*dashAddr) + "/"
	check := &url.URL{Scheme: scheme, Host: node.LoopbackAddr(*dashAddr), Path: "/api/state", User: dashUser}
	if err := webanalytics.WaitHTTP(ctx, probe, check.String(), 30*time.Second); err != nil {
		return fmt.Errorf("the dashboard did not come up at %s: %w", dashURL, err)
	}
	fmt.Fprintf(stdout, "Gale dev: a one-node cluster (gRPC %s) runs the web-analytics topology.\n\n", p.Addr())
	if dashUser != nil {
		fmt.Fprintf(stdout, "  dashboard   %s   (any user name; the password in %s)\n", dashURL, *dashPassword)
	} else {
		fmt.Fprintf(stdout, "  dashboard   %s\n", dashURL)
	}
	fmt.Fprintf(stdout, "  demo page   %s/   (tracked: move the mouse, click the button)\n", ingestURL)
	fmt.Fprintf(stdout, "  status      gale status webanalytics --addr %s\n\n", p.Addr())
	if *visitors > 0 && *rate > 0 {
		fmt.Fprintf(stdout, "Generating traffic: %d visitors, %.0f events/s. Ctrl-C stops.\n", *visitors, *rate)
		tc := webanalytics.DefaultTrafficConfig()
		tc.Target, tc.Visitors, tc.Rate = ingestURL+ingest.EventsPath, *visitors, *rate
		if scheme == "https" {
			tc.Trust = *httpsCert
		}
		if err := tc.Validate(); err != nil {
			return usageError{err}
		}
		go func() {
			if _, err := webanalytics.Traffic(ctx, tc); err != nil && ctx.Err() == nil {
				fmt.Fprintf(stderr, "gale dev: traffic generator: %v\n", err)
			}
		}()
	} else {
		fmt.Fprintln(stdout, "No generated traffic. Ctrl-C stops.")
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "gale dev: stopping")
	return nil
}

// portFree reports whether addr can be listened on now (a port of 0
// always can).
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			return op.Err
		}
		return err
	}
	return l.Close()
}
