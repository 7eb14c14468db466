package failover

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// tryOpenSpout opens task index of tasks spout tasks with conf; now
// replaces the clock when not nil.
func tryOpenSpout(conf map[string]any, index, tasks int, now func() time.Time) (*SequenceSpout, *fakeEmitter, error) {
	s := NewSequenceSpout()
	if now != nil {
		s.now = now
	}
	fe := &fakeEmitter{}
	err := s.Open(context.Background(), newTC("seq", index, tasks, conf), sdk.NewSpoutCollector(fe))
	return s, fe, err
}

func openSpout(t *testing.T, conf map[string]any, index, tasks int) (*SequenceSpout, *fakeEmitter) {
	t.Helper()
	s, fe, err := tryOpenSpout(conf, index, tasks, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, fe
}

// drain calls NextTuple until it emits nothing new, at most limit times.
func drain(s *SequenceSpout, fe *fakeEmitter, limit int) {
	for range limit {
		n := len(fe.spout)
		s.NextTuple()
		if len(fe.spout) == n {
			return
		}
	}
}

// ackAll acks every message the spout emitted.
func ackAll(s *SequenceSpout, fe *fakeEmitter) {
	for _, e := range fe.spout {
		s.Ack(e.msgID)
	}
}

// With 3 spout tasks, task i emits exactly the ids with id % 3 == i, in
// increasing order, each reliably on the default stream with message id
// id+1; together they emit every id once.
func TestSequenceSpoutPartitionsOverTasks(t *testing.T) {
	const count, tasks = 1000, 3
	var all []int64
	for i := range tasks {
		s, fe := openSpout(t, map[string]any{KeyCount: count}, i, tasks)
		drain(s, fe, 1000)
		if fe.ends != 0 {
			t.Errorf("task %d: End called %d times before the acks, want 0", i, fe.ends)
		}
		ackAll(s, fe)
		s.NextTuple()
		s.NextTuple()
		if fe.ends != 1 {
			t.Errorf("task %d: End called %d times, want 1", i, fe.ends)
		}
		var want []int64
		for id := int64(i); id < count; id += tasks {
			want = append(want, id)
		}
		if got := fe.spoutIDs(); !slices.Equal(got, want) {
			t.Fatalf("task %d emitted %d ids %v..., want %d ids %v...", i, len(got), head(got), len(want), head(want))
		}
		for _, e := range fe.spout {
			id := e.values[0].Int()
			if e.stream != "" || !e.reliable || e.direct != 0 || e.msgID != uint64(id)+1 || len(e.values) != 1 || e.values[0].Kind() != sdk.KindInt {
				t.Fatalf("task %d: emit %+v, want a reliable default-stream emit of Int(%d) with message id %d", i, e, id, id+1)
			}
		}
		all = append(all, fe.spoutIDs()...)
	}
	slices.Sort(all)
	for i, id := range all {
		if id != int64(i) {
			t.Fatalf("ids over all tasks: position %d holds %d; want every id 0..%d once", i, id, count-1)
		}
	}
	if len(all) != count {
		t.Fatalf("%d ids over all tasks, want %d", len(all), count)
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 8)] }

// A task with no ids (N < parallelism) emits nothing and ends at once;
// N = 0 ends every task.
func TestSequenceSpoutTaskWithoutIDsEnds(t *testing.T) {
	for _, c := range []struct{ count, index int }{{2, 2}, {0, 0}} {
		s, fe := openSpout(t, map[string]any{KeyCount: c.count}, c.index, 3)
		for range 5 {
			s.NextTuple()
		}
		if len(fe.spout) != 0 || fe.ends != 1 {
			t.Errorf("count %d, task %d: %d emits and %d ends, want 0 and 1", c.count, c.index, len(fe.spout), fe.ends)
		}
	}
}

// One NextTuple emits at most a batch; End comes once the last new id was
// emitted and every id acked, exactly once: the runtime ends a spout that
// emits nothing after End with nothing in flight, and a rate-limited call
// may emit nothing while failed ids wait for tokens.
func TestSequenceSpoutEndOnceAfterTheLastAck(t *testing.T) {
	s, fe := openSpout(t, map[string]any{KeyCount: 150}, 0, 1)
	s.NextTuple()
	if len(fe.spout) != emitBatch || fe.ends != 0 {
		t.Fatalf("first call: %d emits, %d ends; want %d and 0", len(fe.spout), fe.ends, emitBatch)
	}
	s.NextTuple()
	s.NextTuple()
	for range 10 {
		s.NextTuple()
	}
	if len(fe.spout) != 150 || fe.ends != 0 {
		t.Fatalf("after the last id, nothing acked: %d emits, %d ends; want 150 and 0", len(fe.spout), fe.ends)
	}
	emitted := fe.takeSpout()
	s.Fail(42 + 1)
	s.NextTuple()
	if got := fe.spoutIDs(); !slices.Equal(got, []int64{42}) || fe.ends != 0 {
		t.Fatalf("replay: ids %v, %d ends; want [42] and 0", got, fe.ends)
	}
	for _, e := range emitted[:149] {
		s.Ack(e.msgID)
	}
	s.NextTuple()
	if fe.ends != 0 {
		t.Fatalf("one id in flight: %d ends, want 0", fe.ends)
	}
	s.Ack(emitted[149].msgID)
	for range 10 {
		s.NextTuple()
	}
	if fe.ends != 1 {
		t.Fatalf("all acked: %d ends, want 1", fe.ends)
	}
}

