package wordcount

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/gale-stream/gale/sdk"
)

// topLogged is how many words a count task logs when no output file is set.
const topLogged = 10

// WordCount counts "word" tuples and, when the input ends (sdk.Finisher),
// merges its totals into the file at wordcount.output (see the package
// documentation for the merge protocol), or logs its top 10 words when no
// output is set. It declares "word", "count" for topologies that extend it,
// but emits nothing.
type WordCount struct {
	ctx    context.Context // cancels a Finish that waits for the lock
	tc     *sdk.TaskContext
	out    *sdk.BoltCollector
	log    *slog.Logger
	output string
	tasks  int // number of count tasks writing the output

	// index maps each word to its slot in totals. The map's values are not
	// the counts because assigning to an existing string key stores the
	// new key in Go maps (m[w]++ would replace the cloned key with w, a
	// substring that pins its whole sentence); a lookup stores nothing.
	index    map[string]int
	totals   []int64
	rejected int64 // inputs that are not words (see Execute)
	finished bool
}

// NewWordCount returns a count bolt to be prepared by Prepare.
func NewWordCount() *WordCount { return &WordCount{} }

// DeclareOutputFields declares the default stream with fields "word" and
// "count".
func (b *WordCount) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("word", "count") }

// Prepare reads wordcount.output and the number of count tasks, which
// Finish needs to know which task merges last.
func (b *WordCount) Prepare(ctx context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.ctx, b.tc, b.out = ctx, tc, out
	if b.ctx == nil {
		b.ctx = context.Background()
	}
	b.log = tc.Log
	if b.log == nil {
		b.log = slog.Default()
	}
	b.output = tc.Config.String(KeyOutput, "")
	b.tasks = len(tc.ComponentTasks[tc.Component])
	if b.tasks == 0 {
		b.tasks = 1 // a context without a task table (tests, tools): one task
	}
	b.index = make(map[string]int, 1024)
	b.totals = make([]int64, 0, 1024)
	return nil
}

// Execute counts field 0 and acks the input. Ticks are acked and ignored.
// A value that cannot be a line of the output file (not a string, empty,
// or containing a tab or newline) is acked, not counted, and reported once:
// the split bolt never emits one, and failing it would only replay it
// forever.
func (b *WordCount) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		b.out.Ack(t)
		return
	}
	w := t.Str(0)
	if !validWord(w) {
		if b.rejected == 0 {
			b.out.ReportError(fmt.Errorf("%s: ignoring input %q from %s: not a word (want a non-empty string without tab or newline)",
				ClassWordCount, t.Value(0).String(), t.Component()))
		}
		b.rejected++
		b.out.Ack(t)
		return
	}
	if i, ok := b.index[w]; ok {
		b.totals[i]++
	} else {
		// The word is usually a substring of a whole sentence: copy it, so
		// the map does not keep every first sentence of a word alive.
		b.index[strings.Clone(w)] = len(b.totals)
		b.totals = append(b.totals, 1)
	}
	b.out.Ack(t)
}

// validWord reports whether w can be written as one word<TAB>count line.
func validWord(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c == '\t' || c == '\n' {
			return false
		}
	}
	return true
}

// Counts returns a copy of the totals so far, for tests and tools.
func (b *WordCount) Counts() map[string]int64 {
	m := make(map[string]int64, len(b.index))
	for w, i := range b.index {
		m[w] = b.totals[i]
	}
	return m
}

// Finish writes the totals when the input ends: merged into the shared
// output file, or as a log of the top 10 words when no output is set. A
// second call on the same instance is refused, since merging twice would
// count twice.
func (b *WordCount) Finish() error {
	if b.finished {
		return fmt.Errorf("%s: task %d: Finish called twice; totals were already written", ClassWordCount, b.tc.TaskID)
	}
	if b.rejected > 0 {
		b.log.Warn("ignored inputs that are not words", "count", b.rejected)
	}
	if b.output == "" {
		b.logTop()
		b.finished = true
		return nil
	}
	words := slices.Sorted(maps.Keys(b.index))
	counts := make([]int64, len(words))
	for i, w := range words {
		counts[i] = b.totals[b.index[w]]
	}
	err := mergeOutput(b.ctx, mergeJob{
		path:       b.output,
		topologyID: b.tc.TopologyID,
		tasks:      b.tasks,
		words:      words,
		counts:     counts,
	})
	if err != nil {
		return fmt.Errorf("%s: task %d: write totals (%s): %w", ClassWordCount, b.tc.TaskID, KeyOutput, err)
	}
	b.finished = true
	b.log.Info("word totals merged", "output", b.output, "words", len(words))
	return nil
}

// logTop logs the most frequent words, ties broken by word, so a run
// without an output file still shows a result.
func (b *WordCount) logTop() {
	type wc struct {
		w string
		c int64
	}
	all := make([]wc, 0, len(b.index))
	for w, i := range b.index {
		all = append(all, wc{w, b.totals[i]})
	}
	slices.SortFunc(all, func(x, y wc) int {
		if c := cmp.Compare(y.c, x.c); c != 0 {
			return c
		}
		return strings.Compare(x.w, y.w)
	})
	top := all[:min(topLogged, len(all))]
	b.log.Info("word totals (no "+KeyOutput+" set, nothing written)", "distinct", len(all), "top", len(top))
	for i, e := range top {
		b.log.Info("top word", "rank", i+1, "word", e.w, "count", e.c)
	}
}

// Cleanup has nothing to release: Finish writes and closes everything.
func (b *WordCount) Cleanup() error { return nil }
