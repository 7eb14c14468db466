package wordcount

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// newCount prepares count task index of tasks with the given output file
// and topology run.
func newCount(t testing.TB, output, topologyID string, index, tasks int) (*WordCount, *fakeEmitter, *logBuffer) {
	t.Helper()
	fe, log := &fakeEmitter{}, &logBuffer{}
	conf := map[string]any{}
	if output != "" {
		conf[KeyOutput] = output
	}
	tc := newTC("count", index, tasks, conf, log)
	tc.TopologyID = topologyID
	b := NewWordCount()
	if err := b.Prepare(context.Background(), tc, sdk.NewBoltCollector(fe)); err != nil {
		t.Fatal(err)
	}
	return b, fe, log
}

// feed counts each word of counts its number of times.
func feed(b *WordCount, counts map[string]int64) {
	for w, c := range counts {
		for range c {
			b.Execute(wordTuple(w))
		}
	}
}

// setTotals gives b the totals directly, as if it had counted them: the
// merge tests need large counts, which feeding word by word makes slow.
func setTotals(b *WordCount, totals map[string]int64) {
	for w, c := range totals {
		b.Execute(wordTuple(w))
		b.totals[b.index[w]] = c
	}
}

// formatTotals renders totals the way the output file must hold them.
func formatTotals(totals map[string]int64) string {
	var sb strings.Builder
	for _, w := range slices.Sorted(maps.Keys(totals)) {
		fmt.Fprintf(&sb, "%s\t%d\n", w, totals[w])
	}
	return sb.String()
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertMergeDone checks that only the output is left in its folder: no
// sidecar, no lock file, no temp file.
func assertMergeDone(t testing.TB, output string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(output))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{filepath.Base(output)}) {
		t.Fatalf("files left beside the output: %v, want only %s", names, filepath.Base(output))
	}
}

// disjointTotals makes random totals for tasks tasks, split by word the
// way fields grouping would, including non-ASCII words whose byte order
// differs from their letter order.
func disjointTotals(rng *rand.Rand, tasks, words int) (per []map[string]int64, union map[string]int64) {
	per = make([]map[string]int64, tasks)
	for i := range per {
		per[i] = map[string]int64{}
	}
	union = map[string]int64{}
	extra := []string{"ça", "zürich", "éa", "ea", "z", "日本語", "1969", "abc123def", "naïve", "ångström"}
	for i := range words + len(extra) {
		w := fmt.Sprintf("w%05d", rng.IntN(1_000_000))
		if i < len(extra) {
			w = extra[i]
		}
		if _, dup := union[w]; dup {
			continue
		}
		c := 1 + rng.Int64N(1<<40)
		per[rng.IntN(tasks)][w] = c
		union[w] = c
	}
	return per, union
}

func TestWordCountCountsAndAcks(t *testing.T) {
	b, fe, _ := newCount(t, "", testTopologyID, 0, 1)
	for _, w := range []string{"a", "b", "a", "ça", "a"} {
		b.Execute(wordTuple(w))
	}
	if want := map[string]int64{"a": 3, "b": 1, "ça": 1}; !maps.Equal(b.Counts(), want) {
		t.Fatalf("counts %v, want %v", b.Counts(), want)
	}
	if len(fe.acks) != 5 || len(fe.fails) != 0 || len(fe.bolt) != 0 {
		t.Fatalf("acks %d fails %d emits %d, want 5 0 0", len(fe.acks), len(fe.fails), len(fe.bolt))
	}
	var d sdk.OutputDeclarer
	b.DeclareOutputFields(&d)
	if len(d.Streams) != 1 || !slices.Equal(d.Streams[0].Fields, []string{"word", "count"}) {
		t.Fatalf("declared %+v", d.Streams)
	}
}

func TestWordCountTickIsAcked(t *testing.T) {
	b, fe, _ := newCount(t, "", testTopologyID, 0, 1)
	tick := &sdk.Tuple{Source: sdk.TickSource}
	b.Execute(tick)
	if len(fe.acks) != 1 || fe.acks[0] != tick || len(b.index) != 0 || len(fe.errs) != 0 {
		t.Fatalf("tick: acks %v counts %v errs %v, want acked and nothing else", fe.acks, b.Counts(), fe.errs)
	}
}

