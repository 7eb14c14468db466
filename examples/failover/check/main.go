// Command check verifies the output of the failover example: it reads
// every *.txt file of the sink directory and reports the ids of 0..N-1
// that are missing, how many lines repeat an id, and any line that is not
// an id in range.
//
//	go run ./examples/failover/check --dir /tmp/gale-failover --count 100000
//
// Exit status: 0 when every id is present and every line is well-formed, 1
// when ids are missing or lines are bad (the first ones are listed), 2 when
// the command line is wrong or the directory cannot be read. It may run
// while the topology still writes: an unterminated last line is noted and
// not counted.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gale-stream/gale/examples/failover"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "/tmp/gale-failover", "the sink directory (the topology's "+failover.KeySinkDir+")")
	count := fs.Int64("count", 100000, "N: the ids 0..N-1 must all be present (the topology's "+failover.KeyCount+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: check [--dir DIR] [--count N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *count < 0 {
		fmt.Fprintf(stderr, "check: --count must be at least 0, got %d\n", *count)
		return 2
	}
	r, err := failover.CheckDir(*dir, *count)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	r.Report(stdout)
	if !r.OK() {
		return 1
	}
	return 0
}
