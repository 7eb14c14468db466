package webanalytics

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
)

func eventID(run, seq int64) int64 { return run<<40 | seq }

func TestSeenEvents(t *testing.T) {
	var s seenEvents
	steps := []struct {
		name  string
		id    int64
		first bool
	}{
		{"a first event", eventID(1, 5_000_000), true},
		{"its replay", eventID(1, 5_000_000), false},
		{"the next", eventID(1, 5_000_001), true},
		{"an earlier event of the run, first seen here", eventID(1, 4_999_000), true},
		{"its replay", eventID(1, 4_999_000), false},
		{"the same sequence in another run", eventID(2, 5_000_000), true},
		{"far ahead: the window slides", eventID(1, 5_000_000+3*seenWindow), true},
		{"an event now older than the window counts", eventID(1, 5_000_001), true},
		{"the far one's replay", eventID(1, 5_000_000+3*seenWindow), false},
		{"a little ahead, within the window", eventID(1, 5_000_000+3*seenWindow+100), true},
		{"half a window ahead: the window slides by part", eventID(1, 5_000_000+3*seenWindow+seenWindow/2*3), true},
		{"still in the window after the slide", eventID(1, 5_000_000+3*seenWindow+seenWindow/2*3-seenWindow/4), true},
		{"its replay", eventID(1, 5_000_000+3*seenWindow+seenWindow/2*3-seenWindow/4), false},
	}
	for _, st := range steps {
		if got := s.first(st.id); got != st.first {
			t.Fatalf("%s (%#x): first = %v, want %v", st.name, st.id, got, st.first)
		}
	}
	// Runs beyond seenRuns drop the least recently used.
	for run := int64(10); run < 10+seenRuns; run++ {
		s.first(eventID(run, 1))
	}
	if len(s.runs) != seenRuns || s.runs[2] != nil || s.runs[1] != nil {
		t.Fatalf("%d runs kept (run 1 kept: %v, run 2: %v), want %d and the oldest gone", len(s.runs), s.runs[1] != nil, s.runs[2] != nil, seenRuns)
	}
}

