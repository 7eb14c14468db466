package wordcount

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// openSpout opens task index of tasks spout tasks with conf.
func openSpout(t testing.TB, conf map[string]any, index, tasks int) (*SentenceSpout, *fakeEmitter, *logBuffer) {
	t.Helper()
	s, fe, log, err := tryOpenSpout(conf, index, tasks, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, fe, log
}

func tryOpenSpout(conf map[string]any, index, tasks int, now func() time.Time) (*SentenceSpout, *fakeEmitter, *logBuffer, error) {
	fe, log := &fakeEmitter{}, &logBuffer{}
	s := NewSentenceSpout()
	if now != nil {
		s.now = now
	}
	err := s.Open(context.Background(), newTC("sentences", index, tasks, conf, log), sdk.NewSpoutCollector(fe))
	return s, fe, log, err
}

// writeFile writes content to a new file in a test folder.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// drainSpout calls NextTuple until end of input, acking nothing, and
// returns the emits in order. It fails the test if the end never comes.
func drainSpout(t testing.TB, s *SentenceSpout, fe *fakeEmitter) []spoutEmit {
	t.Helper()
	for i := 0; fe.ends == 0; i++ {
		if i > 10_000_000 {
			t.Fatal("no end of input")
		}
		s.NextTuple()
	}
	return fe.takeSpout()
}

func emitLines(es []spoutEmit) (ids []uint64, lines []string) {
	for _, e := range es {
		ids = append(ids, e.msgID)
		lines = append(lines, e.values[0].Str())
	}
	return ids, lines
}

func TestSentenceSpoutPartitionsLines(t *testing.T) {
	long := strings.Repeat("long line of words ", 10_000) // ~190 KB > the read buffer
	want := []string{
		"zero", "", "two (CRLF)", "three", long, long + "!", "six\twith tab",
		"", "eight", "nine \r inner CR kept", long + "?", "eleven", "twelve",
		"thirteen, last without newline",
	}
	var content strings.Builder
	for i, l := range want {
		content.WriteString(l)
		switch {
		case i == len(want)-1: // no newline after the last line
		case i == 2:
			content.WriteString("\r\n")
		default:
			content.WriteString("\n")
		}
	}
	path := writeFile(t, "in.txt", content.String())

	const n = 3
	seen := make([]bool, len(want))
	for idx := range n {
		s, fe, _ := openSpout(t, map[string]any{KeyInput: path}, idx, n)
		es := drainSpout(t, s, fe)
		var wantIDs []uint64
		var wantLines []string
		for k := idx; k < len(want); k += n {
			wantIDs = append(wantIDs, uint64(k+1))
			wantLines = append(wantLines, want[k])
		}
		ids, lines := emitLines(es)
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("task %d of %d: message ids %v, want %v", idx, n, ids, wantIDs)
		}
		if !slices.Equal(lines, wantLines) {
			t.Errorf("task %d of %d: lines differ:\n got %.80q\nwant %.80q", idx, n, lines, wantLines)
		}
		for _, e := range es {
			if e.stream != "" || !e.reliable || len(e.values) != 1 || e.values[0].Kind() != sdk.KindString {
				t.Errorf("emit %+v: want one reliable string on the default stream", e)
			}
			seen[e.msgID-1] = true
		}
		if len(s.pending) != len(wantIDs) {
			t.Errorf("task %d: %d pending lines, want %d (none acked)", idx, len(s.pending), len(wantIDs))
		}
		for _, id := range ids {
			s.Ack(id)
		}
		if len(s.pending) != 0 {
			t.Errorf("task %d: %d lines pending after acking all", idx, len(s.pending))
		}
		if fe.ends != 1 {
			t.Errorf("task %d: End called %d times, want 1", idx, fe.ends)
		}
	}
	for k, ok := range seen {
		if !ok {
			t.Errorf("line %d was emitted by no task", k)
		}
	}
}

// The file is read lazily: one NextTuple reads about one batch of lines.
func TestSentenceSpoutReadsLazily(t *testing.T) {
	path := writeFile(t, "in.txt", strings.Repeat("a line\n", 200_000))
	s, fe, _ := openSpout(t, map[string]any{KeyInput: path, KeyBatch: 64}, 1, 2)
	s.NextTuple()
	if got := len(fe.takeSpout()); got != 64 {
		t.Fatalf("first call emitted %d, want a batch of 64", got)
	}
	if s.lineNo > 2*64+1 {
		t.Fatalf("read %d lines for one batch of 64 of 2 tasks: the file is not read lazily", s.lineNo)
	}
}

