package window

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// crashRun models a task failure. Task A executes the first `cut` events
// and dies; as the spout sees it, every event A did not ack times out and
// replays. Task B, its replacement, first executes the events that follow
// (new traffic comes first, the worst case), then the replays. It returns
// the sessions of both tasks (key start end count), the indexes in B's
// late stream, and the events A acked that no emitted result contains.
func crashRun(t *testing.T, cfg Config, evs []testEvent, cut int) (sessions []string, late, lost []int64) {
	t.Helper()
	conf := map[string]any{keyTimeout: 86400}
	a := newHarness(t, cfg, conf)
	for _, e := range evs[:cut] {
		a.event(e.key, e.ts)
	}
	inResult := map[int64]bool{}
	for _, f := range a.take() {
		sessions = append(sessions, fmt.Sprintf("%s %d %d %d", f.w.Key, f.w.Start, f.w.End, len(f.idx)))
		for _, i := range f.idx {
			inResult[i] = true
		}
	}
	var replay []testEvent
	for i, e := range evs[:cut] {
		if !acked(a, int64(i+1)) {
			replay = append(replay, e)
		} else if !inResult[int64(i+1)] {
			lost = append(lost, int64(i+1))
		}
	}
	// A's harness numbered events 1..cut; B numbers its own, so map B's
	// late indexes back to event identities through ts and key.
	b := newHarness(t, cfg, conf)
	order := append(slices.Clone(evs[cut:]), replay...)
	for _, e := range order {
		b.event(e.key, e.ts)
	}
	b.finish()
	for _, f := range b.take() {
		sessions = append(sessions, fmt.Sprintf("%s %d %d %d", f.w.Key, f.w.Start, f.w.End, len(f.idx)))
	}
	for _, e := range b.fe.bolt {
		if e.stream == DefaultLateStream {
			late = append(late, e.values[2].Int())
		}
	}
	slices.Sort(sessions)
	return sessions, late, lost
}

type testEvent struct {
	key string
	ts  int64
}

// randomEvents makes n events of a few keys in time order, with sessions
// separated by gaps above and below `gap`.
func randomEvents(rng *rand.Rand, n int, gap int64) ([]testEvent, map[string][]int64) {
	var evs []testEvent
	byKey := map[string][]int64{}
	ts := int64(1_700_000_000_000)
	for range n {
		ts += rng.Int64N(gap)
		k := fmt.Sprintf("v%d", rng.IntN(5))
		evs = append(evs, testEvent{k, ts})
		byKey[k] = append(byKey[k], ts)
	}
	return evs, byKey
}

// TestAckOnFireReplayRebuildsSessions: with the events A held replayed to
// B, and an allowed lateness that covers the replay delay, the sessions of
// A and B together are exactly the reference: a failure costs no session
// and duplicates none.
func TestAckOnFireReplayRebuildsSessions(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 5))
		const gap = 100
		evs, byKey := randomEvents(rng, 400, 3*gap)
		cfg := DefaultConfig()
		cfg.Window, cfg.TimeField = Session(gap*time.Millisecond), "ts"
		cfg.AllowedLateness = time.Duration(evs[len(evs)-1].ts-evs[0].ts) * time.Millisecond
		got, late, lost := crashRun(t, cfg, evs, 100+rng.IntN(250))
		want := referenceSessions(byKey, gap)
		if !slices.Equal(got, want) || len(late) != 0 || len(lost) != 0 {
			t.Fatalf("seed %d: %d sessions (reference %d), late %v, lost %v", seed, len(got), len(want), late, lost)
		}
	}
}

// TestAckOnFireReplayTooLateIsStillDelivered: without lateness the
// replays are behind B's watermark, so they go to the late stream; every
// event is still delivered, in a session or on the late stream
// (at-least-once), and none is acked without being in a result.
func TestAckOnFireReplayTooLateIsStillDelivered(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 6))
		const gap = 100
		evs, _ := randomEvents(rng, 400, 3*gap)
		cfg := DefaultConfig()
		cfg.Window, cfg.TimeField = Session(gap*time.Millisecond), "ts"
		cut := 100 + rng.IntN(250)
		sessions, late, lost := crashRun(t, cfg, evs, cut)
		if len(lost) != 0 {
			t.Fatalf("seed %d: events %v acked by A without a result", seed, lost)
		}
		delivered := len(late)
		for _, s := range sessions {
			var k string
			var start, end, n int64
			fmt.Sscan(s, &k, &start, &end, &n)
			delivered += int(n)
		}
		if delivered != len(evs) {
			t.Fatalf("seed %d: %d events in sessions or late, want all %d", seed, delivered, len(evs))
		}
		if len(late) == 0 {
			t.Fatalf("seed %d: no replay was late; the test does not test the case", seed)
		}
	}
}

