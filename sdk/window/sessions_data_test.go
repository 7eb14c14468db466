package window

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// sessionCase is one file of testdata/sessions (see its README.md).
type sessionCase struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Params      struct {
		GapMS            *int64 `json:"gap_ms"`
		OutOfOrdernessMS *int64 `json:"out_of_orderness_ms"`
		AllowedLateness  *int64 `json:"allowed_lateness_ms"`
		IdleTimeoutMS    *int64 `json:"idle_timeout_ms"`
	} `json:"params"`
	Input    []caseItem `json:"input"`
	Expected struct {
		Sessions []caseSession `json:"sessions"`
		Late     []caseLate    `json:"late"`
	} `json:"expected"`
}

type caseItem struct {
	Key            *string `json:"key"`
	TS             *int64  `json:"ts"`
	Tick           bool    `json:"tick"`
	Watermark      *int64  `json:"watermark"`
	EndOfEventTime bool    `json:"end_of_event_time"`
	End            bool    `json:"end"`
	WallMS         *int64  `json:"wall_ms"`
}

type caseSession struct {
	Key     string  `json:"key"`
	Start   int64   `json:"start"`
	End     int64   `json:"end"`
	Events  []int64 `json:"events"`
	FiredAt int     `json:"fired_at"`
}

type caseLate struct {
	Key   string `json:"key"`
	TS    int64  `json:"ts"`
	Index int64  `json:"index"`
}

func loadCase(t *testing.T, path string) sessionCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c sessionCase
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	p := c.Params
	if p.GapMS == nil || p.OutOfOrdernessMS == nil || p.AllowedLateness == nil || p.IdleTimeoutMS == nil {
		t.Fatalf("%s: params needs gap_ms, out_of_orderness_ms, allowed_lateness_ms, idle_timeout_ms", path)
	}
	if c.Name != strings.TrimSuffix(filepath.Base(path), ".json") {
		t.Fatalf("%s: name %q differs from the file name", path, c.Name)
	}
	for i, it := range c.Input {
		kinds := 0
		if it.Key != nil || it.TS != nil {
			if it.Key == nil || it.TS == nil {
				t.Fatalf("%s: input %d: an event needs both key and ts", path, i)
			}
			kinds++
		}
		for _, b := range []bool{it.Tick, it.Watermark != nil, it.EndOfEventTime, it.End} {
			if b {
				kinds++
			}
		}
		if kinds != 1 {
			t.Fatalf("%s: input %d: want exactly one of event, tick, watermark, end_of_event_time, end", path, i)
		}
	}
	return c
}

var (
	caseEvents = sdk.NewSource("events", sdk.DefaultStream, []string{"key", "ts", "index"})
	casePunct  = sdk.NewSource("events", DefaultPunctuationStream, []string{"watermark"})
)

// runCase feeds a case to a session bolt in the given ack mode and returns
// what it emitted, in the file's terms.
func runCase(t *testing.T, c sessionCase, mode AckMode) (sessions []caseSession, late []caseLate, fe *fakeEmitter, b *Bolt) {
	t.Helper()
	return runCaseWith(t, c, mode, nil, nil)
}

// runCaseWith is runCase; with newBolt set it makes the bolt with it
// (record is to be called with each fired window's event indexes in
// order), and after, if set, runs after each input.
func runCaseWith(t *testing.T, c sessionCase, mode AckMode,
	newBolt func(cfg Config, record func(w Window, idx []int64, out *Output)) *Bolt,
	after func(b *Bolt)) (sessions []caseSession, late []caseLate, fe *fakeEmitter, b *Bolt) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Window = Session(time.Duration(*c.Params.GapMS) * time.Millisecond)
	cfg.KeyField, cfg.TimeField = "key", "ts"
	cfg.OutOfOrderness = time.Duration(*c.Params.OutOfOrdernessMS) * time.Millisecond
	cfg.AllowedLateness = time.Duration(*c.Params.AllowedLateness) * time.Millisecond
	cfg.IdleTimeout = time.Duration(*c.Params.IdleTimeoutMS) * time.Millisecond
	cfg.LateFields = []string{"key", "ts", "index"}
	cfg.OutputFields = []string{"key", "start", "end", "events"}
	cfg.Ack = mode
	cfg.TimeoutCheck = CheckOff

	at := 0
	record := func(w Window, idx []int64, out *Output) {
		sessions = append(sessions, caseSession{Key: w.Key, Start: w.Start, End: w.End, Events: idx, FiredAt: at})
		out.Emit(sdk.String(w.Key), sdk.Int(w.Start), sdk.Int(w.End), sdk.Int(int64(len(idx))))
	}
	if newBolt != nil {
		b = newBolt(cfg, record)
	} else {
		b = New(cfg, func(w Window, events []*sdk.Tuple, out *Output) {
			var idx []int64
			for _, e := range events {
				idx = append(idx, e.Int(2))
			}
			record(w, idx, out)
		})
	}
	wall := time.Unix(1_000_000, 0)
	var clock int64
	b.now = func() time.Time { return wall.Add(time.Duration(clock) * time.Millisecond) }
	fe = &fakeEmitter{}
	tc := testTC(map[string]any{"topology.tick.tuple.freq.secs": 1})
	if err := b.Prepare(t.Context(), tc, sdk.NewBoltCollector(fe)); err != nil {
		t.Fatal(err)
	}
	for i, it := range c.Input {
		at = i
		if it.WallMS != nil {
			clock = *it.WallMS
		}
		switch {
		case it.Key != nil:
			b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.String(*it.Key), sdk.Int(*it.TS), sdk.Int(int64(i))},
				Anchors: []sdk.Anchor{{Root: uint64(1000 + i), ID: uint64(1 + i)}}, Source: caseEvents, SourceTask: 1})
		case it.Tick:
			b.Execute(&sdk.Tuple{Source: sdk.TickSource})
		case it.Watermark != nil:
			b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.Int(*it.Watermark)}, Source: casePunct, SourceTask: 1})
		case it.EndOfEventTime:
			b.Execute(&sdk.Tuple{Values: []sdk.Value{sdk.Int(EndOfEventTime)}, Source: casePunct, SourceTask: 1})
		case it.End:
			if err := b.Finish(); err != nil {
				t.Fatal(err)
			}
		}
		if after != nil {
			after(b)
		}
	}
	for _, e := range fe.bolt {
		if e.stream == DefaultLateStream {
			late = append(late, caseLate{Key: e.values[0].Str(), TS: e.values[1].Int(), Index: e.values[2].Int()})
		}
	}
	return sessions, late, fe, b
}

