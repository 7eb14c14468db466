package failover_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gale-stream/gale/examples/failover"
	"github.com/gale-stream/gale/node"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"
)

// classFlaky is a test-only bolt that fails the first sighting of every
// fifth id in each task: the real acker and the spout must replay them.
const classFlaky = "failover_test.Flaky"

func init() {
	sdk.MustRegisterBolt(classFlaky, func() sdk.Bolt { return &flaky{seen: map[int64]bool{}} })
}

type flaky struct {
	out  *sdk.BoltCollector
	seen map[int64]bool
}

func (f *flaky) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare(failover.FieldID) }
func (f *flaky) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	f.out = out
	return nil
}
func (f *flaky) Cleanup() error { return nil }
func (f *flaky) Execute(t *sdk.Tuple) {
	id := t.Int(0)
	if id%5 == 0 && !f.seen[id] {
		f.seen[id] = true
		f.out.Fail(t)
		return
	}
	f.out.Emit(t, t.Value(0))
	f.out.Ack(t)
}

// runLocal runs a topology spec in this process until it drains.
func runLocal(t *testing.T, ts *galev1.TopologySpec) *node.Runtime {
	t.Helper()
	rt, err := node.New(ts, node.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("run: %v (errors %v)", err, rt.Errors())
	}
	return rt
}

func conf(t *testing.T, kv ...string) map[string]*galev1.Value {
	t.Helper()
	m := map[string]*galev1.Value{}
	for _, s := range kv {
		k, v, err := spec.ParseConfFlag(s)
		if err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	return m
}

// topology.yaml runs in local mode, as `gale local` runs it, and ends when
// drained with every id in the sink files.
func TestTopologyYAMLLocal(t *testing.T) {
	dir := t.TempDir()
	const count = 20000
	ts, err := sdk.LoadTopology("topology.yaml", conf(t, "filesink.dir="+dir, "seq.rate=0", fmt.Sprintf("seq.count=%d", count)))
	if err != nil {
		t.Fatal(err)
	}
	rt := runLocal(t, ts)
	if errs := rt.Errors(); len(errs) > 0 {
		t.Errorf("task errors: %v", errs)
	}
	r, err := failover.CheckDir(dir, count)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Files) != 3 {
		t.Errorf("check: ok %v, %d files, missing %d %v, bad %v", r.OK(), len(r.Files), r.Missing, r.FirstMissing, r.Errors)
	}
}

// Through the real runtime and acker, failed trees replay until every id
// is in the sink files.
func TestLocalReplaysFailures(t *testing.T) {
	dir := t.TempDir()
	const count = 5000
	b := sdk.NewTopologyBuilder("failover-flaky")
	b.SetConfig("topology.acker.executors", sdk.Int(2))
	b.SetConfig(failover.KeyCount, sdk.Int(count))
	b.SetConfig(failover.KeySinkDir, sdk.String(dir))
	b.SetSpout("seq", failover.ClassSequenceSpout, 2)
	b.SetBolt("pass", failover.ClassPassThrough, 2).ShuffleGrouping("seq")
	b.SetBolt("flaky", classFlaky, 2).ShuffleGrouping("pass")
	b.SetBolt("sink", failover.ClassFileSink, 3).ShuffleGrouping("flaky")
	ts, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	rt := runLocal(t, ts)
	var failed uint64
	for _, c := range rt.Stats() {
		if c.ID == "seq" {
			failed = uint64(c.Counters.Failed)
		}
	}
	if failed < count/5 {
		t.Errorf("spout saw %d failed trees, want at least %d", failed, count/5)
	}
	r, err := failover.CheckDir(dir, count)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("check: missing %d %v, bad %v", r.Missing, r.FirstMissing, r.Errors)
	}
}

// classFailAllAtOnce is a test-only bolt that holds every input until it
// has seen failAllCount of them, then fails them all at once; replays pass.
const classFailAllAtOnce = "failover_test.FailAllAtOnce"

const failAllCount = 100

func init() {
	sdk.MustRegisterBolt(classFailAllAtOnce, func() sdk.Bolt { return &failAllAtOnce{seen: map[int64]bool{}} })
}

type failAllAtOnce struct {
	out  *sdk.BoltCollector
	seen map[int64]bool
	held []*sdk.Tuple
}

func (f *failAllAtOnce) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare(failover.FieldID) }
func (f *failAllAtOnce) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	f.out = out
	return nil
}
func (f *failAllAtOnce) Cleanup() error { return nil }
func (f *failAllAtOnce) Execute(t *sdk.Tuple) {
	id := t.Int(0)
	if !f.seen[id] {
		f.seen[id] = true
		f.held = append(f.held, t.Clone())
		if len(f.held) == failAllCount {
			for _, h := range f.held {
				f.out.Fail(h)
			}
			f.held = nil
		}
		return
	}
	f.out.Emit(t, t.Value(0))
	f.out.Ack(t)
}

// A rate-limited spout with more queued replays than tokens still replays
// every one of them: a NextTuple that emits nothing because its bucket is
// empty, with nothing in flight after End, must not end the run (it did,
// with most of the failed ids never replayed).
func TestLocalRateLimitedReplaysAllBeforeEnd(t *testing.T) {
	dir := t.TempDir()
	b := sdk.NewTopologyBuilder("failover-rate-replays")
	b.SetConfig("topology.acker.executors", sdk.Int(1))
	b.SetConfig("topology.message.timeout.secs", sdk.Int(30))
	b.SetConfig(failover.KeyCount, sdk.Int(failAllCount))
	b.SetConfig(failover.KeyRate, sdk.Int(100))
	b.SetConfig(failover.KeySinkDir, sdk.String(dir))
	b.SetSpout("seq", failover.ClassSequenceSpout, 1)
	b.SetBolt("failall", classFailAllAtOnce, 1).ShuffleGrouping("seq")
	b.SetBolt("sink", failover.ClassFileSink, 1).ShuffleGrouping("failall")
	ts, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	runLocal(t, ts)
	r, err := failover.CheckDir(dir, failAllCount)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("check: missing %d %v, bad %v", r.Missing, r.FirstMissing, r.Errors)
	}
}
