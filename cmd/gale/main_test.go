package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// The CLI tests run the real binary as a subprocess, as a user would.

var galeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gale-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	galeBin = filepath.Join(dir, "gale")
	if out, err := exec.Command("go", "build", "-o", galeBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gale: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// gale runs the binary from the repository root and returns stdout,
// stderr and the exit code.
func gale(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(galeBin, args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running gale: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

// referenceCounts is the word count contract written the plainest way.
func referenceCounts(text string) map[string]int {
	counts := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			counts[w]++
		}
	}
	return counts
}

func formatCounts(counts map[string]int) string {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Strings(words)
	var b strings.Builder
	for _, w := range words {
		fmt.Fprintf(&b, "%s\t%d\n", w, counts[w])
	}
	return b.String()
}

func randomText(lines int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	vocab := []string{"Storm", "gale", "wind", "tuple", "BOLT", "spout", "naïve", "Ça", "straße", "42", "x7", "日本", "the", "a", "of", "Stream"}
	seps := []string{" ", ", ", ". ", "! ", " -- ", "\t", "'", "(", ")"}
	var b strings.Builder
	for i := 0; i < lines; i++ {
		n := r.IntN(12)
		for j := 0; j < n; j++ {
			b.WriteString(vocab[r.IntN(len(vocab))])
			b.WriteString(seps[r.IntN(len(seps))])
		}
		if r.IntN(50) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestLocalWordCountIsExact(t *testing.T) {
	cases := []struct {
		name  string
		lines int
		conf  []string
	}{
		{"small", 2000, nil},
		{"acking-off", 20000, []string{"--conf", "topology.acker.executors=0"}},
		{"tiny-batches", 5000, []string{"--conf", "topology.batch.size=3", "--conf", "topology.queue.size=2"}},
	}
	if !testing.Short() {
		cases = append(cases, struct {
			name  string
			lines int
			conf  []string
		}{"million-lines", 1_000_000, nil})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
			text := randomText(tc.lines, uint64(i))
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"local", "examples/wordcount/topology.yaml", "--conf", "wordcount.input=" + in, "--conf", "wordcount.output=" + out}, tc.conf...)
			_, stderr, code := gale(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := formatCounts(referenceCounts(text)); string(got) != want {
				t.Fatalf("output differs from the reference (%d vs %d bytes); first lines:\n%s", len(got), len(want), head(string(got), 5))
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Fatalf("leftover files next to the output: %v", entries)
			}
		})
	}
}

func head(s string, n int) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, sc.Text())
	}
	return strings.Join(out, "\n")
}

func TestLocalWordCountDefaultSample(t *testing.T) {
	_, stderr, code := gale(t, "local", "examples/wordcount/topology.yaml")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "count") || !strings.Contains(stderr, "finished") {
		t.Fatalf("no summary in stderr:\n%s", stderr)
	}
}

func TestBadInputGivesClearErrors(t *testing.T) {
	dir := t.TempDir()
	cycle := filepath.Join(dir, "cycle.yaml")
	os.WriteFile(cycle, []byte(`name: bad
spouts:
  - id: s
    class: wordcount.SentenceSpout
bolts:
  - id: a
    class: wordcount.SplitSentence
    inputs: [{from: s, grouping: shuffle}, {from: b, grouping: shuffle}]
  - id: b
    class: wordcount.SplitSentence
    inputs: [{from: a, grouping: shuffle}]
`), 0o644)
	field := filepath.Join(dir, "field.yaml")
	os.WriteFile(field, []byte(`name: bad
spouts:
  - id: s
    class: wordcount.SentenceSpout
bolts:
  - id: count
    class: wordcount.WordCount
    inputs:
      - {from: s, grouping: fields, fields: [word]}
`), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no-args", []string{}, 2, []string{"usage"}},
		{"unknown-command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"missing-file", []string{"local", filepath.Join(dir, "nope.yaml")}, 2, []string{"nope.yaml"}},
		{"cycle", []string{"local", cycle}, 2, []string{"cycle.yaml:", "cycle"}},
		{"missing-field", []string{"local", field}, 2, []string{"field.yaml:9:", "word"}},
		{"bad-conf", []string{"local", "examples/wordcount/topology.yaml", "--conf", "novalue"}, 2, []string{"--conf novalue"}},
		{"bad-setting", []string{"local", "examples/wordcount/topology.yaml", "--conf", "topology.batch.size=zero"}, 2, []string{"topology.batch.size"}},
		{"missing-input", []string{"local", "examples/wordcount/topology.yaml", "--conf", "wordcount.input=" + filepath.Join(dir, "absent.txt")}, 1, []string{"absent.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := gale(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Fatalf("stack trace or panic reached the user:\n%s", stderr)
			}
		})
	}
}
