package wordcount

import (
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/gale-stream/gale/sdk"
)

// referenceCount is the obvious, independent word counter the pipeline is
// checked against.
func referenceCount(lines []string) map[string]int64 {
	counts := map[string]int64{}
	notWord := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	for _, l := range lines {
		for _, w := range strings.FieldsFunc(strings.ToLower(l), notWord) {
			counts[w]++
		}
	}
	return counts
}

// randomSentences makes n reproducible lines with mixed case, digits,
// punctuation, non-ASCII letters, empty lines and CRLF endings.
func randomSentences(rng *rand.Rand, n int) (content string, lines []string) {
	vocab := []string{
		"the", "The", "THE", "fox", "Fox", "naïve", "NAÏVE", "Ça", "ça", "Zürich", "Łódź",
		"abc123def", "1969", "42", "x9", "日本語", "привет", "Привет", "stream", "tuple", "bolt",
		"spout", "Ångström", "café", "CAFÉ", "don't", "well-known", "e-mail", "3.14", "a", "I",
	}
	seps := []string{" ", " ", " ", ", ", "; ", "! ", "? ", " - ", "...", "\t", " (", ") ", "\"", " 🚀 "}
	var sb strings.Builder
	for i := range n {
		var line strings.Builder
		if rng.IntN(50) > 0 { // about one line in 50 is empty
			for j := range 1 + rng.IntN(12) {
				if j > 0 {
					line.WriteString(seps[rng.IntN(len(seps))])
				}
				line.WriteString(vocab[rng.IntN(len(vocab))])
			}
		}
		lines = append(lines, line.String())
		sb.WriteString(line.String())
		if i%7 == 0 {
			sb.WriteString("\r\n")
		} else {
			sb.WriteString("\n")
		}
	}
	return sb.String(), lines
}

