package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/examples/wordcount"
	"github.com/gale-stream/gale/sdk/attach"
)

const attachedWordCount = `name: attached
spouts:
  - {id: sentences, class: wordcount.SentenceSpout}
bolts:
  - id: split
    attached: true
    parallelism: 2
    outputs: {default: [word]}
    inputs: [{from: sentences, grouping: shuffle}]
  - id: count
    class: wordcount.WordCount
    parallelism: 2
    inputs: [{from: split, grouping: fields, fields: [word]}]
`

// runAttachedLocal runs `gale local` on a word count whose split bolt is
// attached, runs = times; each time, as soon as gale local says where to
// attach, attachers serve the split bolt's two tasks. It fails the test
// when an attacher fails or the run does not end with its counts.
func runAttachedLocal(t *testing.T, runs int, input string, attacher func(ctx context.Context, addr string) error) {
	t.Helper()
	dir := t.TempDir()
	topo := filepath.Join(dir, "attached.yaml")
	if err := os.WriteFile(topo, []byte(attachedWordCount), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.tsv")
	waiting := regexp.MustCompile(`waiting for 2 process\(es\) to attach at (\S+)`)
	for run := 0; run < runs; run++ {
		os.Remove(out)
		args := []string{"local", topo, "--quiet", "--attach-addr", "127.0.0.1:0", "--conf", "wordcount.output=" + out}
		if input != "" {
			args = append(args, "--conf", "wordcount.input="+input)
		}
		cmd := exec.Command(galeBin, args...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		var addr string
		for addr == "" && sc.Scan() {
			if m := waiting.FindStringSubmatch(sc.Text()); m != nil {
				addr = m[1]
			}
		}
		if addr == "" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("gale local did not say where to attach")
		}
		go io.Copy(io.Discard, stderr)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		errs := make([]error, 2) // one attacher per task of split
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = attacher(ctx, addr)
			}()
		}
		wg.Wait()
		cancel()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("run %d: gale local did not end; the attached processes: %v", run, errs)
		}
		for i, e := range errs {
			if e != nil {
				t.Errorf("run %d: attached process %d: %v", run, i, e)
			}
		}
		if err != nil {
			t.Fatalf("run %d: gale local: %v", run, err)
		}
		if t.Failed() {
			return
		}
		if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "the\t") {
			t.Fatalf("run %d: no counts written (%v)", run, err)
		}
	}
}

// A process may attach as soon as gale local says where: the tasks it
// asks for are there to be taken, not "every task already has a process"
// because they had not started yet.
func TestLocalTakesProcessesThatAttachAtOnce(t *testing.T) {
	runAttachedLocal(t, 20, "", func(ctx context.Context, addr string) error {
		return attach.Run(ctx, wordcount.NewSplitSentence(), attach.Options{Addr: addr, Topology: "attached", Component: "split"})
	})
}

// When the run ends, gale local ends its attached processes' streams
// normally, so that they exit 0 (sdk/ATTACH.md, "Ending"), not cut off as
// it exits (the Python SDK's "lost the node ... Stream removed", exit 1).
func TestLocalEndsAttachedProcessesNormally(t *testing.T) {
	requireDeps(t, []string{"sdk/python/.venv/bin/python3"}, "python3")
	split := filepath.Join(repoRoot(t), "examples/wordcount/python/split.py")
	// Inputs that keep the processes busy for a while make the cut
	// likelier.
	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte(randomText(50000, 7)), 0o644); err != nil {
		t.Fatal(err)
	}
	runAttachedLocal(t, 8, input, func(ctx context.Context, addr string) error {
		cmd := exec.CommandContext(ctx, "python3", split)
		cmd.Env = append(os.Environ(), "GALE_ATTACH_ADDR="+addr, "GALE_TOPOLOGY=attached", "GALE_COMPONENT=split")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}
