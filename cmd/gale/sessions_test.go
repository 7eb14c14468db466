package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type visitEvent struct {
	visitor string
	ts      int64
}

// referenceSessions is the sessions contract written the plainest way:
// each visitor's times sorted, cut where consecutive times are more than
// gap apart, lines sorted by visitor then start.
func referenceSessions(evs []visitEvent, gap int64) string {
	by := map[string][]int64{}
	for _, e := range evs {
		by[e.visitor] = append(by[e.visitor], e.ts)
	}
	type sess struct {
		v             string
		start, end, n int64
	}
	var all []sess
	for v, ts := range by {
		slices.Sort(ts)
		cur := sess{v, ts[0], ts[0], 1}
		for _, t := range ts[1:] {
			if t-cur.end > gap {
				all = append(all, cur)
				cur = sess{v, t, t, 0}
			}
			cur.end = t
			cur.n++
		}
		all = append(all, cur)
	}
	slices.SortFunc(all, func(a, b sess) int {
		if c := strings.Compare(a.v, b.v); c != 0 {
			return c
		}
		return int(a.start - b.start)
	})
	var b strings.Builder
	for _, s := range all {
		fmt.Fprintf(&b, "%s\t%d\t%d\t%d\n", s.v, s.start, s.end, s.n)
	}
	return b.String()
}

// randomVisits makes n events of up to `visitors` visitors, each moved
// back by up to `disorder` ms from its place in time, with some malformed
// lines mixed in; it returns the file and the valid events.
func randomVisits(seed uint64, n, visitors int, gap, disorder int64) (string, []visitEvent, int) {
	rng := rand.New(rand.NewPCG(seed, 3))
	type line struct {
		at   int64
		text string
	}
	var lines []line
	var evs []visitEvent
	ts := int64(1_700_000_000_000)
	types := []string{"move", "click", "scroll"}
	for range n {
		ts += rng.Int64N(gap/3 + 1)
		if rng.IntN(200) == 0 {
			ts += 3 * gap // a quiet spell: every visitor's session ends
		}
		v := fmt.Sprintf("v%d", rng.IntN(visitors))
		if rng.IntN(2) == 0 {
			v += "-ça" // non-ASCII visitor ids
		}
		at := ts - rng.Int64N(disorder+1)
		evs = append(evs, visitEvent{v, at})
		lines = append(lines, line{ts, fmt.Sprintf(`{"visitor":%q,"ts":%d,"type":%q,"page":"/p%d","x":%d,"y":%d}`,
			v, at, types[rng.IntN(3)], rng.IntN(5), rng.IntN(1920), rng.IntN(1080))})
	}
	bad := []string{`{"visitor":"v1","type":"move"}`, `not json`, `{"visitor":"","ts":1,"type":"x"}`, `{"visitor":"v1","ts":"soon","type":"move"}`, `[1,2]`}
	for i, b := range bad {
		lines = slices.Insert(lines, (i+1)*len(lines)/(len(bad)+1), line{0, b})
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(l.text)
		sb.WriteString("\n")
	}
	return sb.String(), evs, len(bad)
}

// gale local examples/sessions/topology.yaml gives exactly the reference
// sessions on random inputs that are out of order within the allowed
// out-of-orderness, skipping malformed lines with file:line errors.
func TestLocalSessionsIsExact(t *testing.T) {
	cases := []struct {
		name                  string
		events, visitors      int
		gap, disorder, allows int64
		conf                  []string
	}{
		{"default-disorder", 20000, 50, 60_000, 10_000, 0, nil},
		{"wide-disorder", 20000, 300, 30_000, 45_000, 45_000, nil},
		{"in-order-tiny-batches", 5000, 20, 1000, 0, 0, []string{"--conf", "topology.batch.size=3", "--conf", "topology.queue.size=2"}},
		{"gap-zero", 3000, 10, 0, 0, 0, nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.tsv")
			text, evs, bad := randomVisits(uint64(i), tc.events, tc.visitors, max(tc.gap, 100), tc.disorder)
			if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"local", "examples/sessions/topology.yaml", "--conf", "sessions.input=" + in,
				"--conf", fmt.Sprintf("sessions.gap_ms=%d", tc.gap), "--conf", "sessions.output=" + out}
			if tc.allows != 0 {
				args = append(args, "--conf", fmt.Sprintf("sessions.out_of_orderness_ms=%d", tc.allows))
			}
			_, stderr, code := gale(t, append(args, tc.conf...)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceSessions(evs, tc.gap); string(got) != want {
				t.Fatalf("output differs from the reference (%d vs %d bytes); first lines:\n%s\nwant:\n%s", len(got), len(want), head(string(got), 5), head(want, 5))
			}
			if n := strings.Count(stderr, in+":"); n < bad {
				t.Fatalf("want %d malformed lines reported as %s:LINE, found %d:\n%s", bad, in, n, stderr)
			}
			if strings.Contains(stderr, "late events") {
				t.Fatalf("late events within the allowed out-of-orderness:\n%s", stderr)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Fatalf("leftover files next to the output: %v", entries)
			}
		})
	}
}

