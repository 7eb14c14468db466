package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireDeps skips a test whose external dependencies (installed by
// `make deps`) are missing, unless GALE_REQUIRE_DEPS=1 (as in `make test`)
// makes that a failure.
func requireDeps(t *testing.T, files []string, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(repoRoot(t), f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("GALE_REQUIRE_DEPS") == "1" {
		t.Fatalf("missing %v: run `make deps`", missing)
	}
	t.Skipf("missing %v: run `make deps`", missing)
}

// The same word count with components in other languages gives exactly the
// Go word count's result.
func TestWordCountInOtherLanguages(t *testing.T) {
	cases := []struct {
		topology string
		files    []string
		programs []string
	}{
		{"topology-multilang-python.yaml", []string{"examples/wordcount/multilang/storm.py"}, []string{"python3"}},
		{"topology-multilang-javascript.yaml", []string{"examples/wordcount/multilang/storm.js"}, []string{"node"}},
		{"topology-python.yaml", []string{"sdk/python/.venv/bin/python3"}, []string{"python3"}},
		{"topology-typescript.yaml", []string{"examples/wordcount/typescript/dist/split.js", "examples/wordcount/typescript/dist/count.js"}, []string{"node"}},
		{"topology-mixed.yaml", []string{"sdk/python/.venv/bin/python3", "examples/wordcount/typescript/dist/count.js"}, []string{"python3", "node"}},
	}
	// Letters and digits beyond ASCII, and the characters whose lowercase
	// differs between Go's simple case mapping and full ones.
	text := randomText(3000, 7) + "İstanbul ΣΑΣ ǅemal ﬁve ²3 ٣4 Ⅻ\n"
	for _, tc := range cases {
		t.Run(tc.topology, func(t *testing.T) {
			t.Parallel()
			requireDeps(t, tc.files, tc.programs...)
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.tsv")
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := gale(t, "local", "examples/wordcount/"+tc.topology, "--conf", "wordcount.input="+in, "--conf", "wordcount.output="+out)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := formatCounts(referenceCounts(text)); string(got) != want {
				t.Fatalf("output differs from the reference (%d vs %d bytes):\n%s\nstderr:\n%s", len(got), len(want), diffLines(want, string(got)), stderr)
			}
		})
	}
}

// diffLines lists lines of want missing from got and the other way round.
func diffLines(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range splitLines(s) {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var out string
	for l := range w {
		if !g[l] {
			out += "- " + l + "\n"
		}
	}
	for l := range g {
		if !w[l] {
			out += "+ " + l + "\n"
		}
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	return lines
}
