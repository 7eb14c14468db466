// Package wordcount is Gale's word count example: a spout that reads
// sentences from a file, a bolt that splits them into words and a bolt that
// counts the words and writes the totals to one shared file when the input
// ends. Importing the package (for its side effect, as the gale binary does)
// registers the three components under the class names a topology's YAML
// uses:
//
//	wordcount.SentenceSpout   spout, emits "sentence"
//	wordcount.SplitSentence   bolt,  emits "word"
//	wordcount.WordCount       bolt,  declares "word", "count"; writes totals
//
// # Configuration
//
// The components read these keys from the merged topology config (set them
// in the YAML's config block or with --conf key=value):
//
//	wordcount.input        sentence file, one sentence a line; empty: the
//	                       bundled sample.txt (200 lines)
//	wordcount.output       totals file (word<TAB>count lines, sorted by word);
//	                       empty: each count task logs its top 10 instead
//	wordcount.batch        most tuples a spout emits per NextTuple (64)
//	wordcount.rate         sentences per second per spout task (0: unlimited)
//	wordcount.max_retries  failures after which a line is dropped (-1: never)
//
// # The spout
//
// SentenceSpout reads its file lazily through a bufio.Reader, so files of
// any size and lines of any length work; a trailing "\n" or "\r\n" is
// stripped and empty lines are emitted too. With n spout tasks, the task of
// TaskIndex i reads the whole file itself and keeps the lines whose 0-based
// number is i modulo n: no coordination is needed, and every line is read by
// exactly one task. Line k (0-based) is emitted reliably with message id
// k+1. The spout remembers only the lines still in flight; a failed line is
// queued and emitted again before any new line, until it is acked or has
// failed more than wordcount.max_retries times. When the file is exhausted
// the spout declares end of input once; it keeps replaying failed lines
// afterwards, and a local run ends when every tree is done.
//
// # The split bolt
//
// SplitSentence lowercases a sentence once (strings.ToLower) and emits each
// maximal run of letters or digits (unicode.IsLetter or unicode.IsDigit) as
// a word, anchored to the sentence, then acks it. Words are substrings of
// the lowered sentence, so splitting allocates nothing per word (and
// nothing at all for a sentence that is already lowercase ASCII). There is
// no Unicode normalisation: a decomposed "nai\u0308ve" splits at the
// combining mark, while the precomposed "naïve" is one word.
//
// # The count bolt and the shared output file
//
// WordCount keeps a map from word (a strings.Clone of the first
// occurrence, so that it does not pin a sentence) to count; with fields
// grouping on "word"
// the count tasks hold disjoint sets of words. When the input ends (Finish)
// every count task merges its totals into the same output file, serialised
// by an exclusive flock on "<output>.lock":
//
//  1. Read the sidecar "<output>.gale-merge": line 1 is the TopologyID, line
//     2 how many count tasks have merged so far. A sidecar of another
//     topology run (or none) means the output file is stale: start empty.
//  2. Stream-merge the current output (sorted) with this task's sorted
//     totals, summing duplicate words, into a temp file in the same folder;
//     fsync it and rename it over the output, so readers never see a
//     half-written file.
//  3. Update the sidecar (also by rename). The last task (merged ==
//     number of count tasks) removes the sidecar and the lock file instead.
//
// The protocol lives in examples/internal/mergefile (shared with
// examples/sessions); this package supplies the streaming merge of
// word<TAB>count lines.
//
// Finish is therefore not idempotent across restarts of a task within one
// run: a task that merged and then ran Finish again would add its totals
// twice. The two-line sidecar format is part of the contract, so it does
// not record which tasks merged; WordCount does refuse a second Finish
// within one instance.
package wordcount

// Class names under which init registers the components.
const (
	ClassSentenceSpout = "wordcount.SentenceSpout"
	ClassSplitSentence = "wordcount.SplitSentence"
	ClassWordCount     = "wordcount.WordCount"
)

// Config keys read by the components. See the package documentation for
// their meaning and defaults.
const (
	KeyInput      = "wordcount.input"
	KeyOutput     = "wordcount.output"
	KeyBatch      = "wordcount.batch"
	KeyRate       = "wordcount.rate"
	KeyMaxRetries = "wordcount.max_retries"
)