// TestAckOnReceiptLosesOpenSessions documents the other mode: A acked what
// it held, so nothing replays and A's open sessions are lost.
func TestAckOnReceiptLosesOpenSessions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 7))
	evs, byKey := randomEvents(rng, 300, 300)
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField, cfg.Ack = Session(100*time.Millisecond), "ts", AckOnReceipt
	sessions, late, lost := crashRun(t, cfg, evs, 150)
	if len(lost) == 0 || len(late) != 0 {
		t.Fatalf("lost %v late %v: want A's open sessions lost, nothing replayed", lost, late)
	}
	n := 0
	for _, s := range sessions {
		var k string
		var start, end, c int64
		fmt.Sscan(s, &k, &start, &end, &c)
		n += int(c)
	}
	if n+len(lost) != len(evs) || slices.Equal(sessions, referenceSessions(byKey, 100)) {
		t.Fatalf("%d events in sessions + %d lost, want %d", n, len(lost), len(evs))
	}
}

// In AckOnFire mode an input is acked exactly when its window fired, and
// the result is anchored to every input of the window.
func TestAckOnFireHoldsUntilFire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Session(10*time.Millisecond), "ts"
	h := newHarness(t, cfg, nil)
	a := h.event("a", 0)
	b := h.event("a", 5)
	if acked(h, a) || acked(h, b) {
		t.Fatal("acked before the session fired")
	}
	h.event("b", 16) // watermark 16 > 5 + 10: a's session fires
	if !acked(h, a) || !acked(h, b) {
		t.Fatal("not acked after the session fired")
	}
	res := h.fe.bolt[0]
	if len(res.anchors) != 2 || res.anchors[0].Int(2) != a || res.anchors[1].Int(2) != b {
		t.Fatalf("result anchored to %d inputs, want both events", len(res.anchors))
	}
	// The result was emitted before the acks.
	if h.fe.order[0].kind != "emit" {
		t.Fatalf("first action %v, want the result's emit", h.fe.order[0])
	}
	// With acking off there is nothing to hold.
	h2 := newHarness(t, cfg, map[string]any{keyAckers: 0})
	h2.event("a", 0)
	if len(h2.fe.acks) != 1 {
		t.Fatal("with acking off the input is acked at once")
	}
}

// A session longer than the message timeout: its held events have their
// timeout reset every third of it (on the inputs that come), so its first
// event is not replayed while the session is open; once fired and acked,
// its events are no longer touched.
func TestAckOnFireResetsTheTimeoutOfHeldEvents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Session(10*time.Second), "ts"
	h := newHarness(t, cfg, map[string]any{keyTimeout: 30})
	clock := time.Unix(1000, 0)
	h.b.now = func() time.Time { return clock }
	h.b.lastTouch = clock
	touchesOf := func(idx int64) (n int) {
		for _, r := range h.fe.resets {
			if r.Int(2) == idx {
				n++
			}
		}
		return n
	}
	first := h.event("a", 0)
	for s := int64(5); s <= 60; s += 5 { // one event every 5 s for a minute
		clock = clock.Add(5 * time.Second)
		h.event("a", s*1000)
	}
	if n := touchesOf(first); n != 6 {
		t.Fatalf("the session's first event had its timeout reset %d times in 60 s, want 6 (every 10 s)", n)
	}
	if acked(h, first) {
		t.Fatal("acked before the session fired")
	}
	h.event("b", 200_000) // the watermark passes a's session: it fires
	if !acked(h, first) {
		t.Fatal("not acked after the session fired")
	}
	clock = clock.Add(10 * time.Second)
	b := h.event("b", 201_000)
	if n := touchesOf(first); n != 6 {
		t.Fatalf("a fired event had its timeout reset again (%d times)", n)
	}
	if touchesOf(b-1) != 1 || h.b.Stats().Touches != 7 {
		t.Fatalf("the open session's event touched %d times in %d rounds, want 1 in 7", touchesOf(b-1), h.b.Stats().Touches)
	}
}

// Memory: a session holds its events (Clones), nothing else grows with
// traffic; fired sessions leave no trace.
func TestNoStateLeftAfterFire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.TimeField = Session(10*time.Millisecond), "ts"
	h := newHarness(t, cfg, nil)
	for i := range 10_000 {
		h.event(fmt.Sprintf("k%d", i), int64(i*100))
	}
	st := h.b.Stats()
	eng := h.b.eng.(*sessionEngine)
	if st.OpenWindows != 1 || st.HeldEvents != 1 || len(eng.keys) != 1 || st.Fired != 9999 {
		t.Fatalf("stats %+v keys %d: want only the last session open", st, len(eng.keys))
	}
	_ = sdk.DefaultStream
}
