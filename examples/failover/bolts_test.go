package failover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

func TestPassThroughReemitsAnchoredThenAcks(t *testing.T) {
	p := NewPassThrough()
	var d sdk.OutputDeclarer
	p.DeclareOutputFields(&d)
	if len(d.Streams) != 1 || d.Streams[0].ID != sdk.DefaultStream || !slices.Equal(d.Streams[0].Fields, []string{FieldID}) {
		t.Fatalf("declared %+v, want the default stream with field id", d.Streams)
	}
	fe := &fakeEmitter{}
	if err := p.Prepare(context.Background(), newTC("pass", 0, 1, nil), sdk.NewBoltCollector(fe)); err != nil {
		t.Fatal(err)
	}
	in := idTuple(seqSource, 42, 7)
	p.Execute(in)
	p.Execute(tickTuple())
	// The id is found by name, wherever the field sits.
	other := sdk.NewSource("seq", "other", []string{"x", FieldID})
	p.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String("x"), sdk.Int(9)}, Source: other})
	if !slices.Equal(fe.order, []string{"emit", "ack", "ack", "emit", "ack"}) {
		t.Fatalf("calls %v, want emit, ack (id), ack (tick), emit, ack", fe.order)
	}
	e := fe.bolt[0]
	if e.stream != "" || len(e.anchors) != 1 || e.anchors[0] != in || len(e.values) != 1 || e.values[0] != sdk.Int(42) {
		t.Errorf("emit %+v, want Int(42) on the default stream anchored to the input", e)
	}
	if fe.acks[0] != in || fe.bolt[1].values[0] != sdk.Int(9) {
		t.Errorf("acked %v, emitted %v", fe.acks[0], fe.bolt[1].values)
	}

	// No "id" field: reported and acked, nothing emitted.
	fe2 := &fakeEmitter{}
	p2 := NewPassThrough()
	p2.Prepare(context.Background(), newTC("pass", 0, 1, nil), sdk.NewBoltCollector(fe2))
	p2.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.Int(1)}, Source: sdk.NewSource("x", sdk.DefaultStream, []string{"n"})})
	if len(fe2.bolt) != 0 || len(fe2.acks) != 1 || len(fe2.errs) != 1 || !strings.Contains(fe2.errs[0].Error(), `"id"`) {
		t.Errorf("input without id: emits %d, acks %d, errors %v", len(fe2.bolt), len(fe2.acks), fe2.errs)
	}
	if err := p.Cleanup(); err != nil {
		t.Error(err)
	}
}

// openSink prepares a FileSink task of index 0 (global id 10) on dir.
func openSink(t *testing.T, conf map[string]any) (*FileSink, *fakeEmitter, error) {
	t.Helper()
	s := NewFileSink()
	fe := &fakeEmitter{}
	err := s.Prepare(context.Background(), newTC("sink", 0, 3, conf), sdk.NewBoltCollector(fe))
	if err == nil {
		t.Cleanup(func() { s.Cleanup() })
	}
	return s, fe, err
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every ack finds its id in the file already: the sink writes before it
// acks. Ticks are acked and not written.
func TestFileSinkWritesBeforeAck(t *testing.T) {
	for _, sync := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "new", "dir") // created by Prepare
		s, fe, err := openSink(t, map[string]any{KeySinkDir: dir, KeySinkSync: sync})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "10.txt") // the task's global id, not its index
		var atAck []string
		fe.onAck = func(*sdk.Tuple) { atAck = append(atAck, readFile(t, path)) }
		s.Execute(idTuple(passSource, 3, 1))
		s.Execute(tickTuple())
		s.Execute(idTuple(passSource, 0, 2))
		s.Execute(idTuple(passSource, 123456789, 3))
		want := []string{"3\n", "3\n", "3\n0\n", "3\n0\n123456789\n"}
		if !slices.Equal(atAck, want) {
			t.Errorf("sync=%v: file at each ack %q, want %q", sync, atAck, want)
		}
		if len(fe.fails) != 0 || len(fe.errs) != 0 || len(fe.bolt) != 0 {
			t.Errorf("sync=%v: fails %d, errors %v, emits %d; want none", sync, len(fe.fails), fe.errs, len(fe.bolt))
		}
		if err := s.Cleanup(); err != nil {
			t.Fatal(err)
		}
		if err := s.Cleanup(); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
		// A restarted task (same global id) appends to the same file.
		s2, _, err := openSink(t, map[string]any{KeySinkDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		s2.Execute(idTuple(passSource, 5, 4))
		s2.Cleanup()
		if got := readFile(t, path); got != "3\n0\n123456789\n5\n" {
			t.Errorf("after restart: file %q", got)
		}
	}
}

func TestFileSinkConfigErrors(t *testing.T) {
	for _, conf := range []map[string]any{nil, {KeySinkDir: ""}} {
		if _, _, err := openSink(t, conf); err == nil || !strings.Contains(err.Error(), KeySinkDir) || !strings.Contains(err.Error(), "required") {
			t.Errorf("Prepare with %v: error %v, want one saying %s is required", conf, err, KeySinkDir)
		}
	}
	if _, _, err := openSink(t, map[string]any{KeySinkDir: t.TempDir(), KeySinkSync: "maybe"}); err == nil || !strings.Contains(err.Error(), KeySinkSync) {
		t.Errorf("Prepare with %s=maybe: error %v, want one naming the key", KeySinkSync, err)
	}

	// filesink.dir names a file: the directory cannot be created.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		_, _, err := openSink(t, map[string]any{KeySinkDir: dir})
		if err == nil || !strings.Contains(err.Error(), KeySinkDir) || !strings.Contains(err.Error(), dir) || !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("Prepare with %s=%s (a file): error %v, want ENOTDIR naming the key and the path", KeySinkDir, dir, err)
		}
	}

	// The task's file is a directory: it cannot be opened.
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "10.txt"), 0o755)
	if _, _, err := openSink(t, map[string]any{KeySinkDir: dir}); err == nil || !strings.Contains(err.Error(), "10.txt") {
		t.Errorf("Prepare with a directory for a sink file: error %v", err)
	}
}

