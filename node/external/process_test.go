package external

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLineLimiter(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := lineLimiter{tokens: logBurst, last: t0}
	logged := 0
	for range logBurst + 500 {
		if ok, _ := l.allow(t0); ok {
			logged++
		}
	}
	if logged != logBurst || l.dropped != 500 {
		t.Fatalf("a burst of %d lines: logged %d, dropped %d; want %d and 500", logBurst+500, logged, l.dropped, logBurst)
	}
	// A second later logRate lines may go, and the first reports the drop.
	ok, dropped := l.allow(t0.Add(time.Second))
	if !ok || dropped != 500 {
		t.Fatalf("after a second: ok %v, dropped %d; want true and 500", ok, dropped)
	}
	for range logRate - 1 {
		if ok, _ := l.allow(t0.Add(time.Second)); !ok {
			t.Fatal("the second's allowance ran out early")
		}
	}
	if ok, _ := l.allow(t0.Add(time.Second)); ok {
		t.Fatal("more than the rate went through")
	}
	// Under a steady flood, drops are reported once a second, not with
	// every line let through.
	reports := 0
	for ms := 1; ms <= 3000; ms++ {
		now := t0.Add(time.Second + time.Duration(ms)*time.Millisecond)
		for range 10 {
			if _, d := l.allow(now); d > 0 {
				reports++
			}
		}
	}
	if reports != 3 {
		t.Fatalf("%d drop reports in 3 s of flood, want 3", reports)
	}
}

// recordHandler keeps the messages and attributes logged to it.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// A process printing far more than the limit at once: the node logs the
// burst, then lines counting what it dropped; the tail for error reports
// still has the last lines.
func TestPipeLinesRateLimitsOutput(t *testing.T) {
	const n = logBurst + 3000
	var out strings.Builder
	for i := range n {
		fmt.Fprintf(&out, "traceback line %d\n", i)
	}
	h := &recordHandler{}
	tail := &lastLines{max: 3}
	(&Supervisor{}).pipeLines(strings.NewReader(out.String()), slog.New(h), slog.LevelWarn, tail)
	logged, reports := 0, 0
	dropped := 0
	for _, m := range h.msgs {
		if strings.HasPrefix(m, "external process output was rate-limited") {
			reports++
			var d int
			fmt.Sscanf(m[strings.Index(m, "dropped_lines=")+len("dropped_lines="):], "%d", &d)
			dropped += d
			continue
		}
		logged++
	}
	// The reader is fast but not instant: a few lines more may pass as
	// tokens refill, each resumption reporting what it dropped before.
	if logged >= n || logged < logBurst || reports == 0 || logged+dropped != n {
		t.Fatalf("logged %d lines and %d reports (dropped %d) of %d; want the burst, reports, nothing unaccounted", logged, reports, dropped, n)
	}
	if !strings.Contains(tail.String(), fmt.Sprintf("traceback line %d", n-1)) {
		t.Fatalf("tail %q lacks the last line", tail.String())
	}
}
