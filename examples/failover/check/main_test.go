package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "10.txt"), []byte("0\n2\n2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "11.txt"), []byte("1\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{[]string{"--dir", dir, "--count", "3"}, 0, "3 present, 0 missing, 1 duplicate lines\nOK\n", ""},
		{[]string{"--dir", dir, "--count", "5"}, 1, "missing ids (first 2): 3, 4\nFAIL\n", ""},
		{[]string{"--dir", filepath.Join(dir, "nope"), "--count", "3"}, 2, "", "no such file"},
		{[]string{"--count", "x"}, 2, "", "invalid value"},
		{[]string{"--count", "-1"}, 2, "", "at least 0"},
		{[]string{"--dir", dir, "extra"}, 2, "", "unexpected argument"},
		{[]string{"-h"}, 0, "", "usage: check"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String(), c.out) || !strings.Contains(stderr.String(), c.err) {
			t.Errorf("check %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				c.args, code, stdout.String(), stderr.String(), c.code, c.out, c.err)
		}
	}
}