func TestWordCountRejectsNonWords(t *testing.T) {
	b, fe, _ := newCount(t, "", testTopologyID, 0, 1)
	for _, v := range []sdk.Value{sdk.String(""), sdk.String("a\tb"), sdk.String("a\nb"), sdk.Int(7)} {
		b.Execute(&sdk.Tuple{Values: []sdk.Value{v}, Source: wordSource})
	}
	if len(b.index) != 0 || len(fe.acks) != 4 || len(fe.errs) != 1 || b.rejected != 4 {
		t.Fatalf("counts %v acks %d errs %v rejected %d: want nothing counted, all acked, one report",
			b.Counts(), len(fe.acks), fe.errs, b.rejected)
	}
}

// Map keys are copies, not substrings of the sentences they came from.
func TestWordCountClonesKeys(t *testing.T) {
	b, _, _ := newCount(t, "", testTopologyID, 0, 1)
	sentence := strings.Repeat("x", 1000) + " word"
	w := sentence[1001:]
	b.Execute(wordTuple(w))
	b.Execute(wordTuple(w))
	for k, i := range b.index {
		if k != "word" || b.totals[i] != 2 {
			t.Fatalf("counts %v", b.Counts())
		}
		if sameMemory(sentence, k) {
			t.Fatal("the map key shares the sentence's memory: it would pin the sentence")
		}
	}
}

func TestWordCountNoOutputLogsTop10(t *testing.T) {
	b, _, log := newCount(t, "", testTopologyID, 0, 1)
	counts := map[string]int64{}
	for i := range 15 {
		counts[fmt.Sprintf("w%02d", i)] = int64(100 - i)
	}
	feed(b, counts)
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	for i := range 15 {
		line := fmt.Sprintf("word=w%02d count=%d", i, 100-i)
		if got := strings.Contains(out, line); got != (i < 10) {
			t.Errorf("log has %q: %v, want %v; log:\n%s", line, got, i < 10, out)
		}
	}
}

func TestWordCountMergeThreeTasksAnyOrder(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			per, union := disjointTotals(rng, 3, 2000)
			output := filepath.Join(t.TempDir(), "out.tsv")
			order := rng.Perm(3)
			for step, idx := range order {
				b, fe, _ := newCount(t, output, testTopologyID, idx, 3)
				setTotals(b, per[idx])
				if err := b.Finish(); err != nil {
					t.Fatal(err)
				}
				if len(fe.errs) != 0 {
					t.Fatalf("reported errors %v", fe.errs)
				}
				if step < 2 {
					// Intermediate state: the sorted union so far, and the sidecar.
					soFar := map[string]int64{}
					for _, i := range order[:step+1] {
						maps.Copy(soFar, per[i])
					}
					if got := readFile(t, output); got != formatTotals(soFar) {
						t.Fatalf("after %d tasks the output is not the union so far", step+1)
					}
					if got, want := readFile(t, output+".gale-merge"), fmt.Sprintf("%s\n%d\n", testTopologyID, step+1); got != want {
						t.Fatalf("sidecar %q, want %q", got, want)
					}
				}
			}
			if got, want := readFile(t, output), formatTotals(union); got != want {
				t.Fatalf("merged output differs from the sorted union (%d vs %d bytes)", len(got), len(want))
			}
			assertMergeDone(t, output)
		})
	}
}