// A replayed event (the same ingest event id) does not count again in the
// page's aggregates; it is acked. Events without an id count every time.
func TestPageStatsCountsAReplayOnce(t *testing.T) {
	b := NewPageStats()
	rec := &errorsOf{}
	tc := &sdk.TaskContext{Config: sdk.Config{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.Prepare(t.Context(), tc, sdk.NewBoltCollector(rec)); err != nil {
		t.Fatal(err)
	}
	withID := func(tu *sdk.Tuple, id int64) *sdk.Tuple {
		for len(tu.Values) < ingest.NumFields {
			tu.Values = append(tu.Values, sdk.Null())
		}
		tu.Values[ingest.IdxEvent] = sdk.Int(id)
		return tu
	}
	click := func() *sdk.Tuple { return ev(1000, "click", "/", 10, 10, "#cta", sdk.Null()) }
	b.Execute(withID(click(), eventID(7, 1)))
	b.Execute(withID(click(), eventID(7, 2)))
	b.Execute(withID(click(), eventID(7, 1))) // a replay
	b.Execute(click())                        // no id
	b.Execute(click())
	if rec.acks != 5 || b.Replays() != 1 {
		t.Fatalf("%d acked, %d replays: want all 5 acked and 1 replay", rec.acks, b.Replays())
	}
	b.Execute(&sdk.Tuple{Source: sdk.TickSource})
	if len(rec.values) != 1 {
		t.Fatalf("%d snapshots, want 1", len(rec.values))
	}
	var snap PageSnapshot
	if err := json.Unmarshal([]byte(rec.values[0][1].Str()), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Events != 4 {
		t.Fatalf("the page counted %d events, want 4 (the replay once)", snap.Events)
	}
}

// A replayed event (the same ingest event id) is acked and left out of
// its session; events without an id all count.
func TestSessionsCountAReplayOnce(t *testing.T) {
	bolt := NewSessions()
	out := &emits{}
	tc := &sdk.TaskContext{Component: "sessions", Config: sdk.Config{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := bolt.Prepare(t.Context(), tc, sdk.NewBoltCollector(out)); err != nil {
		t.Fatal(err)
	}
	withID := func(tu *sdk.Tuple, id int64) *sdk.Tuple {
		vals := make([]sdk.Value, ingest.NumFields)
		copy(vals, tu.Values)
		for i := len(tu.Values); i < len(vals); i++ {
			vals[i] = sdk.Null()
		}
		vals[ingest.IdxEvent] = sdk.Int(id)
		tu.Values = vals
		tu.Source = sdk.NewSource("ingest", sdk.DefaultStream, ingest.Fields)
		return tu
	}
	bolt.Execute(withID(ev(1000, "pageview", "/", 0, 0, "", sdk.Null()), eventID(3, 1)))
	bolt.Execute(withID(ev(1100, "click", "/", 5, 5, "#cta", sdk.Null()), eventID(3, 2)))
	bolt.Execute(withID(ev(1100, "click", "/", 5, 5, "#cta", sdk.Null()), eventID(3, 2))) // a replay
	bolt.Execute(ev(1200, "move", "/", 5, 5, "", sdk.Null()))                             // no id
	bolt.Execute(ev(1200, "move", "/", 5, 5, "", sdk.Null()))
	if err := bolt.Finish(); err != nil {
		t.Fatal(err)
	}
	if st := bolt.Stats(); st.Filtered != 1 {
		t.Fatalf("stats %+v, want 1 input filtered", st)
	}
	if len(out.values) != 1 {
		t.Fatalf("%d sessions, want 1", len(out.values))
	}
	var m SessionMetrics
	if err := json.Unmarshal([]byte(out.values[0][1].Str()), &m); err != nil {
		t.Fatal(err)
	}
	if m.Events != 4 || m.Clicks != 1 {
		t.Fatalf("session of %d events and %d clicks, want 4 and 1 (the replay once)", m.Events, m.Clicks)
	}
}

// With more ingest tasks than seenRuns, every task's run must be kept: the
// runs are all live, so the least recently used one is dropped at every
// event (each time with a new 256 KiB bitmap), and a replay of any of them
// counted again. The tasks size their runs by the ingest's tasks.
func TestPageStatsKeepsTheRunOfEveryIngestTask(t *testing.T) {
	const ingestTasks = seenRuns + 4
	tasks := make([]int32, ingestTasks)
	for i := range tasks {
		tasks[i] = int32(i + 1)
	}
	b := NewPageStats()
	rec := &errorsOf{}
	tc := &sdk.TaskContext{
		Config:         sdk.Config{},
		ComponentTasks: map[string][]int32{"ingest": tasks, "pages": {ingestTasks + 1}},
		Inputs:         []sdk.Input{{Component: "ingest", Stream: sdk.DefaultStream, Fields: ingest.Fields}},
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := b.Prepare(t.Context(), tc, sdk.NewBoltCollector(rec)); err != nil {
		t.Fatal(err)
	}
	click := func(id int64) *sdk.Tuple {
		tu := ev(1000, "click", "/", 10, 10, "#cta", sdk.Null())
		for len(tu.Values) < ingest.NumFields {
			tu.Values = append(tu.Values, sdk.Null())
		}
		tu.Values[ingest.IdxEvent] = sdk.Int(id)
		return tu
	}
	// Each ingest task (its own run) sends in turn, then replays.
	for round := range 2 {
		for seq := int64(1); seq <= 3; seq++ {
			for run := int64(1); run <= ingestTasks; run++ {
				b.Execute(click(eventID(run, seq)))
			}
		}
		if want := int64(round * 3 * ingestTasks); b.Replays() != want {
			t.Fatalf("round %d: %d replays recognised, want %d (%d runs kept of %d ingest tasks)", round, b.Replays(), want, len(b.seen.runs), ingestTasks)
		}
	}
}
