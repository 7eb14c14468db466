package spec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// slowParse is how long Parse may take on one fuzz input: topology files
// are small, and a slow input is a denial of service on the coordinator.
const slowParse = 2 * time.Second

// FuzzParse checks that Parse never panics and always fails with located,
// non-empty errors, or returns a spec that validates. Run it with
//
//	go test ./sdk/spec -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	for _, tc := range badCases() {
		f.Add(tc.data)
	}
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recoverPanics = false // let a panic fail the fuzz run
		defer func() { recoverPanics = true }()
		start := time.Now()
		s, err := Parse("fuzz.yaml", data, newFakeResolver(), nil)
		if d := time.Since(start); d > slowParse {
			t.Fatalf("Parse took %v on %d bytes", d, len(data))
		}
		if err == nil {
			if s == nil {
				t.Fatal("nil spec and nil error")
			}
			if errs := Validate(s); len(errs) > 0 {
				t.Fatalf("Parse accepted a spec that Validate rejects: %v", errs)
			}
			return
		}
		if s != nil {
			t.Fatal("spec returned with an error")
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
		}
		// The yaml library counts lines as YAML does: CR, LF, CRLF and the
		// Unicode breaks NEL, LS and PS all end one.
		nlines := 1 + bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) +
			bytes.Count(data, []byte("\u0085")) + bytes.Count(data, []byte("\u2028")) + bytes.Count(data, []byte("\u2029"))
		for _, e := range list {
			if e.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
			if e.Line < 0 || e.Line > nlines || e.Column < 0 {
				t.Fatalf("error position out of the file (%d lines): %+v", nlines, e)
			}
		}
	})
}