func TestWordCountMergeOverwritesStaleOutput(t *testing.T) {
	for _, stale := range []struct{ name, sidecar string }{
		{"other run's sidecar", "an-earlier-run\n1\n"},
		{"no sidecar", ""},
	} {
		t.Run(stale.name, func(t *testing.T) {
			output := filepath.Join(t.TempDir(), "out.tsv")
			os.WriteFile(output, []byte("aaa\t5\nzzz\t999\n"), 0o644)
			if stale.sidecar != "" {
				os.WriteFile(output+".gale-merge", []byte(stale.sidecar), 0o644)
			}
			per := []map[string]int64{{"aaa": 1, "mid": 2}, {"zzz": 3}}
			for idx, totals := range per {
				b, _, _ := newCount(t, output, "this-run", idx, 2)
				feed(b, totals)
				if err := b.Finish(); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := readFile(t, output), "aaa\t1\nmid\t2\nzzz\t3\n"; got != want {
				t.Fatalf("output %q, want %q (the stale totals must be gone)", got, want)
			}
			assertMergeDone(t, output)
		})
	}
}

// The key sets of count tasks are disjoint by design; if they are not, the
// merge still sums a word's counts.
func TestWordCountMergeSumsDuplicates(t *testing.T) {
	output := filepath.Join(t.TempDir(), "out.tsv")
	per := []map[string]int64{{"a": 1, "b": 2, "d": 4}, {"b": 10, "c": 3, "d": 40, "e": 5}, {"a": 100}}
	for idx, totals := range per {
		b, _, _ := newCount(t, output, testTopologyID, idx, 3)
		feed(b, totals)
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readFile(t, output), "a\t101\nb\t12\nc\t3\nd\t44\ne\t5\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	// Duplicates inside the previous output (a file not written by Gale,
	// adopted through a sidecar of this run) are summed too.
	os.WriteFile(output, []byte("a\t1\na\t2\nb\t1"), 0o644)
	os.WriteFile(output+".gale-merge", []byte(testTopologyID+"\n1\n"), 0o644)
	b, _, _ := newCount(t, output, testTopologyID, 1, 2)
	feed(b, map[string]int64{"a": 4, "c": 1})
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, output), "a\t7\nb\t1\nc\t1\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

// Four tasks finishing at once are serialised by the flock; several runs
// in a row reuse the same output and lock paths, which exercises the
// removal of the lock file by each run's last task.
func TestWordCountConcurrentFinish(t *testing.T) {
	const tasks = 4
	output := filepath.Join(t.TempDir(), "out.tsv")
	for run := range 5 {
		rng := rand.New(rand.NewPCG(uint64(run), 7))
		per, union := disjointTotals(rng, tasks, 5000)
		id := fmt.Sprintf("run-%d", run)
		bolts := make([]*WordCount, tasks)
		for i := range tasks {
			bolts[i], _, _ = newCount(t, output, id, i, tasks)
			setTotals(bolts[i], per[i])
		}
		start := make(chan struct{})
		errs := make([]error, tasks)
		var wg sync.WaitGroup
		for i := range tasks {
			wg.Go(func() {
				<-start
				errs[i] = bolts[i].Finish()
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if got, want := readFile(t, output), formatTotals(union); got != want {
			t.Fatalf("run %d: concurrent merge differs from the sorted union (%d vs %d bytes)", run, len(got), len(want))
		}
		assertMergeDone(t, output)
	}
}

func TestWordCountFinishErrors(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "no", "such", "out.tsv")
		b, _, _ := newCount(t, output, testTopologyID, 0, 1)
		feed(b, map[string]int64{"a": 1})
		err := b.Finish()
		if err == nil || !strings.Contains(err.Error(), output) || !strings.Contains(err.Error(), "lock") {
			t.Fatalf("error %v, want one about locking, naming %s", err, output)
		}
	})
	t.Run("corrupt output of this run", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "out.tsv")
		os.WriteFile(output, []byte("a\t1\nno tab here\n"), 0o644)
		os.WriteFile(output+".gale-merge", []byte(testTopologyID+"\n1\n"), 0o644)
		b, _, _ := newCount(t, output, testTopologyID, 1, 2)
		feed(b, map[string]int64{"b": 1})
		err := b.Finish()
		if !errors.Is(err, ErrCorruptOutput) || !strings.Contains(err.Error(), output+" line 2") {
			t.Fatalf("error %v, want ErrCorruptOutput naming %s line 2", err, output)
		}
		if got := readFile(t, output); got != "a\t1\nno tab here\n" {
			t.Fatalf("a failed merge changed the output: %q", got)
		}
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(output), ".out.tsv.tmp-*"))
		if len(matches) != 0 {
			t.Fatalf("temp files left: %v", matches)
		}
	})
	t.Run("unsorted output of this run", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "out.tsv")
		os.WriteFile(output, []byte("b\t1\na\t1\n"), 0o644)
		os.WriteFile(output+".gale-merge", []byte(testTopologyID+"\n1\n"), 0o644)
		b, _, _ := newCount(t, output, testTopologyID, 1, 2)
		err := b.Finish()
		if !errors.Is(err, ErrCorruptOutput) || !strings.Contains(err.Error(), "not sorted") {
			t.Fatalf("error %v, want ErrCorruptOutput about order", err)
		}
	})
	t.Run("output of this run missing", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "out.tsv")
		os.WriteFile(output+".gale-merge", []byte(testTopologyID+"\n1\n"), 0o644)
		b, _, _ := newCount(t, output, testTopologyID, 1, 2)
		err := b.Finish()
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), output) {
			t.Fatalf("error %v, want not-exist naming %s: the other task's totals are lost", err, output)
		}
	})
	t.Run("corrupt sidecar", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "out.tsv")
		os.WriteFile(output+".gale-merge", []byte(testTopologyID+"\nmany\n"), 0o644)
		b, _, _ := newCount(t, output, testTopologyID, 0, 2)
		err := b.Finish()
		if !errors.Is(err, ErrCorruptSidecar) || !strings.Contains(err.Error(), output+".gale-merge") {
			t.Fatalf("error %v, want ErrCorruptSidecar naming the sidecar", err)
		}
	})
	t.Run("finish twice", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "out.tsv")
		b, _, _ := newCount(t, output, testTopologyID, 0, 2)
		feed(b, map[string]int64{"a": 1})
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := b.Finish(); err == nil {
			t.Fatal("a second Finish was accepted: it would count twice")
		}
		if got := readFile(t, output+".gale-merge"); got != testTopologyID+"\n1\n" {
			t.Fatalf("sidecar %q after a refused second Finish", got)
		}
	})
}

