package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gale-stream/gale/node"
)

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := node.DefaultPeerConfig()
	fs := flag.NewFlagSet("gale node", flag.ContinueOnError)
	fs.StringVar(&cfg.Name, "name", cfg.Name, "node name, unique in the cluster")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "HOST:PORT for gRPC (Coordinator API, health, reflection)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory (the embedded etcd lives in DIR/etcd)")
	etcd := fs.String("etcd", "", "external etcd endpoints URL[,URL...]; empty starts an embedded etcd")
	fs.StringVar(&cfg.EtcdClientAddr, "etcd-client-addr", cfg.EtcdClientAddr, "HOST:PORT the embedded etcd serves clients on")
	fs.StringVar(&cfg.EtcdPeerAddr, "etcd-peer-addr", cfg.EtcdPeerAddr, "HOST:PORT the embedded etcd serves peers on")
	fs.StringVar(&cfg.GossipAddr, "gossip-addr", cfg.GossipAddr, "HOST:PORT for gossip (memberlist, UDP and TCP)")
	join := fs.String("join", "", "gossip addresses HOST:PORT[,...] of nodes to join; without --etcd, etcd is learned from them")
	fs.IntVar(&cfg.Slots, "slots", cfg.Slots, "task slots: this node's weight when tasks are balanced")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	debugAddr := fs.String("debug-addr", "", "HOST:PORT to serve Go's profiler on (/debug/pprof/); empty: off. Keep it on loopback")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long to wait for this node's tasks to move elsewhere")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "how long the cluster waits for this node when it stops answering etcd (dead, frozen, cut off) before its tasks move elsewhere: whole seconds, 1s to 5m. Longer rides out VM pauses and migrations, for a slower failover")
	realtime := realtimeFlag(fs)
	fs.StringVar(&cfg.TLS.CA, "tls-ca", "", "mutual TLS on the gRPC port: PEM file of the CA that signed every node's and client's certificate (with --tls-cert and --tls-key; also used for the embedded etcd)")
	fs.StringVar(&cfg.TLS.Cert, "tls-cert", "", "mutual TLS: PEM file of this node's certificate, used as server and as client (it must name the addresses others dial, and 127.0.0.1 for managed processes when --grpc-addr is a wildcard)")
	fs.StringVar(&cfg.TLS.Key, "tls-key", "", "mutual TLS: PEM file of the certificate's private key")
	fs.StringVar(&cfg.EtcdTLS.CA, "etcd-ca", "", "PEM file of the CA of an external etcd's https endpoints (default: --tls-ca)")
	fs.StringVar(&cfg.EtcdTLS.Cert, "etcd-cert", "", "PEM client certificate for an external etcd that requires one (default: --tls-cert)")
	fs.StringVar(&cfg.EtcdTLS.Key, "etcd-key", "", "the --etcd-cert's private key")
	gossipKey := fs.String("gossip-key-file", "", "file holding a base64 key of 16, 24 or 32 bytes that encrypts and authenticates gossip (the same on every node; e.g. head -c 32 /dev/urandom | base64)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale node [--name N] [--grpc-addr HOST:PORT] [--gossip-addr HOST:PORT] [--join HOST:PORT,...] [--data-dir DIR] [--etcd URL,... | --etcd-client-addr HOST:PORT --etcd-peer-addr HOST:PORT] [--slots N] [--tls-ca F --tls-cert F --tls-key F] [--etcd-ca F [--etcd-cert F --etcd-key F]] [--gossip-key-file F] [--drain-timeout D] [--lease-ttl D] [--debug-addr HOST:PORT] [--log-level L] [--realtime]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := checkNodeName(cfg.Name); err != nil {
		return err
	}
	if cfg.LeaseTTL < time.Second || cfg.LeaseTTL > node.MaxLeaseTTL || cfg.LeaseTTL%time.Second != 0 {
		return usagef("--lease-ttl %v: want whole seconds from 1s to %v (etcd's leases count seconds)", cfg.LeaseTTL, node.MaxLeaseTTL)
	}
	for flagName, v := range map[string]string{"--grpc-addr": cfg.GRPCAddr, "--gossip-addr": cfg.GossipAddr, "--etcd-client-addr": cfg.EtcdClientAddr, "--etcd-peer-addr": cfg.EtcdPeerAddr} {
		if err := checkHostPort(flagName, v); err != nil {
			return err
		}
	}
	if *etcd != "" {
		cfg.Etcd = strings.Split(*etcd, ",")
		for _, u := range cfg.Etcd {
			if err := checkEtcdURL(u); err != nil {
				return err
			}
		}
	}
	if *join != "" {
		cfg.Join = strings.Split(*join, ",")
		for _, a := range cfg.Join {
			if err := checkHostPort("--join", a); err != nil {
				return err
			}
		}
	}
	if *etcd != "" || *join != "" {
		// Only a node that starts the embedded etcd uses them: one that
		// --joins or has --etcd ignored them without a word.
		if given := flagsGiven(fs, "etcd-client-addr", "etcd-peer-addr"); len(given) > 0 {
			return usagef("--%s: for the embedded etcd, which a node with --etcd or --join does not start (it uses the cluster's etcd)", strings.Join(given, " and --"))
		}
	}
	if err := refuseEmpty(fs, "tls-ca", "tls-cert", "tls-key", "etcd-ca", "etcd-cert", "etcd-key", "gossip-key-file"); err != nil {
		return err
	}
	if err := checkNodeTLS(cfg); err != nil {
		return err
	}
	for _, k := range []struct{ flag, file string }{{"--tls-key", cfg.TLS.Key}, {"--etcd-key", cfg.EtcdTLS.Key}, {"--gossip-key-file", *gossipKey}} {
		if w := looseKeyWarning(k.flag, k.file); w != "" {
			fmt.Fprintf(stderr, "gale node: warning: %s\n", w)
		}
	}
	if *gossipKey != "" {
		if cfg.GossipKey, err = readGossipKey(*gossipKey); err != nil {
			return err
		}
	}
	cfg.Version = Version
	if cfg.Log, err = newLogger(stderr, *logLevel); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if *debugAddr != "" {
		if err := checkHostPort("--debug-addr", *debugAddr); err != nil {
			return err
		}
	}
	if err := applyRealtime(*realtime); err != nil {
		return err
	}
	if len(cfg.Etcd) == 0 && len(cfg.Join) == 0 {
		// The embedded etcd would wait forever for the lock of a data dir
		// another node holds: say so at once instead.
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	if *debugAddr != "" {
		if err := checkHostPort("--debug-addr", *debugAddr); err != nil {
			return err
		}
		stop, err := serveDebug(*debugAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	p, err := node.NewPeer(cfg)
	if err != nil {
		return usageError{err}
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.Start(startCtx); err != nil {
		return err
	}
	where := "etcd " + strings.Join(cfg.Etcd, ",")
	if len(cfg.Etcd) == 0 && len(cfg.Join) > 0 {
		where = "etcd learned through gossip"
	}
	if eps := p.EtcdEndpoints(); len(eps) > 0 {
		where = "embedded etcd at " + strings.Join(eps, ",")
	}
	fmt.Fprintf(stdout, "gale node %s serving on %s (gossip %s, %s)\n", cfg.Name, p.Addr(), p.GossipAddr(), where)
	<-ctx.Done()
	fmt.Fprintf(stdout, "gale node %s draining (up to %v; Ctrl-C again to quit at once)\n", cfg.Name, *drain)
	dctx, dcancel := context.WithTimeout(context.Background(), *drain)
	defer dcancel()
	if err := p.Drain(dctx); err != nil {
		fmt.Fprintf(stderr, "gale node %s: %v; leaving anyway\n", cfg.Name, err)
	}
	fmt.Fprintf(stdout, "gale node %s shutting down\n", cfg.Name)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	return p.Shutdown(sctx)
}

// checkNodeName validates --name: it is a key in etcd, a gossip member name
// and shown in every status table.
func checkNodeName(name string) error {
	if name == "" || len(name) > 64 {
		return usagef("--name %q: want 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return usagef("--name %q: %q is not allowed; use letters, digits, '-', '_' and '.'", name, r)
		}
	}
	return nil
}

// checkEtcdURL validates one --etcd endpoint.
func checkEtcdURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--etcd %q: want a URL like http://HOST:PORT (comma-separated for several)", s)
	}
	if u.Port() == "" {
		return usagef("--etcd %q: the URL has no port (etcd's client port is usually 2379)", s)
	}
	return nil
}

// lockDataDir takes an exclusive lock on DIR/gale.lock for the node's
// lifetime, so a second node on the same data dir fails at once.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "gale.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another gale node (lock %s); give this one its own --data-dir", dir, path)
		}
		return nil, fmt.Errorf("locking data dir %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// serveDebug serves net/http/pprof's handlers on addr, for profiling a
// node under load (go tool pprof http://ADDR/debug/pprof/profile).
func serveDebug(addr string) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	return func() { srv.Close() }, nil
}