func TestSentenceSpoutReplaysFailedBeforeNew(t *testing.T) {
	path := writeFile(t, "in.txt", "l1\nl2\nl3\nl4\nl5\nl6\nl7\n")
	s, fe, _ := openSpout(t, map[string]any{KeyInput: path, KeyBatch: 2}, 0, 1)
	next := func() []uint64 {
		s.NextTuple()
		ids, _ := emitLines(fe.takeSpout())
		return ids
	}
	expect := func(got, want []uint64) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("emitted %v, want %v", got, want)
		}
	}
	expect(next(), []uint64{1, 2})
	s.Fail(1)
	expect(next(), []uint64{1, 3}) // the replay comes first, then new lines
	s.Ack(1)
	s.Fail(3)
	s.Fail(2)
	expect(next(), []uint64{3, 2}) // replays in the order they failed
	s.Ack(2)
	s.Fail(2) // a fail after the ack is ignored
	s.Fail(3)
	s.Fail(3) // failing twice before the replay queues it once
	expect(next(), []uint64{3, 4})
	s.Fail(4)
	s.Ack(4) // acked while queued (a late ack): nothing to replay
	expect(next(), []uint64{5, 6})
	expect(next(), []uint64{7})
	if fe.ends != 1 {
		t.Fatalf("End called %d times after the last line, want 1", fe.ends)
	}
	// After the end of input, failed lines are still replayed.
	s.Fail(6)
	expect(next(), []uint64{6})
	s.Fail(6)
	s.Fail(7)
	expect(next(), []uint64{6, 7})
	if fe.ends != 1 {
		t.Fatalf("End called %d times, want exactly 1", fe.ends)
	}
	if got := s.pending[6].line; got != "l6" {
		t.Fatalf("pending line 6 = %q, want l6", got)
	}
}

// The replayed tuple carries the same line and message id as the original.
func TestSentenceSpoutReplayIsIdentical(t *testing.T) {
	path := writeFile(t, "in.txt", "Ça, c'est naïve!\r\nsecond\n")
	s, fe, _ := openSpout(t, map[string]any{KeyInput: path}, 0, 1)
	s.NextTuple()
	first := fe.takeSpout()
	s.Fail(1)
	s.NextTuple()
	again := fe.takeSpout()
	if len(first) != 2 || len(again) != 1 || !again[0].values[0].Equal(first[0].values[0]) || again[0].msgID != 1 {
		t.Fatalf("first %+v, replay %+v: want line 1 again", first, again)
	}
	if got := again[0].values[0].Str(); got != "Ça, c'est naïve!" {
		t.Fatalf("replayed %q", got)
	}
}

func TestSentenceSpoutEndsOnce(t *testing.T) {
	for _, content := range []string{"", "\n", "one\ntwo\n", "no newline at all"} {
		path := writeFile(t, "in.txt", content)
		s, fe, _ := openSpout(t, map[string]any{KeyInput: path}, 0, 1)
		for range 100 {
			s.NextTuple()
		}
		if fe.ends != 1 {
			t.Errorf("%q: End called %d times, want 1", content, fe.ends)
		}
		wantLines := strings.Count(content, "\n")
		if content != "" && !strings.HasSuffix(content, "\n") {
			wantLines++
		}
		if got := len(fe.spout); got != wantLines {
			t.Errorf("%q: %d lines emitted, want %d", content, got, wantLines)
		}
		if s.src != nil {
			t.Errorf("%q: the input is still open after the end", content)
		}
	}
}

func TestSentenceSpoutMaxRetries(t *testing.T) {
	for _, max := range []int{0, 1, 3} {
		path := writeFile(t, "in.txt", "fragile\nsturdy\n")
		s, fe, log := openSpout(t, map[string]any{KeyInput: path, KeyMaxRetries: max}, 0, 1)
		s.NextTuple()
		fe.takeSpout()
		s.Ack(2)
		replays := 0
		for {
			s.Fail(1)
			s.NextTuple()
			if len(fe.takeSpout()) == 0 {
				break
			}
			replays++
			if replays > 10 {
				t.Fatalf("max %d: still replaying", max)
			}
		}
		if replays != max {
			t.Errorf("max_retries=%d: %d replays, want %d", max, replays, max)
		}
		if len(s.pending) != 0 {
			t.Errorf("max_retries=%d: the dropped line is still pending", max)
		}
		if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "dropping sentence") {
			t.Errorf("max_retries=%d: no error logged for the dropped line; log:\n%s", max, log)
		}
		if len(fe.errs) != 1 || !strings.Contains(fe.errs[0].Error(), "line 1") {
			t.Errorf("max_retries=%d: reported errors %v, want one about line 1", max, fe.errs)
		}
	}
}

