package node

import (
	"context"
	"strings"
	"sync"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

// splitterBolt sends even ids to stream "even", odd ids to stream "odd",
// and every id to the direct stream "direct", addressed to task
// (first task of "dsink") + id % len(dsink).
type splitterBolt struct {
	out   *sdk.BoltCollector
	dsink []int32
}

func (b *splitterBolt) DeclareOutputFields(d *sdk.OutputDeclarer) {
	d.DeclareStream("even", "id")
	d.DeclareStream("odd", "id")
	d.DeclareDirectStream("direct", "id")
}
func (b *splitterBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out, b.dsink = out, tc.ComponentTasks["dsink"]
	return nil
}
func (b *splitterBolt) Execute(t *sdk.Tuple) {
	id := t.Int(0)
	if id%2 == 0 {
		b.out.EmitTo("even", t, t.Value(0))
	} else {
		b.out.EmitTo("odd", t, t.Value(0))
	}
	target := int32(9999) // no such task: the runtime must report it
	if len(b.dsink) > 0 {
		target = b.dsink[id%int64(len(b.dsink))]
	}
	b.out.EmitDirect(target, "direct", t, t.Value(0))
	b.out.Ack(t)
}
func (b *splitterBolt) Cleanup() error { return nil }

// recorder records, per component and task, the ids it received.
var recorder = struct {
	sync.Mutex
	seen map[string]map[int32][]int64 // test.id -> "component/task" ...
}{seen: map[string]map[int32][]int64{}}

type recordBolt struct {
	key  string
	task int32
	out  *sdk.BoltCollector
}

func (b *recordBolt) DeclareOutputFields(*sdk.OutputDeclarer) {}
func (b *recordBolt) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.key, b.task, b.out = tc.Config.String("test.id", "")+"/"+tc.Component, tc.TaskID, out
	return nil
}
func (b *recordBolt) Execute(t *sdk.Tuple) {
	recorder.Lock()
	m := recorder.seen[b.key]
	if m == nil {
		m = map[int32][]int64{}
		recorder.seen[b.key] = m
	}
	m[b.task] = append(m[b.task], t.Int(0))
	recorder.Unlock()
	b.out.Ack(t)
}
func (b *recordBolt) Cleanup() error { return nil }

func init() {
	sdk.MustRegisterBolt("test.Splitter", func() sdk.Bolt { return &splitterBolt{} })
	sdk.MustRegisterBolt("test.Record", func() sdk.Bolt { return &recordBolt{} })
}

func seenBy(t *testing.T, component string) map[int32][]int64 {
	recorder.Lock()
	defer recorder.Unlock()
	return recorder.seen[t.Name()+"/"+component]
}

func TestNamedAndDirectStreams(t *testing.T) {
	const n = 3000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		bolt("split", "test.Splitter", 2, nil, "seq:shuffle")
	tp.s.Components[1].Outputs = []*galev1.StreamSpec{
		{Id: "even", Fields: []string{"id"}}, {Id: "odd", Fields: []string{"id"}}, {Id: "direct", Fields: []string{"id"}, Direct: true},
	}
	add := func(id, stream string, n int32, g galev1.GroupingType) {
		tp.s.Components = append(tp.s.Components, &galev1.ComponentSpec{
			Id: id, Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: n,
			Implementation: &galev1.ComponentSpec_Class{Class: "test.Record"},
			Inputs:         []*galev1.InputSpec{{Component: "split", Stream: stream, Grouping: &galev1.Grouping{Type: g}}},
		})
	}
	add("evens", "even", 2, galev1.GroupingType_GROUPING_TYPE_SHUFFLE)
	add("odds", "odd", 1, galev1.GroupingType_GROUPING_TYPE_GLOBAL)
	add("dsink", "direct", 3, galev1.GroupingType_GROUPING_TYPE_DIRECT)
	_, st := tp.run(t)
	checkAllAcked(t, st, n)

	count := func(m map[int32][]int64, check func(task int32, id int64)) int {
		total := 0
		for task, ids := range m {
			for _, id := range ids {
				check(task, id)
				total++
			}
		}
		return total
	}
	if c := count(seenBy(t, "evens"), func(_ int32, id int64) {
		if id%2 != 0 {
			t.Fatalf("odd id %d on stream even", id)
		}
	}); c != n/2 {
		t.Fatalf("evens saw %d ids, want %d", c, n/2)
	}
	if c := count(seenBy(t, "odds"), func(_ int32, id int64) {
		if id%2 != 1 {
			t.Fatalf("even id %d on stream odd", id)
		}
	}); c != n/2 {
		t.Fatalf("odds saw %d ids, want %d", c, n/2)
	}
	dsink := seenBy(t, "dsink")
	first := int32(1 << 30)
	for task := range dsink {
		first = min(first, task)
	}
	if c := count(dsink, func(task int32, id int64) {
		if want := first + int32(id%3); task != want {
			t.Fatalf("direct id %d reached task %d, addressed to %d", id, task, want)
		}
	}); c != n {
		t.Fatalf("direct sinks saw %d ids, want %d", c, n)
	}
}

