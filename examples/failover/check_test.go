package failover

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func files(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

func TestCheckFS(t *testing.T) {
	long := strings.Repeat("1", 70000)
	for _, c := range []struct {
		name       string
		fs         fstest.MapFS
		count      int64
		ok         bool
		lines      int64
		dups       int64
		missing    int64
		first      []int64
		errs       []string // substrings of Errors, in order
		incomplete []string
	}{
		{name: "all present", fs: files("10.txt", "0\n2\n4\n", "11.txt", "1\n3\n"), count: 5, ok: true, lines: 5},
		{name: "duplicates", fs: files("10.txt", "0\n1\n1\n2\n", "11.txt", "2\n1\n"), count: 3, ok: true, lines: 6, dups: 3},
		{name: "missing", fs: files("10.txt", "0\n5\n", "11.txt", "9\n"), count: 10, lines: 3, missing: 7, first: []int64{1, 2, 3, 4, 6, 7, 8}},
		{name: "missing across words", fs: files("a.txt", lines(0, 130, 64, 129)), count: 130, lines: 128, missing: 2, first: []int64{64, 129}},
		{name: "no files", fs: fstest.MapFS{}, count: 1000, missing: 1000, first: seq(0, MaxListed)},
		{name: "nothing expected", fs: fstest.MapFS{}, count: 0, ok: true},
		{name: "non-numeric", fs: files("10.txt", "0\nabc\n1\n", "11.txt", "2\n\n"), count: 3, lines: 3,
			errs: []string{`10.txt:2: not an id`, `"abc"`, `11.txt:2: not an id`}},
		{name: "not canonical", fs: files("a.txt", "+1\n-1\n01\n 1\n1 \n1\r\n0x1\n1.0\n0\n"), count: 2, lines: 1, missing: 1, first: []int64{1},
			errs: []string{"a.txt:1:", "a.txt:2:", "a.txt:3:", "a.txt:4:", "a.txt:5:", "a.txt:6:", "a.txt:7:", "a.txt:8:"}},
		{name: "out of range", fs: files("a.txt", "0\n1\n2\n99999999999999999999\n"), count: 2, lines: 2,
			errs: []string{"a.txt:3: id 2 out of range 0..1", "a.txt:4: not an id"}},
		{name: "incomplete last line", fs: files("a.txt", "0\n1"), count: 2, lines: 1, missing: 1, first: []int64{1},
			incomplete: []string{`a.txt:2: last line "1" has no newline`}},
		{name: "long line", fs: files("a.txt", "0\n"+long+"\n1\n"), count: 2, ok: false, lines: 2,
			errs: []string{"a.txt:2: line longer than"}},
		{name: "other files ignored", fs: fstest.MapFS{
			"a.txt":     {Data: []byte("0\n")},
			"notes.md":  {Data: []byte("garbage\n")},
			"a.txt.bak": {Data: []byte("x\n")},
			"d.txt/1":   {Data: []byte("x\n")}, // a directory named *.txt
		}, count: 1, ok: true, lines: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := CheckFS(c.fs, c.count)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != c.ok || r.Lines != c.lines || r.Duplicates != c.dups || r.Missing != c.missing || r.Distinct != c.count-c.missing {
				t.Errorf("ok %v, lines %d, duplicates %d, missing %d, distinct %d; want %v, %d, %d, %d, %d",
					r.OK(), r.Lines, r.Duplicates, r.Missing, r.Distinct, c.ok, c.lines, c.dups, c.missing, c.count-c.missing)
			}
			if !slices.Equal(r.FirstMissing, c.first) {
				t.Errorf("first missing %v, want %v", r.FirstMissing, c.first)
			}
			if int(r.BadLines) != len(r.Errors) {
				t.Errorf("%d bad lines but %d errors listed", r.BadLines, len(r.Errors))
			}
			if !containsInOrder(r.Errors, c.errs) {
				t.Errorf("errors %q, want %q in order", r.Errors, c.errs)
			}
			if !containsInOrder(r.Incomplete, c.incomplete) || len(r.Incomplete) != len(c.incomplete) {
				t.Errorf("incomplete %q, want %q", r.Incomplete, c.incomplete)
			}
			var buf bytes.Buffer
			r.Report(&buf)
			last := "FAIL\n"
			if c.ok {
				last = "OK\n"
			}
			if !strings.HasSuffix(buf.String(), last) {
				t.Errorf("report does not end in %q:\n%s", last, buf.String())
			}
		})
	}
}

// lines returns "i\n" for i in [from, to) except the skipped ids.
func lines(from, to int, skip ...int) string {
	var sb strings.Builder
	for i := from; i < to; i++ {
		if !slices.Contains(skip, i) {
			sb.WriteString(strconv.Itoa(i) + "\n")
		}
	}
	return sb.String()
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// containsInOrder reports whether each of want is a substring of got's
// elements, matched in order (several may match one element).
func containsInOrder(got, want []string) bool {
	i := 0
	for _, w := range want {
		for i < len(got) && !strings.Contains(got[i], w) {
			i++
		}
		if i == len(got) {
			return false
		}
	}
	return true
}

// The lists are bounded; the counts are not.
func TestCheckFSBoundsLists(t *testing.T) {
	var sb strings.Builder
	for range 100 {
		sb.WriteString("x\n")
	}
	r, err := CheckFS(files("a.txt", sb.String()), 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.BadLines != 100 || len(r.Errors) != MaxListed || r.Missing != 100 || len(r.FirstMissing) != MaxListed {
		t.Errorf("bad lines %d (%d listed), missing %d (%d listed)", r.BadLines, len(r.Errors), r.Missing, len(r.FirstMissing))
	}
	var buf bytes.Buffer
	r.Report(&buf)
	for _, want := range []string{"missing ids (first 20): 0, 1, 2", ", ...\n", "100 bad lines (the first 20):", "a.txt:1: not an id"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "10.txt"), []byte("0\n1\nbad\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "11.txt"), []byte("2\n1\n"), 0o644)
	r, err := CheckDir(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := filepath.Join(dir, "10.txt") + ":3: not an id"
	if r.Missing != 0 || r.Duplicates != 1 || len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0], wantErr) || len(r.Files) != 2 {
		t.Errorf("result %+v, want no missing id, 1 duplicate, error %q", r, wantErr)
	}
	if _, err := CheckDir(filepath.Join(dir, "nope"), 3); err == nil {
		t.Errorf("CheckDir of a missing directory succeeded")
	}
	if _, err := CheckDir(filepath.Join(dir, "10.txt"), 3); err == nil {
		t.Errorf("CheckDir of a file succeeded")
	}
	if _, err := CheckFS(fstest.MapFS{}, -1); err == nil {
		t.Errorf("CheckFS with count -1 succeeded")
	}
}
