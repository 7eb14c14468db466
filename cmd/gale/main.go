// Command gale is Gale's one binary: it runs topologies in one process
// (local), measures the runtime (bench), and, as the cluster issues land,
// runs peer nodes and talks to the Coordinator API.
//
// main stays thin: it picks the subcommand, and each subcommand parses its
// flags, builds a config, runs, and turns errors into one clear line on
// stderr and an exit code (never a stack trace).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/gale-stream/gale/node/gcfloor"
	"github.com/gale-stream/gale/node/procgov"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the job failed at run time
	exitUsage   = 2 // bad command line or bad topology file
	exitStopped = 130
)

// usageError marks errors that are the user's input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// runsTopologies are the commands that run tasks in this process: they
// tune the collector for a small heap (node/gcfloor).
var runsTopologies = map[string]bool{"dev": true, "node": true, "local": true, "bench": true}

var commands = []command{
	{"dev", "the main job: a one-node cluster running web analytics with generated traffic, and its dashboard: gale dev", runDev},
	{"node", "run a Gale node (one command, a one-node cluster on an embedded etcd): gale node [--name N] [--grpc-addr HOST:PORT]", runNode},
	{"local", "run a topology in this process: gale local FILE.yaml [--conf key=value ...]", runLocal},
	{"submit", "check a topology file and submit it to the cluster: gale submit FILE.yaml [--conf key=value ...] [--inactive]", runSubmit},
	{"list", "list the cluster's topologies", runList},
	{"status", "show a topology's components, tasks, nodes, counters, runs and errors: gale status NAME", runStatus},
	{"kill", "stop and remove a topology: gale kill NAME [--wait SECONDS]", runKill},
	{"activate", "let a topology's spouts emit again: gale activate NAME", runActivate},
	{"deactivate", "pause a topology's spouts: gale deactivate NAME", runDeactivate},
	{"rebalance", "change parallelism or spread tasks anew: gale rebalance NAME [--parallelism COMPONENT=N ...]", runRebalance},
	{"nodes", "list the cluster's nodes; * marks the leader", runNodes},
	{"cert", "make the certificates of a cluster's mutual TLS: gale cert ca | node NAME --host H,... | client NAME | gossip-key", runCert},
	{"demo", "demo tools: gale demo traffic --visitors N --rate R [--target URL] [--duration D]", runDemo},
	{"bench", "measure the runtime against a plain channel pipeline and print a table", runBench},
	{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
		fmt.Fprintln(out, "gale", Version)
		return nil
	}},
}

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			// The first signal asks the command to stop cleanly (a node
			// drains); from then on the default action applies, so a
			// second Ctrl-C ends the process at once.
			<-ctx.Done()
			stop()
		}()
		startProcs = runtime.GOMAXPROCS(0)
		if runsTopologies[c.name] {
			gcCtx, gcStop := context.WithCancel(context.Background())
			gcDone := make(chan struct{})
			go func() {
				defer close(gcDone)
				gcfloor.Run(gcCtx, gcfloor.DefaultFloor)
			}()
			govDone := make(chan struct{})
			go func() {
				defer close(govDone)
				// Fewer processors while lightly loaded (README, "Fewer
				// processors when lightly loaded"); GOMAXPROCS turns it off.
				procgov.Run(gcCtx)
			}()
			defer func() {
				gcStop()
				<-gcDone
				<-govDone
			}()
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, errHelp):
			return exitOK
		case errors.Is(err, errStopped):
			fmt.Fprintln(stderr, "gale: stopped")
			return exitStopped
		}
		fmt.Fprintf(stderr, "gale %s: %v\n", c.name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	if strings.HasPrefix(args[0], "-") {
		// gale --addr X nodes: the command comes first.
		for i, a := range args[1:] {
			for _, c := range commands {
				if a == c.name {
					fixed := append(append([]string{c.name}, args[i+2:]...), args[:i+1]...)
					fmt.Fprintf(stderr, "gale: %s: flags go after the command: gale %s\n", args[0], strings.Join(fixed, " "))
					return exitUsage
				}
			}
		}
	}
	fmt.Fprintf(stderr, "gale: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gale COMMAND [ARGS]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'gale COMMAND -h' for a command's flags.")
}

// startProcs is GOMAXPROCS as the process started, before the processor
// governor lowers it: the cores the process may use.
var startProcs int

var (
	errHelp    = errors.New("help shown")
	errStopped = errors.New("stopped")
)
