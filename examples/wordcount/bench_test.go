package wordcount

import (
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gale-stream/gale/sdk"
)

// benchSentences are the inputs of the split benchmarks, by kind.
var benchSentences = map[string][]string{
	"ascii-lower": {
		"the quick brown fox jumps over the lazy dog",
		"tuples flow from spouts to bolts, and bolts pass them along.",
		"in 1969 two men walked on the moon while the world watched",
		"keep it simple: read a line, split it, count it, write it down.",
	},
	"ascii-mixed": {
		"The quick brown fox jumps over the lazy dog.",
		"Tuples flow from spouts to bolts, and bolts pass them along.",
		"In 1969 two men walked on the Moon while the world watched.",
		"Keep it simple: read a line, split it, count it, write it down.",
	},
	"unicode": {
		"Zürich, São Paulo and Kraków are far apart, yet their trams look alike.",
		"Our café serves crème brûlée on Fridays and Saturdays.",
		"Her grandmother spoke Polish, and the village was called Łódź.",
		"He was naïve enough to believe the train would leave on time.",
	},
}

// naiveSplit is the baseline: what one would write without caring about
// allocations.
func naiveSplit(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// BenchmarkSplitSentence measures the split bolt per sentence, through a
// real BoltCollector into a counting emitter. Following DESIGN.md, each
// run first times the naive baseline (strings.FieldsFunc on the lowered
// sentence) over the same inputs and reports the ratio.
func BenchmarkSplitSentence(b *testing.B) {
	for _, kind := range []string{"ascii-lower", "ascii-mixed", "unicode"} {
		b.Run(kind, func(b *testing.B) {
			sentences := benchSentences[kind]
			tuples := make([]*sdk.Tuple, len(sentences))
			words := 0
			for i, s := range sentences {
				tuples[i] = sentenceTuple(s)
				words += len(naiveSplit(s))
			}
			ce := &countingEmitter{}
			bolt := newSplit(b, ce)

			var sink int
			t0 := time.Now()
			for i := 0; i < b.N; i++ {
				sink += len(naiveSplit(sentences[i%len(sentences)]))
			}
			baseline := time.Since(t0)
			runtime.GC() // the baseline's garbage must not slow the measured loop

			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bolt.Execute(tuples[i%len(tuples)])
			}
			b.StopTimer()
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns, "ns/sentence")
			b.ReportMetric(ns*float64(len(sentences))/float64(words), "ns/word")
			b.ReportMetric(float64(baseline)/float64(b.Elapsed()), "x-vs-FieldsFunc")
			if ce.acks != b.N || sink < 0 {
				b.Fatalf("acks %d, want %d", ce.acks, b.N)
			}
		})
	}
}

// BenchmarkWordCountExecute measures counting a word that is already in
// the map, the steady state of the count bolt.
func BenchmarkWordCountExecute(b *testing.B) {
	bolt, _, _ := newCount(b, "", testTopologyID, 0, 1)
	ce := &countingEmitter{}
	bolt.out = sdk.NewBoltCollector(ce)
	ws := strings.Fields("the quick brown fox jumps over the lazy dog again and again")
	tuples := make([]*sdk.Tuple, len(ws))
	for i, w := range ws {
		tuples[i] = wordTuple(w)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bolt.Execute(tuples[i%len(tuples)])
	}
}
