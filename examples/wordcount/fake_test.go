package wordcount

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"unsafe"

	"github.com/gale-stream/gale/sdk"
)

// spoutEmit is one recorded EmitSpout call.
type spoutEmit struct {
	stream   string
	msgID    uint64
	reliable bool
	values   []sdk.Value
	direct   int32
}

// boltEmit is one recorded EmitBolt call.
type boltEmit struct {
	stream  string
	anchors []*sdk.Tuple
	values  []sdk.Value
	direct  int32
}

// fakeEmitter is the runtime in these tests: it records everything a
// component does. The collectors reuse the slices they pass, so it copies.
type fakeEmitter struct {
	spout []spoutEmit
	bolt  []boltEmit
	acks  []*sdk.Tuple
	fails []*sdk.Tuple
	errs  []error
	ends  int
	// order logs "emit"/"ack"/"fail" to check that acks follow emits.
	order []string
}

var _ sdk.Emitter = (*fakeEmitter)(nil)

func (f *fakeEmitter) EmitBolt(stream string, anchors []*sdk.Tuple, values []sdk.Value, direct int32) {
	f.bolt = append(f.bolt, boltEmit{stream, slices.Clone(anchors), slices.Clone(values), direct})
	f.order = append(f.order, "emit")
}

func (f *fakeEmitter) EmitSpout(stream string, msgID uint64, reliable bool, values []sdk.Value, direct int32) {
	f.spout = append(f.spout, spoutEmit{stream, msgID, reliable, slices.Clone(values), direct})
}

func (f *fakeEmitter) Ack(t *sdk.Tuple) {
	f.acks = append(f.acks, t)
	f.order = append(f.order, "ack")
}

func (f *fakeEmitter) Fail(t *sdk.Tuple) {
	f.fails = append(f.fails, t)
	f.order = append(f.order, "fail")
}

func (f *fakeEmitter) ReportError(err error) { f.errs = append(f.errs, err) }
func (f *fakeEmitter) EndOfInput()           { f.ends++ }

// takeSpout returns and forgets the spout emits recorded so far.
func (f *fakeEmitter) takeSpout() []spoutEmit {
	e := f.spout
	f.spout = nil
	return e
}

// words returns the first field of the bolt emits, as strings.
func (f *fakeEmitter) words() []string {
	var w []string
	for _, e := range f.bolt {
		w = append(w, e.values[0].Str())
	}
	return w
}

// countingEmitter counts calls and keeps nothing, so that it allocates
// nothing: the allocation tests and benchmarks measure the bolt alone.
type countingEmitter struct{ emits, acks int }

func (c *countingEmitter) EmitBolt(string, []*sdk.Tuple, []sdk.Value, int32)  { c.emits++ }
func (c *countingEmitter) EmitSpout(string, uint64, bool, []sdk.Value, int32) { c.emits++ }
func (c *countingEmitter) Ack(*sdk.Tuple)                                     { c.acks++ }
func (c *countingEmitter) Fail(*sdk.Tuple)                                    {}
func (c *countingEmitter) ReportError(error)                                  {}
func (c *countingEmitter) EndOfInput()                                        {}

// logBuffer collects a task's log lines; safe for concurrent tasks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testTopologyID is the TopologyID of test runs unless a test sets one.
const testTopologyID = "wordcount-test-run-1"

// newTC returns the context of task index of tasks tasks of component, with
// conf as its config and a logger writing to log (discarded when nil).
func newTC(component string, index, tasks int, conf map[string]any, log *logBuffer) *sdk.TaskContext {
	c := sdk.Config{}
	for k, v := range conf {
		val, ok := sdk.Of(v)
		if !ok {
			panic(fmt.Sprintf("config %s: unsupported %T", k, v))
		}
		c[k] = val
	}
	ids := make([]int32, tasks)
	for i := range ids {
		ids[i] = int32(10 + i) // global ids differ from indexes on purpose
	}
	var w io.Writer = io.Discard
	if log != nil {
		w = log
	}
	return &sdk.TaskContext{
		Topology:       "wordcount",
		TopologyID:     testTopologyID,
		Component:      component,
		TaskID:         int32(10 + index),
		TaskIndex:      int32(index),
		Config:         c,
		ComponentTasks: map[string][]int32{component: ids},
		Log:            slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// Sources of the tuples the tests feed to bolts.
var (
	sentenceSource = sdk.NewSource("sentences", sdk.DefaultStream, []string{"sentence"})
	wordSource     = sdk.NewSource("split", sdk.DefaultStream, []string{"word"})
)

func sentenceTuple(s string) *sdk.Tuple {
	return &sdk.Tuple{Values: []sdk.Value{sdk.String(s)}, Source: sentenceSource, SourceTask: 10}
}

func wordTuple(w string) *sdk.Tuple {
	return &sdk.Tuple{Values: []sdk.Value{sdk.String(w)}, Source: wordSource, SourceTask: 11}
}

// sameMemory reports whether sub lies inside s's bytes (is a substring of
// s, not a copy).
func sameMemory(s, sub string) bool {
	if len(sub) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(s))
}
