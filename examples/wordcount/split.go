package wordcount

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gale-stream/gale/sdk"
)

// asciiWord marks the ASCII bytes that belong to words, so the common case
// of the scan is one table lookup instead of two Unicode range searches.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))
	}
	return t
}()

// isWordRune reports whether r belongs to a word: a letter or a digit.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// SplitSentence splits "sentence" tuples into lowercase "word" tuples: a
// word is a maximal run of letters or digits. Each word is emitted anchored
// to its sentence, and the sentence is acked after its last word.
//
// This is the topology's hot path, so Execute allocates nothing per word:
// words are substrings of the lowered sentence (immutable, so downstream
// tasks may keep them), and strings.ToLower returns its argument unchanged,
// without a copy, when the sentence is lowercase ASCII already.
type SplitSentence struct {
	out *sdk.BoltCollector
}

// NewSplitSentence returns a split bolt to be prepared by Prepare.
func NewSplitSentence() *SplitSentence { return &SplitSentence{} }

// DeclareOutputFields declares the default stream with field "word".
func (b *SplitSentence) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("word") }

// Prepare keeps the collector; the bolt has no configuration.
func (b *SplitSentence) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}

// Execute emits the words of field 0 and acks the input. Tuples without a
// string field 0 (such as ticks) have no words and are just acked.
func (b *SplitSentence) Execute(t *sdk.Tuple) {
	// Lowercase the whole sentence once, then cut words out of the result:
	// lowering can change byte lengths (e.g. "İ"), so offsets must come from
	// the string the words are cut from.
	s := strings.ToLower(t.Str(0))
	start := -1
	for i := 0; i < len(s); {
		// A byte below utf8.RuneSelf is a whole rune: one table lookup, no
		// decoding, no call. Only other runes go to the Unicode tables.
		c, size, inWord := s[i], 1, false
		if c < utf8.RuneSelf {
			inWord = asciiWord[c]
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			inWord = isWordRune(r)
		}
		if inWord {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			b.out.Emit(t, sdk.String(s[start:i]))
			start = -1
		}
		i += size
	}
	if start >= 0 {
		b.out.Emit(t, sdk.String(s[start:]))
	}
	b.out.Ack(t)
}

// Cleanup has nothing to release.
func (b *SplitSentence) Cleanup() error { return nil }