// A Finish waiting for the lock gives up when the task's context ends.
func TestWordCountFinishWaitsForLockUntilCancelled(t *testing.T) {
	output := filepath.Join(t.TempDir(), "out.tsv")
	unlock, err := lockFile(context.Background(), output+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	ctx, cancel := context.WithCancel(context.Background())
	b := NewWordCount()
	tc := newTC("count", 0, 1, map[string]any{KeyOutput: output}, nil)
	if err := b.Prepare(ctx, tc, sdk.NewBoltCollector(&fakeEmitter{})); err != nil {
		t.Fatal(err)
	}
	feed(b, map[string]int64{"a": 1})
	done := make(chan error, 1)
	go func() { done <- b.Finish() }()
	select {
	case err := <-done:
		t.Fatalf("Finish returned %v while another task held the lock", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), output+".lock") {
			t.Fatalf("error %v, want context.Canceled naming the lock file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Finish did not give up after cancel")
	}
	if _, err := os.Stat(output); !os.IsNotExist(err) {
		t.Fatalf("output written without the lock: %v", err)
	}
}

// A count task that saw no words still takes part in the merge (it is
// counted towards the last task), and an all-empty run leaves an empty
// output file rather than none.
func TestWordCountMergeEmptyTasks(t *testing.T) {
	output := filepath.Join(t.TempDir(), "out.tsv")
	for idx, totals := range []map[string]int64{{}, {"only": 3}, {}} {
		b, _, _ := newCount(t, output, testTopologyID, idx, 3)
		feed(b, totals)
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, output); got != "only\t3\n" {
		t.Fatalf("output %q", got)
	}
	assertMergeDone(t, output)

	os.WriteFile(output, []byte("stale\t1\n"), 0o644)
	for idx := range 2 {
		b, _, _ := newCount(t, output, "empty-run", idx, 2)
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, output); got != "" {
		t.Fatalf("output %q, want an empty file", got)
	}
	assertMergeDone(t, output)
}
