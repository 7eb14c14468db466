package sessions

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/window"
)

type emit struct {
	stream string
	id     uint64
	values []sdk.Value
}

// recorder is the runtime in these tests.
type recorder struct {
	mu    sync.Mutex
	spout []emit
	bolt  []emit
	acks  int
	errs  []error
	ends  int
}

func (r *recorder) EmitBolt(stream string, _ []*sdk.Tuple, v []sdk.Value, _ int32) {
	r.bolt = append(r.bolt, emit{stream, 0, slices.Clone(v)})
}
func (r *recorder) EmitSpout(stream string, id uint64, _ bool, v []sdk.Value, _ int32) {
	r.spout = append(r.spout, emit{stream, id, slices.Clone(v)})
}
func (r *recorder) Ack(*sdk.Tuple)        { r.acks++ }
func (r *recorder) Fail(*sdk.Tuple)       {}
func (r *recorder) ReportError(err error) { r.errs = append(r.errs, err) }
func (r *recorder) EndOfInput()           { r.ends++ }
func (r *recorder) take() []emit          { e := r.spout; r.spout = nil; return e }
func (r *recorder) errText() (s string) {
	for _, e := range r.errs {
		s += e.Error() + "\n"
	}
	return s
}

func taskContext(component string, index, tasks int, conf map[string]string) *sdk.TaskContext {
	c := sdk.Config{}
	for k, v := range conf {
		c[k] = sdk.String(v)
	}
	ids := make([]int32, tasks)
	for i := range ids {
		ids[i] = int32(20 + i)
	}
	return &sdk.TaskContext{Topology: "sessions", TopologyID: "sessions-test-1", Component: component,
		TaskID: int32(20 + index), TaskIndex: int32(index), Config: c,
		ComponentTasks: map[string][]int32{component: ids},
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestParseEvent(t *testing.T) {
	vals, err := ParseEvent([]byte(`{"visitor":"v1","ts":1700000000000,"type":"move","page":"/","x":10,"y":20.5,"extra":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.Value{sdk.String("v1"), sdk.Int(1700000000000), sdk.String("move"), sdk.String("/"), sdk.Double(10), sdk.Double(20.5)}
	if !slices.EqualFunc(vals, want, sdk.Value.Equal) {
		t.Fatalf("values %v, want %v", vals, want)
	}
	vals, err = ParseEvent([]byte(`{"visitor":"v1","ts":-5,"type":"click"}`))
	if err != nil || !vals[3].IsNull() || !vals[4].IsNull() || vals[1].Int() != -5 {
		t.Fatalf("optional fields: %v %v", vals, err)
	}
	for _, tc := range []struct {
		line string
		err  error
		want string
	}{
		{`not json`, ErrNotJSON, "not a JSON object"},
		{`[1]`, ErrNotJSON, ""},
		{`null`, ErrNotJSON, ""},
		{`{"visitor":"v1","type":"move"}`, ErrMissingField, `"ts"`},
		{`{"ts":1,"type":"move"}`, ErrMissingField, `"visitor"`},
		{`{"visitor":"v1","ts":1}`, ErrMissingField, `"type"`},
		{`{"visitor":"v1","ts":1.5,"type":"move"}`, ErrBadField, "integer"},
		{`{"visitor":"v1","ts":"1","type":"move"}`, ErrBadField, "integer"},
		{`{"visitor":7,"ts":1,"type":"move"}`, ErrBadField, "string"},
		{`{"visitor":"","ts":1,"type":"move"}`, ErrBadField, "non-empty"},
		{`{"visitor":"a\tb","ts":1,"type":"move"}`, ErrBadField, "tab"},
		{`{"visitor":"v","ts":1,"type":"move","x":"10"}`, ErrBadField, `"x"`},
		{`{"visitor":"v","ts":1,"type":"move","page":3}`, ErrBadField, `"page"`},
	} {
		_, err := ParseEvent([]byte(tc.line))
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %v containing %q", tc.line, err, tc.err, tc.want)
		}
	}
}

// The spout skips bad lines with PATH:LINE errors, emits each good line
// with its line number, then the end of event time, and ends only once
// that punctuation completed; failed lines and a failed punctuation are
// emitted again.
func TestSpout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(path, []byte(`{"visitor":"a","ts":1,"type":"move"}
oops

{"visitor":"b","ts":2,"type":"move"}
{"visitor":"c","type":"move"}
{"visitor":"d","ts":4,"type":"move"}`), 0o644)
	s := NewJSONLinesSpout()
	r := &recorder{}
	if err := s.Open(t.Context(), taskContext("events", 0, 1, map[string]string{KeyInput: path, KeyBatch: "2"}), sdk.NewSpoutCollector(r)); err != nil {
		t.Fatal(err)
	}
	var got []emit
	for range 5 {
		s.NextTuple()
		got = append(got, r.take()...)
	}
	var ids []uint64
	for _, e := range got {
		ids = append(ids, e.id)
	}
	if !slices.Equal(ids, []uint64{1, 4, 6, punctMsgID}) || got[3].stream != window.DefaultPunctuationStream || got[3].values[0].Int() != window.EndOfEventTime {
		t.Fatalf("emitted %+v, want lines 1, 4, 6 then the punctuation", got)
	}
	errs := r.errText()
	if !strings.Contains(errs, path+":2: not a JSON object") || !strings.Contains(errs, path+`:5: missing field "ts"`) || len(r.errs) != 2 {
		t.Fatalf("errors:\n%s", errs)
	}
	s.Fail(4)
	s.Fail(punctMsgID)
	s.Ack(1)
	s.Ack(6)
	s.NextTuple()
	if e := r.take(); len(e) != 2 || e[0].id != 4 || e[1].id != punctMsgID || r.ends != 0 {
		t.Fatalf("replays %+v ends %d, want line 4 and the punctuation again, no end yet", e, r.ends)
	}
	s.Ack(4)
	s.Ack(punctMsgID)
	s.NextTuple()
	s.NextTuple()
	if r.ends != 1 || len(r.take()) != 0 {
		t.Fatalf("ends %d, want exactly one end of input after the punctuation completed", r.ends)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSpoutManyBadLinesAreCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(path, []byte(strings.Repeat("{}\n", maxReported+50)), 0o644)
	s := NewJSONLinesSpout()
	r := &recorder{}
	if err := s.Open(t.Context(), taskContext("events", 0, 1, map[string]string{KeyInput: path}), sdk.NewSpoutCollector(r)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		s.NextTuple()
	}
	if len(r.errs) != maxReported+1 || !strings.Contains(r.errs[maxReported].Error(), fmt.Sprintf("%d malformed lines", maxReported+50)) {
		t.Fatalf("%d errors, last %v", len(r.errs), r.errs[len(r.errs)-1])
	}
}

// Two Sessionize tasks each fed their visitors merge one sorted file.
func TestSessionizeMergesTasks(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.tsv")
	src := sdk.NewSource("events", sdk.DefaultStream, EventFields)
	feed := map[int][]struct {
		v  string
		ts int64
	}{
		0: {{"b", 0}, {"b", 500}, {"b", 5000}, {"é", 1}},
		1: {{"a", 10}, {"c", 7}, {"a", 2000}},
	}
	for _, idx := range []int{1, 0} {
		b := NewSessionize()
		r := &recorder{}
		tc := taskContext("sessionize", idx, 2, map[string]string{KeyOutput: out, KeyGapMS: "1000"})
		if err := b.Prepare(t.Context(), tc, sdk.NewBoltCollector(r)); err != nil {
			t.Fatal(err)
		}
		for _, e := range feed[idx] {
			b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String(e.v), sdk.Int(e.ts), sdk.String("move"), sdk.Null(), sdk.Null(), sdk.Null()}, Source: src})
		}
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(out)
	want := "a\t10\t10\t1\na\t2000\t2000\t1\nb\t0\t500\t2\nb\t5000\t5000\t1\nc\t7\t7\t1\né\t1\t1\t1\n"
	if string(got) != want {
		t.Fatalf("output\n%s\nwant\n%s", got, want)
	}
}

func TestMergeSessionsRejectsCorruptOutput(t *testing.T) {
	for _, prev := range []string{"a\t1\t2\n", "b\t1\t1\t1\na\t1\t1\t1\n", "a\tx\t1\t1\n"} {
		var sb strings.Builder
		w := bufioWriter(&sb)
		err := mergeSessions("out.tsv", strings.NewReader(prev), []Session{{"z", 1, 1, 1}}, w)
		if !errors.Is(err, ErrCorruptOutput) || !strings.Contains(err.Error(), "out.tsv line") {
			t.Errorf("prev %q: error %v, want ErrCorruptOutput with the line", prev, err)
		}
	}
}

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }
