package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gale-stream/gale/examples/webanalytics"
	"github.com/gale-stream/gale/sdk/ingest"
)

// demoCommands are the subcommands of `gale demo`.
var demoCommands = []command{
	{"traffic", "simulate visitors of the demo landing page and POST their events to an ingest spout", runDemoTraffic},
}

// runDemo is `gale demo SUBCOMMAND`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := func(w io.Writer) {
		fmt.Fprintln(w, "usage: gale demo SUBCOMMAND [FLAGS]\n\nsubcommands:")
		for _, c := range demoCommands {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	if len(args) == 0 {
		help(stderr)
		return usagef("want a subcommand: %s", demoNames())
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		help(stderr)
		return errHelp
	}
	for _, c := range demoCommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return usagef("unknown subcommand %q; want one of: %s", args[0], demoNames())
}

func demoNames() string {
	var names []string
	for _, c := range demoCommands {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// runDemoTraffic is `gale demo traffic`.
func runDemoTraffic(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := webanalytics.DefaultTrafficConfig()
	fs := flag.NewFlagSet("gale demo traffic", flag.ContinueOnError)
	fs.IntVar(&cfg.Visitors, "visitors", cfg.Visitors, "visitors on the page at once")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events per second in total")
	fs.StringVar(&cfg.Target, "target", cfg.Target, "ingest URL to POST events to")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long, e.g. 30s (0: until Ctrl-C)")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "most events of one visitor in one request (the tracker's batch)")
	fs.IntVar(&cfg.Senders, "senders", cfg.Senders, "concurrent HTTP requests")
	fs.DurationVar(&cfg.Visit, "visit", cfg.Visit, "mean time a visitor stays on the page")
	fs.DurationVar(&cfg.Away, "away", cfg.Away, "mean time before a visitor's place is taken again; a third of the arrivals are returning visitors, whose return starts a new session only after more than the session gap (30 s by default)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed, for reproducible visitors (0: random)")
	fs.StringVar(&cfg.Trust, "trust", "", "PEM file of certificates to trust for an https:// target beyond the system's: a private CA, or the ingest's own certificate")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale demo traffic --visitors N --rate R [--target URL] [--duration D] [--batch N] [--senders N] [--visit D] [--away D] [--seed S] [--trust PEM]")
		fmt.Fprintln(stderr, "\nSimulates visitors of the demo landing page (cursor paths towards the call to action, dwelling,\nclicks, scrolling, tab switches, visitors arriving and leaving) and POSTs their events, batched\nlike tracker.js, to an ingest spout. Prints events/s and refusals at the end.\n\nflags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q (see gale demo traffic -h)", pos[0])
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if cfg.Trust != "" && !strings.HasPrefix(cfg.Target, "https://") {
		return usagef("--trust %s: the target %s is not https://, there is no certificate to trust", cfg.Trust, cfg.Target)
	}
	if _, err := webanalytics.TrustedRoots(cfg.Trust, "--trust"); err != nil {
		return usageError{err}
	}
	fmt.Fprintf(stderr, "gale demo traffic: %d visitors, %g events/s to %s\n", cfg.Visitors, cfg.Rate, cfg.Target)
	rep, err := webanalytics.Traffic(ctx, cfg)
	printTrafficReport(stdout, rep)
	switch {
	case err == nil:
	case strings.Contains(err.Error(), "certificate signed by unknown authority") && cfg.Trust == "":
		err = fmt.Errorf("%w\n(give the CA that signed the ingest's certificate, or the certificate itself, with --trust FILE)", err)
	case strings.Contains(err.Error(), "certificate signed by unknown authority"):
		err = fmt.Errorf("%w\n(--trust %s holds neither the CA that signed the ingest's certificate nor the certificate itself)", err, cfg.Trust)
	case strings.Contains(err.Error(), "HTTP 405") && !strings.HasSuffix(cfg.Target, ingest.EventsPath):
		err = fmt.Errorf("%w\n(the ingest takes events at %s: --target %s%s)", err, ingest.EventsPath, strings.TrimSuffix(cfg.Target, "/"), ingest.EventsPath)
	}
	return err
}

func printTrafficReport(w io.Writer, r webanalytics.TrafficReport) {
	fmt.Fprintf(w, "sent %d events in %.1f s: %.0f events/s accepted (%d accepted, %d refused)\n",
		r.Generated, r.Elapsed.Seconds(), r.Rate(), r.Accepted, r.Rejected)
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		name := fmt.Sprint(c)
		if c == 0 {
			name = "network error"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, r.Statuses[c]))
	}
	fmt.Fprintf(w, "requests: %d (%s), retries: %d\n", r.Requests, strings.Join(parts, ", "), r.Retries)
	fmt.Fprintf(w, "visits: %d, clicks: %d, on the call to action: %d\n", r.Sessions, r.Clicks, r.CTAClicks)
}