// Events further out of order than allowed are late: they are in no
// session, and the run says so.
func TestLocalSessionsLateEvents(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.tsv")
	// The watermark of a's task is 200000 - 10000 after the second line.
	lines := `{"visitor":"a","ts":100000,"type":"move"}
{"visitor":"a","ts":200000,"type":"move"}
{"visitor":"a","ts":189999,"type":"move"}
{"visitor":"a","ts":190000,"type":"move"}
`
	os.WriteFile(in, []byte(lines), 0o644)
	_, stderr, code := gale(t, "local", "examples/sessions/topology.yaml", "--conf", "sessions.input="+in,
		"--conf", "sessions.gap_ms=1000", "--conf", "sessions.output="+out, "--conf", "sessions.out_of_orderness_ms=10000")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	if want := "a\t100000\t100000\t1\na\t190000\t190000\t1\na\t200000\t200000\t1\n"; string(got) != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	if !strings.Contains(stderr, "late events") || !strings.Contains(stderr, "late=1") {
		t.Fatalf("no warning about late events:\n%s", stderr)
	}
}

func TestLocalSessionsBadConfig(t *testing.T) {
	dir := t.TempDir()
	// The sessionize cases give a valid input, so that the spout does not
	// fail first (tasks start concurrently; the first error ends the run).
	good := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(good, []byte(`{"visitor":"v1","ts":1,"type":"move","page":"/","x":1,"y":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := "sessions.input=" + good
	for _, tc := range []struct {
		conf []string
		want string
	}{
		{nil, "sessions.input"},
		{[]string{"sessions.input=" + filepath.Join(dir, "absent.jsonl")}, "absent.jsonl"},
		{[]string{"sessions.input=" + dir}, "directory"},
		{[]string{in, "sessions.gap_ms=-5"}, "must be >= 0"},
		{[]string{in, "sessions.gap_ms=soon"}, "sessions.gap_ms"},
		{[]string{in, "sessions.timeout_check=maybe"}, "sessions.timeout_check"},
	} {
		args := []string{"local", "examples/sessions/topology.yaml"}
		for _, c := range tc.conf {
			args = append(args, "--conf", c)
		}
		_, stderr, code := gale(t, args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, want an error naming %q:\n%s", tc.conf, code, tc.want, stderr)
		}
	}
}

// The Python topology (examples/sessions/python on the Python SDK's
// session windows) gives exactly the Go topology's file.
func TestLocalSessionsInPython(t *testing.T) {
	requireDeps(t, []string{"sdk/python/.venv/bin/python3"}, "python3")
	sameSessionsAsGo(t, "topology-python.yaml", 11)
}

// The TypeScript topology (examples/sessions/typescript on the TypeScript
// SDK's SessionBolt, built by `make deps`) gives exactly the Go topology's
// file.
func TestLocalSessionsInTypeScript(t *testing.T) {
	requireDeps(t, []string{"examples/sessions/typescript/dist/sessionize.js"}, "node", "flock")
	sameSessionsAsGo(t, "topology-typescript.yaml", 12)
}

// sameSessionsAsGo runs examples/sessions/topology.yaml and topo on the
// same random input (out of order within bounds, with malformed lines) and
// fails unless both write the same file and leave nothing beside it.
func sameSessionsAsGo(t *testing.T, topo string, seed uint64) {
	t.Helper()
	text, _, _ := randomVisits(seed, 3000, 40, 30_000, 15_000)
	sameSessionsAsGoOn(t, topo, text)
	// Four visitors with one long session each: an external task holds
	// far more open events than the default in-flight window of 2048.
	var long strings.Builder
	for i := 0; i < 6000; i++ {
		fmt.Fprintf(&long, `{"visitor":"v%d","ts":%d,"type":"move","page":"/","x":1,"y":2}`+"\n", i%4, 1_700_000_000_000+int64(i)*10)
	}
	sameSessionsAsGoOn(t, topo, long.String())
}

func sameSessionsAsGoOn(t *testing.T, topo, text string) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var outs [2][]byte
	for i, topo := range []string{"topology.yaml", topo} {
		out := filepath.Join(dir, fmt.Sprintf("out%d.tsv", i))
		_, stderr, code := gale(t, "local", "examples/sessions/"+topo, "--conf", "sessions.input="+in,
			"--conf", "sessions.gap_ms=30000", "--conf", "sessions.output="+out)
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr:\n%s", topo, code, stderr)
		}
		var err error
		if outs[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if len(outs[0]) == 0 {
		t.Fatal("the Go topology wrote no sessions")
	}
	if string(outs[0]) != string(outs[1]) {
		t.Fatalf("%s: the output differs from the Go topology's:\n%s", topo, diffLines(string(outs[0]), string(outs[1])))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Fatalf("leftover files next to the outputs: %v", entries)
	}
}

// A bad config value in an external bolt stops the run with the bolt's
// own message (the node gives up on a process that keeps failing at
// start) instead of restarting it forever.
func TestLocalSessionsBadConfigInOtherLanguages(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(good, []byte(`{"visitor":"v1","ts":1,"type":"move","page":"/","x":1,"y":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topology string
		files    []string
		program  string
	}{
		{"topology-python.yaml", []string{"sdk/python/.venv/bin/python3"}, "python3"},
		{"topology-typescript.yaml", []string{"examples/sessions/typescript/dist/sessionize.js"}, "node"},
	} {
		t.Run(tc.topology, func(t *testing.T) {
			t.Parallel()
			requireDeps(t, tc.files, tc.program)
			_, stderr, code := gale(t, "local", "examples/sessions/"+tc.topology, "--conf", "sessions.input="+good, "--conf", "sessions.gap_ms=-5")
			if code == 0 || !strings.Contains(stderr, "sessions.gap_ms") || !strings.Contains(stderr, "in a row") {
				t.Fatalf("exit %d, want a failure naming sessions.gap_ms:\n%s", code, stderr)
			}
		})
	}
}
