package hint

import "testing"

func TestSuggest(t *testing.T) {
	cands := []string{"parallelism", "inputs", "outputs", "wordcount.SplitSentence", "wordcount.WordCount"}
	for _, tc := range []struct{ in, want string }{
		{"paralelism", "parallelism"},
		{"Inputz", "inputs"},
		{"wordcount.SplitSentance", "wordcount.SplitSentence"},
		{"wordcount.wordcount", "wordcount.WordCount"}, // case is ignored
		{"something", ""},                              // nothing close
		{"in", ""},                                     // too short to guess from
		{"", ""},
	} {
		if got := Suggest(tc.in, cands); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"same", "same", 0},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