func TestSentenceSpoutUnlimitedRetriesByDefault(t *testing.T) {
	s, fe, _ := openSpout(t, map[string]any{KeyInput: writeFile(t, "in.txt", "x\n")}, 0, 1)
	s.NextTuple()
	for range 1000 {
		fe.takeSpout()
		s.Fail(1)
		s.NextTuple()
		if len(fe.spout) != 1 {
			t.Fatal("line dropped with the default (unlimited) max_retries")
		}
	}
}

func TestSentenceSpoutBatch(t *testing.T) {
	path := writeFile(t, "in.txt", strings.Repeat("x\n", 10))
	s, fe, _ := openSpout(t, map[string]any{KeyInput: path, KeyBatch: "3"}, 0, 1)
	var sizes []int
	for fe.ends == 0 {
		s.NextTuple()
		sizes = append(sizes, len(fe.takeSpout()))
	}
	if want := []int{3, 3, 3, 1}; !slices.Equal(sizes, want) && !slices.Equal(sizes, append(want, 0)) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	// Replays count against the batch too.
	for id := uint64(1); id <= 10; id++ {
		s.Fail(id)
	}
	s.NextTuple()
	if got := len(fe.takeSpout()); got != 3 {
		t.Fatalf("replay batch of %d, want 3", got)
	}
}

// With a fake clock the token bucket is exact.
func TestSentenceSpoutRateTokenBucket(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	path := writeFile(t, "in.txt", strings.Repeat("x\n", 1000))
	s, fe, _, err := tryOpenSpout(map[string]any{KeyInput: path, KeyRate: 10}, 0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	step := func(d time.Duration, want int) {
		t.Helper()
		clock = clock.Add(d)
		s.NextTuple()
		if got := len(fe.takeSpout()); got != want {
			t.Fatalf("after %v: emitted %d, want %d", d, got, want)
		}
	}
	step(0, 10)                   // a full bucket: one second's worth
	step(0, 0)                    // empty
	step(50*time.Millisecond, 0)  // half a token
	step(50*time.Millisecond, 1)  // one token
	step(500*time.Millisecond, 5) // five tokens
	step(time.Hour, 10)           // capped at the burst
	step(250*time.Millisecond, 2) // 2.5 tokens: two now...
	step(50*time.Millisecond, 1)  // ...and the half carried over
	s.Fail(1)                     // replays are limited too
	step(100*time.Millisecond, 1) // one token: the replay
	step(time.Second/10*3, 3)     // then new lines
	step(0, 0)
}

// Once the file ended, a rate-limited spout replays a failed line on the
// next call, with no token left: the runtime ends a spout whose call after
// End emits nothing while nothing is pending, and a replay waiting for a
// token was lost (a helper's failover runs lost the ids that failed after
// the last new one).
func TestSentenceSpoutReplaysAfterTheEndAtOnce(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	path := writeFile(t, "in.txt", "a\nb\nc\n")
	s, fe, _, err := tryOpenSpout(map[string]any{KeyInput: path, KeyRate: 3}, 0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.NextTuple() // the whole burst: every line
	if got := len(fe.takeSpout()); got != 3 {
		t.Fatalf("emitted %d lines, want 3", got)
	}
	s.NextTuple() // no token: reads the end of the file
	if fe.ends != 1 {
		t.Fatalf("End called %d times, want 1", fe.ends)
	}
	s.Fail(2)
	s.Fail(3)
	s.NextTuple() // still no token
	ids, _ := emitLines(fe.takeSpout())
	if !slices.Equal(ids, []uint64{2, 3}) {
		t.Fatalf("replayed %v after the end with no token, want [2 3]", ids)
	}
}

// With the real clock, a rate-limited spout returns quickly from every
// call and emits about rate x elapsed (plus the initial burst).
func TestSentenceSpoutRateDoesNotBlock(t *testing.T) {
	const rate = 50
	path := writeFile(t, "in.txt", strings.Repeat("x\n", 10_000))
	s, fe, _ := openSpout(t, map[string]any{KeyInput: path, KeyRate: rate}, 0, 1)
	var longest time.Duration // the longest sleep NextTuple asked for
	sleeps := 0
	s.sleep = func(d time.Duration) {
		longest, sleeps = max(longest, d), sleeps+1
		time.Sleep(d)
	}
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		s.NextTuple()
	}
	elapsed := time.Since(start)
	got := len(fe.spout)
	burst := min(rate, DefaultSpoutConfig().Batch)
	maxWant := burst + int(elapsed.Seconds()*rate) + 1
	if got < burst || got > maxWant {
		t.Errorf("emitted %d in %v at %d/s, want %d..%d", got, elapsed, rate, burst, maxWant)
	}
	// Out of tokens, NextTuple sleeps at most maxIdleSleep, never until
	// the next token (20 ms at this rate): what it asks for, not how long
	// the machine took (a timed bound failed on a loaded machine).
	if sleeps == 0 || longest > maxIdleSleep {
		t.Errorf("NextTuple slept %d times, the longest %v; want some sleeps of at most %v", sleeps, longest, maxIdleSleep)
	}
}

// An idle rate-limited spout (everything emitted, nothing to replay) does
// not sleep at all.
func TestSentenceSpoutRateIdleDoesNotSleep(t *testing.T) {
	s, fe, _ := openSpout(t, map[string]any{KeyInput: writeFile(t, "in.txt", "a\n"), KeyRate: 0.001}, 0, 1)
	s.NextTuple() // the one token of the burst
	s.NextTuple() // end of input
	if len(fe.spout) != 1 || fe.ends != 1 {
		t.Fatalf("emits %d ends %d", len(fe.spout), fe.ends)
	}
	start := time.Now()
	for range 1000 {
		s.NextTuple()
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("1000 idle calls took %v: an idle spout must not sleep", d)
	}
}

func TestSentenceSpoutSample(t *testing.T) {
	s, fe, _ := openSpout(t, nil, 0, 1)
	_, lines := emitLines(drainSpout(t, s, fe))
	want := strings.Split(strings.TrimSuffix(sample, "\n"), "\n")
	if !slices.Equal(lines, want) {
		t.Fatalf("sample: emitted %d lines, want the %d lines of sample.txt", len(lines), len(want))
	}
	if len(lines) < 150 {
		t.Errorf("sample has %d lines, want about 200", len(lines))
	}
	text := strings.Join(lines, "\n")
	if !strings.ContainsAny(text, "0123456789") || !strings.ContainsAny(text, "çéïüøłØÅ") ||
		!strings.ContainsAny(text, ",;:!?\"") || !slices.Contains(lines, "") {
		t.Error("sample lacks digits, non-ASCII letters, punctuation or an empty line")
	}
}

func TestSentenceSpoutOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such.txt")
	_, _, _, err := tryOpenSpout(map[string]any{KeyInput: missing}, 0, 1, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want one naming %s and matching fs.ErrNotExist", err, missing)
	}
	dir := t.TempDir()
	if _, _, _, err := tryOpenSpout(map[string]any{KeyInput: dir}, 0, 1, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: error %v, want one naming %s", err, dir)
	}
	for _, bad := range []map[string]any{
		{KeyBatch: 0},
		{KeyBatch: "many"},
		{KeyRate: -1},
		{KeyRate: "fast"},
		{KeyMaxRetries: -2},
	} {
		_, _, _, err := tryOpenSpout(bad, 0, 1, nil)
		var key string
		for k := range bad {
			key = k
		}
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("config %v: error %v, want one naming %s", bad, err, key)
		}
	}
	if _, _, _, err := tryOpenSpout(nil, 3, 3, nil); err == nil {
		t.Error("task index 3 of 3 accepted")
	}
}