func TestGroupingsThroughTheRuntime(t *testing.T) {
	const n = 4000
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 2, "id").
		bolt("fields", "test.Record", 3, nil, "seq:fields:id").
		bolt("all", "test.Record", 3, nil, "seq:all").
		bolt("global", "test.Record", 3, nil, "seq:global")
	_, st := tp.run(t)
	checkAllAcked(t, st, n)

	owner := map[int64]int32{}
	for task, ids := range seenBy(t, "fields") {
		for _, id := range ids {
			if o, ok := owner[id]; ok && o != task {
				t.Fatalf("fields grouping sent id %d to tasks %d and %d", id, o, task)
			}
			owner[id] = task
		}
	}
	if len(owner) != n {
		t.Fatalf("fields tasks saw %d distinct ids, want %d", len(owner), n)
	}
	all := seenBy(t, "all")
	if len(all) != 3 {
		t.Fatalf("all grouping reached %d tasks, want 3", len(all))
	}
	for task, ids := range all {
		if len(ids) != n {
			t.Fatalf("all grouping: task %d saw %d ids, want %d", task, len(ids), n)
		}
	}
	global := seenBy(t, "global")
	if len(global) != 1 {
		t.Fatalf("global grouping reached %d tasks, want 1", len(global))
	}
	for task, ids := range global {
		if len(ids) != n {
			t.Fatalf("global task %d saw %d ids", task, len(ids))
		}
	}
}

func TestEmitErrorsAreReportedNotFatal(t *testing.T) {
	// Here the splitter's "odd" stream is declared direct (so its plain
	// emits are wrong) and "direct" has two fields (so its one-value emits
	// are wrong): every bad emit is reported, the rest flows.
	const n = 40
	tp := newTopo(t, map[string]any{"test.count": n}).
		spout("seq", "test.Seq", 1, "id").
		bolt("split", "test.Splitter", 1, nil, "seq:shuffle")
	tp.s.Components[1].Outputs = []*galev1.StreamSpec{
		{Id: "even", Fields: []string{"id"}}, {Id: "odd", Fields: []string{"id"}, Direct: true}, {Id: "direct", Fields: []string{"id", "extra"}, Direct: true},
	}
	tp.s.Components = append(tp.s.Components, &galev1.ComponentSpec{
		Id: "evens", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Parallelism: 1,
		Implementation: &galev1.ComponentSpec_Class{Class: "test.Record"},
		Inputs:         []*galev1.InputSpec{{Component: "split", Stream: "even", Grouping: &galev1.Grouping{Type: galev1.GroupingType_GROUPING_TYPE_SHUFFLE}}},
	})
	rt, st := tp.run(t)
	checkAllAcked(t, st, n)
	var wrongCount, notDirect int
	for _, e := range rt.Errors() {
		msg := e.Err.Error()
		switch {
		case strings.Contains(msg, "1 values for fields [id extra]"):
			wrongCount++
		case strings.Contains(msg, "must name a task"):
			notDirect++
		}
	}
	// Every bad emit is counted; the task keeps its last errors, of both
	// kinds.
	if got := rt.ErrorsReported(); got != n+n/2 {
		t.Fatalf("%d errors reported, want %d field-count and %d direct-stream errors", got, n, n/2)
	}
	if wrongCount == 0 || notDirect == 0 || wrongCount+notDirect != len(rt.Errors()) {
		t.Fatalf("kept %d field-count and %d direct-stream errors of %d", wrongCount, notDirect, len(rt.Errors()))
	}
}