// A rate-limited task whose failed ids outnumber its tokens does not end
// while they wait for tokens.
func TestSequenceSpoutNoEndWhileReplaysWaitForTokens(t *testing.T) {
	// At 0.001/s the bucket holds one token: the only id goes out in the
	// first call, and no token comes back during the test.
	s, fe := openSpout(t, map[string]any{KeyCount: 1, KeyRate: 0.001}, 0, 1)
	s.NextTuple()
	emitted := fe.takeSpout()
	if len(emitted) != 1 {
		t.Fatalf("first call: %d emits, want 1", len(emitted))
	}
	s.Fail(emitted[0].msgID)
	for range 5 {
		s.NextTuple()
	}
	if len(fe.spout) != 0 || fe.ends != 0 {
		t.Fatalf("the failed id waits for a token: %d replays, %d ends; want 0 and 0", len(fe.spout), fe.ends)
	}
}

// Failed ids are emitted again before any new id, oldest failure first,
// once each however often they failed; acked or unknown ids are not.
func TestSequenceSpoutReplayOrder(t *testing.T) {
	s, fe := openSpout(t, map[string]any{KeyCount: 200}, 0, 1)
	s.NextTuple() // ids 0..63
	fe.takeSpout()

	s.Fail(10 + 1)
	s.Fail(5 + 1)
	s.Fail(10 + 1) // already queued: not twice
	s.Fail(7 + 1)
	s.Ack(7 + 1)    // acked after it failed: no replay
	s.Ack(20 + 1)   // acked ...
	s.Fail(20 + 1)  // ... then a late fail: ignored
	s.Fail(0)       // message id 0 is never used: ignored
	s.Fail(150 + 1) // not emitted yet: ignored
	s.Ack(0)

	s.NextTuple()
	got := fe.spoutIDs()
	want := []int64{10, 5}
	for id := int64(64); len(want) < emitBatch; id++ {
		want = append(want, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after fails: emitted %v, want %v", got, want)
	}
	for _, e := range fe.spout[:2] {
		if e.msgID != uint64(e.values[0].Int())+1 {
			t.Errorf("replay %+v: message id is not id+1", e)
		}
	}

	// An id can fail again after its replay, and replays again.
	fe.takeSpout()
	s.Fail(10 + 1)
	s.NextTuple()
	if got := fe.spoutIDs(); len(got) == 0 || got[0] != 10 {
		t.Fatalf("second failure of 10: emitted %v, want 10 first", head(got))
	}

	// Acked ids are forgotten: only unacked ids stay pending.
	for _, e := range fe.spout {
		s.Ack(e.msgID)
	}
	if _, ok := s.pending[10]; ok {
		t.Errorf("id 10 still pending after its ack")
	}
}

// The retry queue does not grow while failures keep arriving during
// replays.
func TestSequenceSpoutRetryQueueBounded(t *testing.T) {
	s, fe := openSpout(t, map[string]any{KeyCount: 5000}, 0, 1)
	for range 3000 {
		s.NextTuple()
		for _, e := range fe.takeSpout() {
			s.Fail(e.msgID)
		}
	}
	if len(s.pending) > 5000 || cap(s.retry) > 4*len(s.pending)+2048 {
		t.Errorf("pending %d, retry queue capacity %d: grows without bound", len(s.pending), cap(s.retry))
	}
}

// Bad config values fail Open, naming the key.
func TestSequenceSpoutConfigErrors(t *testing.T) {
	for _, c := range []struct {
		conf map[string]any
		key  string
	}{
		{map[string]any{KeyCount: -1}, KeyCount},
		{map[string]any{KeyCount: "many"}, KeyCount},
		{map[string]any{KeyCount: 2.5}, KeyCount},
		{map[string]any{KeyRate: -1}, KeyRate},
		{map[string]any{KeyRate: "fast"}, KeyRate},
		{map[string]any{KeyRate: math.Inf(1)}, KeyRate},
		{map[string]any{KeyRate: math.NaN()}, KeyRate},
	} {
		_, _, err := tryOpenSpout(c.conf, 0, 1, nil)
		if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), ClassSequenceSpout) {
			t.Errorf("Open with %v: error %v, want one naming %s", c.conf, err, c.key)
		}
	}
	// Strings (from --conf) are read as numbers; defaults apply when unset.
	s, _, err := tryOpenSpout(map[string]any{KeyCount: "7", KeyRate: "2.5"}, 0, 1, nil)
	if err != nil || s.cfg != (SpoutConfig{Count: 7, Rate: 2.5}) {
		t.Errorf("string values: cfg %+v, err %v; want {7 2.5}", s.cfg, err)
	}
	s, _, err = tryOpenSpout(nil, 0, 1, nil)
	if err != nil || s.cfg != DefaultSpoutConfig() || s.cfg.Count != 1000 {
		t.Errorf("defaults: cfg %+v, err %v; want 1000 ids, no rate", s.cfg, err)
	}
	// A task index outside the component's tasks is refused.
	tc := newTC("seq", 0, 2, nil)
	tc.TaskIndex = 2
	if err := NewSequenceSpout().Open(context.Background(), tc, sdk.NewSpoutCollector(&fakeEmitter{})); err == nil {
		t.Errorf("Open with task index 2 of 2 tasks succeeded")
	}
}

