package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gale-stream/gale/node/bench"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gale bench", flag.ContinueOnError)
	o := bench.DefaultOptions()
	fs.DurationVar(&o.Window, "window", o.Window, "measured time per run")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up time per run")
	scen := fs.String("scenarios", "wordcount,passthrough", "comma-separated: wordcount, passthrough")
	loads := fs.String("loads", "max,half,tenth", "comma-separated: max, half, tenth")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gale bench [--window 3s] [--warmup 1s] [--scenarios wordcount,passthrough] [--loads max,half,tenth]")
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
	o.Scenarios = strings.Split(*scen, ",")
	o.Loads = strings.Split(*loads, ",")
	o.Progress = stderr
	rs, err := bench.Run(ctx, o)
	bench.PrintTable(stdout, rs)
	if ctx.Err() != nil {
		return errStopped
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}