func TestSpoutConfigFrom(t *testing.T) {
	c, err := SpoutConfigFrom(sdk.Config{
		KeyInput: sdk.String("in.txt"), KeyBatch: sdk.String("16"),
		KeyRate: sdk.Double(2.5), KeyMaxRetries: sdk.Int(4),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (SpoutConfig{Input: "in.txt", Batch: 16, Rate: 2.5, MaxRetries: 4}); c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	c, err = SpoutConfigFrom(nil)
	if err != nil || c != DefaultSpoutConfig() {
		t.Fatalf("empty config: %+v %v, want the defaults", c, err)
	}
}

// Under steady failures the retry queue never drains; it must stay
// bounded by the lines in flight rather than grow with every failure.
func TestSentenceSpoutRetryQueueStaysBounded(t *testing.T) {
	path := writeFile(t, "in.txt", strings.Repeat("x\n", 5000))
	s, fe, _ := openSpout(t, map[string]any{KeyInput: path, KeyBatch: 100}, 0, 1)
	for range 60 {
		s.NextTuple()
	}
	ids, _ := emitLines(fe.takeSpout())
	for _, id := range ids {
		s.Fail(id)
	}
	for range 2000 {
		s.NextTuple()
		replayed, _ := emitLines(fe.takeSpout())
		for _, id := range replayed {
			s.Fail(id)
		}
	}
	if inFlight := len(s.pending); cap(s.retry) > 4*inFlight+2048 {
		t.Fatalf("retry queue capacity %d for %d lines in flight", cap(s.retry), inFlight)
	}
	if len(s.pending) != len(ids) {
		t.Fatalf("%d lines pending, want %d", len(s.pending), len(ids))
	}
}