// The rate is the total across the spout's tasks: on a fake clock, 2 tasks
// at seq.rate=100 emit about 100 ids a second together (plus the initial
// bursts), and never sleep while they have tokens.
func TestSequenceSpoutRateIsTotalAcrossTasks(t *testing.T) {
	const rate, tasks = 100, 2
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	var spouts []*SequenceSpout
	var fes []*fakeEmitter
	for i := range tasks {
		s, fe, err := tryOpenSpout(map[string]any{KeyCount: 1_000_000, KeyRate: rate}, i, tasks, now)
		if err != nil {
			t.Fatal(err)
		}
		spouts, fes = append(spouts, s), append(fes, fe)
	}
	perTask := float64(rate) / tasks
	burst := int(math.Min(perTask, emitBatch))
	const seconds = 10
	for range seconds * 100 {
		clock = clock.Add(10 * time.Millisecond)
		for _, s := range spouts {
			s.NextTuple()
		}
	}
	for i, fe := range fes {
		want := burst + int(perTask*seconds)
		if got := len(fe.spout); got < want-1 || got > want+1 {
			t.Errorf("task %d emitted %d in %ds at a total rate of %d over %d tasks, want %d", i, got, seconds, rate, tasks, want)
		}
	}
}

// With the real clock a rate-limited spout never sleeps longer than
// maxIdleSleep in a call, so it does not hold its executor, and it never
// emits faster than the rate. (How long calls take on a loaded machine is
// not asserted: the sleep bound is checked where it is computed.)
func TestSequenceSpoutRateDoesNotBlock(t *testing.T) {
	const rate = 2000
	s, fe := openSpout(t, map[string]any{KeyCount: 1_000_000, KeyRate: rate}, 0, 1)
	start := time.Now()
	calls := 0
	for time.Since(start) < 300*time.Millisecond {
		if d := s.bucket.wait(maxIdleSleep); d > maxIdleSleep || d < 0 {
			t.Fatalf("a call would sleep %v, more than %v", d, maxIdleSleep)
		}
		s.NextTuple()
		calls++
	}
	elapsed := time.Since(start)
	got := len(fe.spout)
	if maxWant := emitBatch + int(elapsed.Seconds()*rate) + 1; got > maxWant {
		t.Errorf("emitted %d in %v at %d/s, want at most %d", got, elapsed, rate, maxWant)
	}
	if got == 0 || calls == 0 {
		t.Errorf("emitted %d in %d calls", got, calls)
	}
}

// A rate-limited spout with nothing to emit (all emitted, no replay)
// returns at once: it neither sleeps nor takes tokens.
func TestSequenceSpoutRateIdleDoesNotSleep(t *testing.T) {
	s, fe := openSpout(t, map[string]any{KeyCount: 1, KeyRate: 0.001}, 0, 1)
	s.NextTuple()
	s.Ack(1)
	s.NextTuple()
	if len(fe.spout) != 1 || fe.ends != 1 {
		t.Fatalf("%d emits, %d ends, want 1 and 1", len(fe.spout), fe.ends)
	}
	start := time.Now()
	for range 1000 {
		s.NextTuple()
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("1000 idle calls took %v: the idle spout sleeps", d)
	}
	// A replay waits for a token, ~1ms a call at most.
	s.Fail(1)
	t0 := time.Now()
	s.NextTuple()
	if d := time.Since(t0); d > 20*time.Millisecond {
		t.Errorf("a call waiting for a token took %v, want ~1ms", d)
	}
}
