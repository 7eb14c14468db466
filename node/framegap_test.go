package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/router"
)

// TestPartialFramesWaitForTheFrameGap: a bolt that emits a tuple every
// 2 ms to a task on another node sends a frame for each tuple without a
// frame gap (it runs dry after each, and an idle task flushes), and with topology.remote.batch.gap at
// 1 s sends its first tuple at once (nothing went to that task lately) and
// the rest together, a gap later or at its end of input, whichever comes
// first; without an end of input, a gap later. Batches to tasks on the same node are unaffected (the spout's
// batches of one tuple reach the bolt one by one: that is what paces it).
func TestPartialFramesWaitForTheFrameGap(t *testing.T) {
	const count = 40
	for _, tc := range []struct {
		name   string
		gap    any
		ackers int // with acking on, the sink on the other node never acks: no end of input
		check  func(frames int, elapsed time.Duration) error
	}{
		{"no gap: a frame a tuple", 0, 0, func(frames int, _ time.Duration) error {
			if frames < count/4 {
				return fmt.Errorf("%d frames for %d tuples, want about one a tuple", frames, count)
			}
			return nil
		}},
		{"a gap of 1 s: the first tuple, then the rest", "1s", 0, func(frames int, elapsed time.Duration) error {
			if most := 2 + int(elapsed/time.Second); frames > most {
				return fmt.Errorf("%d frames in %v, want at most %d", frames, elapsed, most)
			}
			return nil
		}},
		// Without an end of input, what waits goes when the task wakes at
		// the gap's deadline (the test's 10 s are far from the message
		// timeout, 60 s).
		{"a gap of 200 ms and no end of input: the rest a gap later", "200ms", 1, func(frames int, elapsed time.Duration) error {
			if most := 2 + int(elapsed/(200*time.Millisecond)); frames > most {
				return fmt.Errorf("%d frames in %v, want at most %d", frames, elapsed, most)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopo(t, map[string]any{
				KeyAckers: tc.ackers, KeyMessageTimeout: 60, "test.max_replays": 0,
				KeyBatchSize: 1, KeyRemoteFrameGap: tc.gap,
				"test.count": count, "test.per_call": 1, "test.sleep": 2,
			}).
				spout("seq", "test.Seq", 1, "id").                           // task 1
				bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2
				bolt("sink", "test.Sink", 1, nil, "pass:shuffle")            // task 3, elsewhere
			remote := &sentBatches{}
			rt, err := New(tp.s, Options{
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Local:  func(id int32) bool { return id != 3 }, // 4, the acker, here
				Remote: remote,
			})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			runUntilTestEnds(t, rt)
			sizes := remote.waitSent(t, count)
			if err := tc.check(len(sizes), time.Since(start)); err != nil {
				t.Fatalf("%v (frame sizes %v)", err, sizes)
			}
		})
	}
}

// TestOnlyTasksOnOtherNodesGetTheFrameGap: an executor gives the gap to
// its batches for tasks on other nodes only, and takes it back when such
// a task comes here.
func TestOnlyTasksOnOtherNodesGetTheFrameGap(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyAckers: 1, KeyRemoteFrameGap: "3ms"}).
		spout("seq", "test.Seq", 1, "id").                           // task 1
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle").           // task 3, elsewhere
		bolt("here", "test.Sink", 1, nil, "pass:shuffle")            // task 4
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return id != 3 }, // 5, the acker, here
		Remote: &sentBatches{},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t.Context(), rt, rt.tasks[2], nil)
	gaps := func() map[int32]time.Duration {
		out := map[int32]time.Duration{}
		for id := int32(1); id <= 5; id++ {
			out[id] = e.out.FrameGap(id)
		}
		return out
	}
	want := map[int32]time.Duration{1: 0, 2: 0, 3: 3 * time.Millisecond, 4: 0, 5: 0}
	if got := gaps(); !maps.Equal(got, want) {
		t.Fatalf("frame gaps by task %v, want %v", got, want)
	}
	rt.tasks[3].here.Store(true)
	e.sizeBatches()
	want[3] = 0
	if got := gaps(); !maps.Equal(got, want) {
		t.Fatalf("after task 3 came here, frame gaps by task %v, want %v", got, want)
	}
}

