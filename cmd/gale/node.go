package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
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
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long to wait for this node's tasks to move elsewhere")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale node [--name N] [--grpc-addr HOST:PORT] [--gossip-addr HOST:PORT] [--join HOST:PORT,...] [--data-dir DIR] [--etcd URL,...]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *etcd != "" {
		cfg.Etcd = strings.Split(*etcd, ",")
	}
	if *join != "" {
		cfg.Join = strings.Split(*join, ",")
	}
	cfg.Version = Version
	if cfg.Log, err = newLogger(stderr, *logLevel); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
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
	fmt.Fprintf(stdout, "gale node %s draining (up to %v)\n", cfg.Name, *drain)
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