// TestPipelineExact drives 2 spout tasks, 2 split tasks and 2 count tasks
// over 100k lines by hand, as the runtime would: shuffle to the split
// tasks, fields grouping by word to the count tasks, acks back to the
// spouts, and a few failures with replay. The merged output file must
// equal the reference count exactly.
func TestPipelineExact(t *testing.T) {
	const lines, spouts, splits, counters = 100_000, 2, 2, 2
	rng := rand.New(rand.NewPCG(1, 2))
	content, want := randomSentences(rng, lines)
	input, output := filepath.Join(t.TempDir(), "in.txt"), filepath.Join(t.TempDir(), "out.tsv")
	if err := os.WriteFile(input, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	type spoutTask struct {
		s  *SentenceSpout
		fe *fakeEmitter
	}
	sp := make([]spoutTask, spouts)
	for i := range sp {
		s, fe, _ := openSpout(t, map[string]any{KeyInput: input, KeyBatch: 100}, i, spouts)
		sp[i] = spoutTask{s, fe}
	}
	splitEmit := make([]*fakeEmitter, splits)
	split := make([]*SplitSentence, splits)
	for i := range split {
		splitEmit[i] = &fakeEmitter{}
		split[i] = newSplit(t, splitEmit[i])
	}
	count := make([]*WordCount, counters)
	countEmit := make([]*fakeEmitter, counters)
	for i := range count {
		count[i], countEmit[i], _ = newCount(t, output, testTopologyID, i, counters)
	}
	countTask := func(w string) int {
		h := fnv.New32a()
		h.Write([]byte(w))
		return int(h.Sum32() % counters)
	}

	failed := 0
	for round := 0; ; round++ {
		progress := false
		for si, st := range sp {
			st.s.NextTuple()
			for _, e := range st.fe.takeSpout() {
				progress = true
				// About 1% of the trees fail before reaching a bolt; the
				// spout must replay them, and they must count once.
				if rng.IntN(100) == 0 {
					failed++
					st.s.Fail(e.msgID)
					continue
				}
				b := rng.IntN(splits)
				fe := splitEmit[b]
				fe.bolt, fe.acks = fe.bolt[:0], fe.acks[:0]
				in := &sdk.Tuple{Values: e.values, Source: sentenceSource, SourceTask: int32(si)}
				split[b].Execute(in)
				for _, we := range fe.bolt {
					count[countTask(we.values[0].Str())].Execute(&sdk.Tuple{Values: we.values, Source: wordSource})
				}
				if len(fe.acks) != 1 {
					t.Fatalf("split acked %d times", len(fe.acks))
				}
				st.s.Ack(e.msgID)
			}
		}
		if !progress && sp[0].fe.ends == 1 && sp[1].fe.ends == 1 {
			break
		}
		if round > 10*lines {
			t.Fatal("the pipeline does not finish")
		}
	}
	for i, st := range sp {
		if len(st.s.pending) != 0 || st.fe.ends != 1 {
			t.Fatalf("spout %d: %d pending, %d ends", i, len(st.s.pending), st.fe.ends)
		}
	}
	if failed == 0 {
		t.Fatal("no failures injected")
	}

	ref := referenceCount(want)
	got := map[string]int64{}
	for i, c := range count {
		maps.Copy(got, c.Counts())
		if n := len(countEmit[i].acks); n == 0 {
			t.Fatalf("count task %d acked nothing", i)
		}
	}
	if !maps.Equal(got, ref) {
		t.Fatalf("in-memory totals differ from the reference: %d vs %d words", len(got), len(ref))
	}
	// The two count tasks merge into one file, last task first.
	for i := counters - 1; i >= 0; i-- {
		if err := count[i].Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if out, wantOut := readFile(t, output), formatTotals(ref); out != wantOut {
		t.Fatalf("output file differs from the reference (%d vs %d bytes)", len(out), len(wantOut))
	}
	assertMergeDone(t, output)
	t.Logf("%d lines, %d distinct words, %d injected failures replayed", lines, len(ref), failed)
}

// The three components are registered under their class names, and the
// registered factories make working instances.
func TestRegistered(t *testing.T) {
	sf, ok := sdk.LookupSpout(ClassSentenceSpout)
	if !ok {
		t.Fatalf("%s not registered", ClassSentenceSpout)
	}
	if _, ok := sf().(*SentenceSpout); !ok {
		t.Fatal("spout factory makes the wrong type")
	}
	for class, fields := range map[string][]string{
		ClassSplitSentence: {"word"},
		ClassWordCount:     {"word", "count"},
	} {
		bf, ok := sdk.LookupBolt(class)
		if !ok {
			t.Fatalf("%s not registered", class)
		}
		b := bf()
		if _, ok := b.(sdk.Finisher); ok != (class == ClassWordCount) {
			t.Errorf("%s: Finisher %v", class, ok)
		}
		var d sdk.OutputDeclarer
		b.DeclareOutputFields(&d)
		if len(d.Streams) != 1 || d.Streams[0].ID != sdk.DefaultStream || strings.Join(d.Streams[0].Fields, ",") != strings.Join(fields, ",") {
			t.Errorf("%s declares %+v, want %v", class, d.Streams, fields)
		}
	}
	var d sdk.OutputDeclarer
	sf().DeclareOutputFields(&d)
	if len(d.Streams) != 1 || strings.Join(d.Streams[0].Fields, ",") != "sentence" {
		t.Errorf("spout declares %+v", d.Streams)
	}
}

// The example in README.md is what the components really produce.
func TestReadmeExample(t *testing.T) {
	const in = "The cat sat.\nThe cat ran, 2 times!\nÇa va? Naïve.\n"
	const want = "2\t1\ncat\t2\nnaïve\t1\nran\t1\nsat\t1\nthe\t2\ntimes\t1\nva\t1\nça\t1\n"
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n"+in+"```") || !strings.Contains(string(readme), "```\n"+want+"```") {
		t.Fatal("README.md does not show this input and output")
	}
	input, output := writeFile(t, "IN.txt", in), filepath.Join(t.TempDir(), "OUT.tsv")
	s, sfe, _ := openSpout(t, map[string]any{KeyInput: input}, 0, 1)
	splitFE := &fakeEmitter{}
	split := newSplit(t, splitFE)
	count, _, _ := newCount(t, output, testTopologyID, 0, 1)
	for _, e := range drainSpout(t, s, sfe) {
		split.Execute(&sdk.Tuple{Values: e.values, Source: sentenceSource})
	}
	for _, e := range splitFE.bolt {
		count.Execute(&sdk.Tuple{Values: e.values, Source: wordSource})
	}
	if err := count.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, output); got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}
