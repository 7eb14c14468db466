package wordcount

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

func newSplit(t testing.TB, e sdk.Emitter) *SplitSentence {
	t.Helper()
	b := NewSplitSentence()
	if err := b.Prepare(context.Background(), newTC("split", 0, 1, nil, nil), sdk.NewBoltCollector(e)); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitSentenceWords(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"plain", "the quick brown fox", []string{"the", "quick", "brown", "fox"}},
		{"punctuation", `Hello, World! "Quoted"; (paren) end.`, []string{"hello", "world", "quoted", "paren", "end"}},
		{"apostrophe and hyphen split", "Don't stop-me_now", []string{"don", "t", "stop", "me", "now"}},
		{"digits", "In 1969, 2 men; 3.14 is pi", []string{"in", "1969", "2", "men", "3", "14", "is", "pi"}},
		{"letter digit runs", "abc123def x9 9x", []string{"abc123def", "x9", "9x"}},
		{"mixed case", "HTTP Go gO GO", []string{"http", "go", "go", "go"}},
		{"unicode letters", "Ça va, naïve Café? ZÜRICH Łódź", []string{"ça", "va", "naïve", "café", "zürich", "łódź"}},
		{"non-latin scripts", "Привет, мир! 日本語テキスト", []string{"привет", "мир", "日本語テキスト"}},
		{"non-ascii digits", "٣ apples ١٢", []string{"٣", "apples", "١٢"}},
		{"combining mark splits (no normalisation)", "nai\u0308ve", []string{"nai", "ve"}},
		{"CRLF leftovers", "line one\r\n", []string{"line", "one"}},
		{"tabs and runs of spaces", "\t a  \t b   ", []string{"a", "b"}},
		{"empty line", "", nil},
		{"only punctuation", "... !!! ---", nil},
		{"word at both ends", "start...end", []string{"start", "end"}},
		{"emoji and symbols", "I ❤ Go 🚀 $5 + 3€", []string{"i", "go", "5", "3"}},
		{"invalid utf-8", "ab\xffcd", []string{"ab", "cd"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fe := &fakeEmitter{}
			b := newSplit(t, fe)
			in := sentenceTuple(tc.in)
			b.Execute(in)
			if got := fe.words(); !slices.Equal(got, tc.want) {
				t.Errorf("split %q = %q, want %q", tc.in, got, tc.want)
			}
			for i, e := range fe.bolt {
				if e.stream != "" || len(e.anchors) != 1 || e.anchors[0] != in || len(e.values) != 1 || e.values[0].Kind() != sdk.KindString {
					t.Errorf("emit %d = %+v, want one string on the default stream anchored to the input", i, e)
				}
			}
			if len(fe.acks) != 1 || fe.acks[0] != in || len(fe.fails) != 0 {
				t.Fatalf("acks %v fails %v, want the input acked once", fe.acks, fe.fails)
			}
			if last := fe.order[len(fe.order)-1]; last != "ack" {
				t.Errorf("the ack must come after the emits, order %v", fe.order)
			}
		})
	}
}

// Words are substrings of the lowered sentence: no copy per word.
func TestSplitSentenceWordsShareTheSentence(t *testing.T) {
	fe := &fakeEmitter{}
	b := newSplit(t, fe)
	s := strings.Repeat("alpha beta ", 10)
	b.Execute(sentenceTuple(s))
	for _, w := range fe.words() {
		if !sameMemory(s, w) {
			t.Fatalf("word %q is a copy, want a substring of the (already lowercase) sentence", w)
		}
	}
}

func TestSplitSentenceTickIsAcked(t *testing.T) {
	fe := &fakeEmitter{}
	b := newSplit(t, fe)
	tick := &sdk.Tuple{Source: sdk.TickSource}
	b.Execute(tick)
	if len(fe.bolt) != 0 || len(fe.acks) != 1 {
		t.Fatalf("tick: emits %d acks %d, want 0 and 1", len(fe.bolt), len(fe.acks))
	}
}

// The split bolt is the hot path: it must not allocate per word. A sentence
// that is lowercase ASCII costs nothing at all; one with capitals costs
// exactly the lowered copy (one allocation per sentence, whatever its word
// count), since words must be immutable strings that downstream tasks may
// keep, so the copy cannot be a reused buffer.
func TestSplitSentenceAllocs(t *testing.T) {
	cases := []struct {
		name     string
		sentence string
		want     float64
	}{
		{"ascii lowercase", "the quick brown fox jumps over the lazy dog, 42 times!", 0},
		{"unicode lowercase", "ça va très bien, naïve zürich", 0},
		{"ascii mixed case", "The Quick Brown Fox jumps over the lazy dog, 42 times!", 1},
		{"long ascii mixed case", strings.Repeat("Alpha Beta Gamma delta ", 50), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ce := &countingEmitter{}
			b := newSplit(t, ce)
			in := sentenceTuple(tc.sentence)
			got := testing.AllocsPerRun(1000, func() { b.Execute(in) })
			if got != tc.want {
				t.Errorf("allocs per sentence = %v, want %v", got, tc.want)
			}
			if ce.emits == 0 || ce.acks == 0 {
				t.Fatal("the bolt emitted or acked nothing")
			}
		})
	}
}