// refusingRemote fails every send, as a node that others cannot reach
// (down, or its certificate refused), until its until (if set).
type refusingRemote struct {
	err   error
	until time.Time
}

func (r refusingRemote) fail() error {
	if !r.until.IsZero() && time.Now().After(r.until) {
		return nil
	}
	return r.err
}
func (r refusingRemote) SendTuples(int32, *router.Batch) error       { return r.fail() }
func (r refusingRemote) SendAcks(int32, []router.AckOp) error        { return r.fail() }
func (r refusingRemote) ForwardAcks(int32, []router.AckOp) error     { return r.fail() }
func (r refusingRemote) SendEndOfInput(from int32, to []int32) error { return r.fail() }

// A task that cannot send to another node says why in its errors, at most
// once in sendFailureEvery, with how many sends failed: the trees failed
// and replayed with no word in gale status.
func TestSendFailuresAreReported(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 1_000_000}).
		spout("seq", "test.Seq", 1, "id").                           // task 1
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")            // task 3, elsewhere
	refused := errors.New("transport: authentication handshake failed: x509: certificate is valid for 10.9.9.9, not 127.0.0.1")
	rt := runWithSinkRefused(t, tp, refused)
	var reports []string
	waitFor(t, 10*time.Second, func() error {
		reports = reports[:0]
		for _, e := range rt.Errors() {
			if e.Component == "pass" {
				reports = append(reports, e.Err.Error())
			}
		}
		if len(reports) == 0 {
			return errors.New("no send failure reported")
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // more failures, within the report's interval
	if got := rt.Errors(); len(reports) != 1 || countComponent(got, "pass") != 1 {
		t.Fatalf("pass reported %d errors, want 1 in %v: %v", countComponent(got, "pass"), sendFailureEvery, got)
	}
	want := regexp.MustCompile(`^[1-9][0-9]* sends to other nodes failed since the last report; the last, to task 3, of tuples, whose trees failed and replay: ` + regexp.QuoteMeta(refused.Error()) + `$`)
	if !want.MatchString(reports[0]) {
		t.Fatalf("report %q, want one matching %s", reports[0], want)
	}
}

// A bolt's unanchored tuples that cannot be sent to another node are
// lost, not replayed (they belong to no tree), and the report says so:
// after a dashboard's node died, gale status said that the sessionizer's
// and the page aggregates' unanchored results to it would replay.
func TestSendFailuresOfUnanchoredTuplesSayTheyAreLost(t *testing.T) {
	// test.sleep: sends go on for longer than sendFailureGrace (nothing
	// fails and replays to keep them going).
	tp := newTopo(t, map[string]any{"test.count": 1_000_000, "test.unanchored": true, "test.sleep": 1}).
		spout("seq", "test.Seq", 1, "id").                           // task 1
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2, emits unanchored
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")            // task 3, elsewhere
	refused := errors.New("remote node unavailable: connection refused")
	rt := runWithSinkRefused(t, tp, refused)
	var report string
	waitFor(t, 10*time.Second, func() error {
		for _, e := range rt.Errors() {
			if e.Component == "pass" {
				report = e.Err.Error()
				return nil
			}
		}
		return errors.New("no send failure reported")
	})
	want := regexp.MustCompile(`^[1-9][0-9]* sends to other nodes failed since the last report; the last, to task 3, of unanchored tuples, lost \(no tree to replay\): ` + regexp.QuoteMeta(refused.Error()) + `$`)
	if !want.MatchString(report) {
		t.Fatalf("report %q, want one matching %s", report, want)
	}
}

// runWithSinkRefused runs tp with every task here but task 3, whose node
// refuses every send with refused, until the test ends.
func runWithSinkRefused(t *testing.T, tp *topo, refused error) *Runtime {
	t.Helper()
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return id != 3 },
		Remote: refusingRemote{err: refused},
	})
	if err != nil {
		t.Fatal(err)
	}
	runUntilTestEnds(t, rt)
	return rt
}

func countComponent(errs []TaskError, component string) int {
	n := 0
	for _, e := range errs {
		if e.Component == component {
			n++
		}
	}
	return n
}