// TestSessionCases runs every shared case in both ack modes, and checks
// the acking contract on the way: every event settled exactly once, by
// the end of input at the latest; in AckOnFire mode an event is acked only
// after the result of its session was emitted, anchored to it.
func TestSessionCases(t *testing.T) {
	files, err := filepath.Glob("testdata/sessions/*.json")
	if err != nil || len(files) < 8 {
		t.Fatalf("want the shared cases in testdata/sessions, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		c := loadCase(t, f)
		for _, mode := range []AckMode{AckOnFire, AckOnReceipt} {
			t.Run(c.Name+"/"+mode.String(), func(t *testing.T) {
				sessions, late, fe, b := runCase(t, c, mode)
				if !reflect.DeepEqual(nonNil(sessions), nonNil(c.Expected.Sessions)) {
					t.Errorf("%s\nsessions:\n got %s\nwant %s", c.Description, show(sessions), show(c.Expected.Sessions))
				}
				if !reflect.DeepEqual(nonNil(late), nonNil(c.Expected.Late)) {
					t.Errorf("%s\nlate:\n got %+v\nwant %+v", c.Description, late, c.Expected.Late)
				}
				checkSettled(t, c, fe, mode)
				if st := b.Stats(); st.HeldEvents != 0 || st.OpenWindows != 0 {
					t.Errorf("after the end: %d open windows holding %d events", st.OpenWindows, st.HeldEvents)
				}
			})
		}
	}
}

func checkSettled(t *testing.T, c sessionCase, fe *fakeEmitter, mode AckMode) {
	t.Helper()
	acked := map[int64]int{}
	for _, a := range fe.acks {
		if a.Source == caseEvents {
			acked[a.Int(2)]++
		}
	}
	for i, it := range c.Input {
		if it.Key != nil && acked[int64(i)] != 1 {
			t.Errorf("event %d acked %d times, want once", i, acked[int64(i)])
		}
	}
	if len(fe.fails) != 0 {
		t.Errorf("%d fails", len(fe.fails))
	}
	if mode != AckOnFire {
		for _, e := range fe.bolt {
			// Late events are anchored in both modes: they were not acked yet.
			if e.stream == sdk.DefaultStream && len(e.anchors) != 0 {
				t.Errorf("%s: emit on %q anchored to %d inputs, want unanchored", mode, e.stream, len(e.anchors))
			}
		}
		return
	}
	// Each session result is anchored to exactly its events, all unacked
	// at the time of the emit.
	ackedBefore := map[int64]bool{}
	ai := 0
	for _, e := range fe.order {
		switch e.kind {
		case "ack":
			if a := fe.acks[ai]; a.Source == caseEvents {
				ackedBefore[a.Int(2)] = true
			}
			ai++
		case "emit":
			em := fe.bolt[e.i]
			if em.stream != sdk.DefaultStream {
				continue
			}
			if int64(len(em.anchors)) != em.values[3].Int() {
				t.Errorf("result %v anchored to %d inputs, want its %d events", em.values, len(em.anchors), em.values[3].Int())
			}
			for _, a := range em.anchors {
				if ackedBefore[a.Int(2)] {
					t.Errorf("result %v anchored to event %d, which was acked before", em.values, a.Int(2))
				}
			}
		}
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func show(ss []caseSession) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n  %s [%d,%d] events %v fired at %d", s.Key, s.Start, s.End, s.Events, s.FiredAt)
	}
	return b.String()
}