// A write that fails fails the tuple (so its id replays) and reports the
// error; the sink goes on with the next tuple.
func TestFileSinkWriteErrorFailsAndReports(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	dir := t.TempDir()
	// Writes to /dev/full fail with ENOSPC: a full disk.
	if err := os.Symlink("/dev/full", filepath.Join(dir, "10.txt")); err != nil {
		t.Fatal(err)
	}
	s, fe, err := openSink(t, map[string]any{KeySinkDir: dir})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	in := idTuple(passSource, 8, 1)
	s.Execute(in)
	if len(fe.acks) != 0 || len(fe.fails) != 1 || fe.fails[0] != in || len(fe.errs) != 1 {
		t.Fatalf("acks %d, fails %d, errors %v; want the tuple failed and one error", len(fe.acks), len(fe.fails), fe.errs)
	}
	if err := fe.errs[0]; !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "10.txt") {
		t.Errorf("reported %v, want ENOSPC naming the file", err)
	}
	if !slices.Equal(fe.order, []string{"fail", "error"}) {
		t.Errorf("calls %v, want fail then error", fe.order)
	}
	s.Execute(tickTuple())
	if len(fe.acks) != 1 {
		t.Errorf("tick not acked after a write error")
	}
}

// Writes after Cleanup (the file closed) fail the tuple too.
func TestFileSinkWriteAfterCloseFails(t *testing.T) {
	s, fe, err := openSink(t, map[string]any{KeySinkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.f.Close() // the file goes away under the sink
	s.Execute(idTuple(passSource, 1, 1))
	s.f = nil
	s.Execute(idTuple(passSource, 2, 2))
	if len(fe.acks) != 0 || len(fe.fails) != 2 || len(fe.errs) != 2 {
		t.Errorf("acks %d, fails %d, errors %v; want 0, 2, 2", len(fe.acks), len(fe.fails), fe.errs)
	}
}

// Inputs whose id is not an integer are reported and acked, not written.
func TestFileSinkBadInputs(t *testing.T) {
	dir := t.TempDir()
	s, fe, err := openSink(t, map[string]any{KeySinkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String("7")}, Source: passSource})
	s.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.Int(7)}, Source: sdk.NewSource("x", sdk.DefaultStream, []string{"n"})})
	if len(fe.acks) != 2 || len(fe.fails) != 0 || len(fe.errs) != 2 {
		t.Errorf("acks %d, fails %d, errors %v; want 2, 0, 2", len(fe.acks), len(fe.fails), fe.errs)
	}
	if got := readFile(t, filepath.Join(dir, "10.txt")); got != "" {
		t.Errorf("file %q, want empty", got)
	}
}

// filesink.field names another integer field to write.
func TestFileSinkOtherField(t *testing.T) {
	dir := t.TempDir()
	s, fe, err := openSink(t, map[string]any{KeySinkDir: dir, KeySinkField: "ts"})
	if err != nil {
		t.Fatal(err)
	}
	events := sdk.NewSource("ingest", sdk.DefaultStream, []string{"visitor", "ts"})
	s.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String("v"), sdk.Int(42)}, Source: events})
	s.Execute(idTuple(passSource, 7, 1)) // no "ts": reported and dropped
	if got := readFile(t, filepath.Join(dir, "10.txt")); got != "42\n" {
		t.Errorf("file %q, want the ts 42", got)
	}
	if len(fe.acks) != 2 || len(fe.errs) != 1 || !strings.Contains(fe.errs[0].Error(), `has no "ts" field`) {
		t.Errorf("acks %d, errors %v; want 2 acks and one error naming the field", len(fe.acks), fe.errs)
	}
	if _, _, err := openSink(t, map[string]any{KeySinkDir: dir, KeySinkField: " "}); err == nil || !strings.Contains(err.Error(), KeySinkField) {
		t.Errorf("an empty %s: error %v, want one naming the key", KeySinkField, err)
	}
}

// A file left with a partial last line (a crash mid-write) is cut back to
// its last whole line when a task opens it, so no fragment glues onto the
// next id.
func TestFileSinkRepairsPartialLastLine(t *testing.T) {
	long := strings.Repeat("9", 10000)
	for _, c := range []struct{ before, after string }{
		{"", ""},
		{"1\n2\n", "1\n2\n"},
		{"1\n2\n12", "1\n2\n"},
		{"12", ""},
		{"1\n" + long, "1\n"},
		{long, ""},
		{"3\n" + long + "\n" + long, "3\n" + long + "\n"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "10.txt")
		os.WriteFile(path, []byte(c.before), 0o644)
		s, fe, err := openSink(t, map[string]any{KeySinkDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		s.Execute(idTuple(passSource, 5, 1))
		if got := readFile(t, path); got != c.after+"5\n" || len(fe.acks) != 1 {
			t.Errorf("file %.20q... then id 5: got %.20q..., want %.20q...", c.before, got, c.after+"5\n")
		}
		s.Cleanup()
	}
}