// Sends that fail for less than sendFailureGrace are not reported: a run
// stopped on every node ends on one a moment before another, and each
// cluster run logged the last sends as errors.
func TestBriefSendFailuresAreNotReported(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 1_000_000}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle").
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return id != 3 },
		Remote: refusingRemote{err: errors.New("remote node unavailable: EOF"), until: time.Now().Add(sendFailureGrace / 4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	runUntilTestEnds(t, rt)
	time.Sleep(sendFailureGrace + 500*time.Millisecond) // past the grace, with sends going out again
	if n := countComponent(rt.Errors(), "pass"); n != 0 {
		t.Fatalf("%d errors of pass for sends that failed for a moment: %v", n, rt.Errors())
	}
}

// partlyRefusingRemote fails every send to the tasks in down, as a node
// that is down, and takes (and drops) every other send, as a node that is
// up.
type partlyRefusingRemote struct {
	down map[int32]bool
	err  error
}

func (r partlyRefusingRemote) fail(dest int32) error {
	if r.down[dest] {
		return r.err
	}
	return nil
}
func (r partlyRefusingRemote) SendTuples(dest int32, _ *router.Batch) error   { return r.fail(dest) }
func (r partlyRefusingRemote) SendAcks(dest int32, _ []router.AckOp) error    { return r.fail(dest) }
func (r partlyRefusingRemote) ForwardAcks(dest int32, _ []router.AckOp) error { return r.fail(dest) }
func (r partlyRefusingRemote) SendEndOfInput(from int32, to []int32) error {
	for _, d := range to {
		if err := r.fail(d); err != nil {
			return err
		}
	}
	return nil
}

// One node down among several that are up: a task that keeps failing to
// send to the one while its sends to the others go out says so too. Each
// send that went out used to restart the grace, so with one dead node of
// three (the common failure) the task never reported anything however
// long the node stayed down.
func TestSendFailuresToOneNodeOfSeveralAreReported(t *testing.T) {
	// Without acking: the up node drops what it gets, and trees that never
	// complete would soon stop the spout at its max pending.
	tp := newTopo(t, map[string]any{"test.count": 1_000_000_000, "topology.acker.executors": 0}).
		spout("seq", "test.Seq", 1, "id").                           // task 1
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2
		bolt("sink", "test.Sink", 2, nil, "pass:shuffle")            // tasks 3 (down) and 4 (up), elsewhere
	refused := errors.New("remote node unavailable: connection refused")
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return id < 3 },
		Remote: partlyRefusingRemote{down: map[int32]bool{3: true}, err: refused},
	})
	if err != nil {
		t.Fatal(err)
	}
	runUntilTestEnds(t, rt)
	waitFor(t, 5*time.Second, func() error {
		for _, e := range rt.Errors() {
			if e.Component == "pass" {
				if !strings.Contains(e.Err.Error(), "to task 3,") {
					return fmt.Errorf("report %q does not name task 3", e.Err)
				}
				return nil
			}
		}
		return errors.New("no send failure reported")
	})
}

// Acker operations that cannot be sent to their acker's node are held and
// sent again (unsent.go), and the report says so: it said their trees
// time out and replay, which they do only if the node stays out of reach
// for the message timeout.
func TestSendFailuresOfAckerOperationsSayTheyAreHeld(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 1_000_000, "test.sleep": 1, KeyAckers: 1}).
		spout("seq", "test.Seq", 1, "id").                           // task 1
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")            // task 3; the acker, task 4, elsewhere
	refused := errors.New("remote node unavailable: connection refused")
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return id != 4 },
		Remote: refusingRemote{err: refused},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.ackers; len(got) != 1 || got[0] != 4 {
		t.Fatalf("ackers %v, want [4]", got)
	}
	runUntilTestEnds(t, rt)
	var report string
	waitFor(t, 10*time.Second, func() error {
		for _, e := range rt.Errors() {
			if strings.Contains(e.Err.Error(), "acker operations") {
				report = e.Err.Error()
				return nil
			}
		}
		return errors.New("no send failure of acker operations reported")
	})
	want := regexp.MustCompile(`^[1-9][0-9]* sends to other nodes failed since the last report; the last, to task 4, of acker operations \(held, and sent again until they are older than the message timeout, 30s\): ` + regexp.QuoteMeta(refused.Error()) + `$`)
	if !want.MatchString(report) {
		t.Fatalf("report %q, want one matching %s", report, want)
	}
}