// checkNodeTLS checks that the node's TLS flags come as a set and fit the
// etcd it uses (PeerConfig.Validate checks the same in its own words).
func checkNodeTLS(cfg node.PeerConfig) error {
	f, etcd := cfg.TLS, cfg.EtcdTLS
	if !f.IsZero() {
		for _, fl := range []struct{ name, v string }{{"--tls-ca", f.CA}, {"--tls-cert", f.Cert}, {"--tls-key", f.Key}} {
			if fl.v == "" {
				return usagef("%s is empty: a node with TLS needs --tls-ca, --tls-cert and --tls-key", fl.name)
			}
		}
	}
	if !etcd.IsZero() && etcd.CA == "" {
		return usagef("--etcd-ca is empty: --etcd-cert and --etcd-key need the etcd's CA too")
	}
	if !etcd.IsZero() && len(cfg.Etcd) == 0 && len(cfg.Join) == 0 {
		return usagef("--etcd-ca, --etcd-cert and --etcd-key are for an external etcd (--etcd) or one learned with --join; the embedded etcd uses --tls-ca, --tls-cert and --tls-key")
	}
	if !f.IsZero() || !etcd.IsZero() {
		for _, u := range cfg.Etcd {
			if !strings.HasPrefix(u, "https://") {
				return usagef("--etcd %s is not https: a node with --tls-* or --etcd-ca reaches etcd over https only (it takes the commands it runs from etcd)", u)
			}
		}
	}
	return nil
}

// readGossipKey reads a base64 gossip key from file.
func readGossipKey(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("--gossip-key-file: %v", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, usagef("--gossip-key-file %s: not base64: %v", file, err)
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, usagef("--gossip-key-file %s: the key has %d bytes; want 16, 24 or 32 (e.g. head -c 32 /dev/urandom | base64)", file, n)
	}
	return key, nil
}
