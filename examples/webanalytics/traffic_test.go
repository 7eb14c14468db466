package webanalytics

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is the runtime in these tests: it keeps the emitted tuples.
type recorder struct {
	ids    []uint64
	tuples [][]sdk.Value
}

func (r *recorder) EmitBolt(string, []*sdk.Tuple, []sdk.Value, int32) {}
func (r *recorder) EmitSpout(_ string, id uint64, _ bool, v []sdk.Value, _ int32) {
	r.ids = append(r.ids, id)
	r.tuples = append(r.tuples, slices.Clone(v))
}
func (r *recorder) Ack(*sdk.Tuple)    {}
func (r *recorder) Fail(*sdk.Tuple)   {}
func (r *recorder) ReportError(error) {}
func (r *recorder) EndOfInput()       {}

// startIngest opens an ingest spout on a free port, pumping and acking
// its tuples on a goroutine; stop returns every tuple emitted.
func startIngest(t *testing.T, conf sdk.Config) (baseURL string, stop func() [][]sdk.Value) {
	t.Helper()
	conf[ingest.KeyAddr] = sdk.String("127.0.0.1:0")
	s := ingest.New()
	rec := &recorder{}
	tc := &sdk.TaskContext{Component: "ingest", Config: conf, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.Open(t.Context(), tc, sdk.NewSpoutCollector(rec)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			s.NextTuple()
			for _, id := range rec.ids {
				s.Ack(id)
			}
			rec.ids = rec.ids[:0]
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return s.URL(), func() [][]sdk.Value {
		close(done)
		<-finished
		s.NextTuple() // whatever arrived last
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		return rec.tuples
	}
}

func TestTrafficReachesTheIngest(t *testing.T) {
	base, stop := startIngest(t, sdk.Config{})
	cfg := DefaultTrafficConfig()
	cfg.Target = base + ingest.EventsPath
	cfg.Visitors, cfg.Rate, cfg.Duration = 20, 3000, 1500*time.Millisecond
	cfg.Visit, cfg.Away = 400*time.Millisecond, 200*time.Millisecond // sessions end and start within the run
	cfg.FlushEvery = 100 * time.Millisecond
	cfg.Seed = 42
	rep, err := Traffic(t.Context(), cfg)
	tuples := stop()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != rep.Generated || rep.Accepted == 0 || uint64(len(tuples)) != rep.Accepted {
		t.Fatalf("generated %d, accepted %d, emitted %d", rep.Generated, rep.Accepted, len(tuples))
	}
	if rep.Rate() < 1000 {
		t.Errorf("only %.0f events/s of 3000", rep.Rate())
	}
	byType := map[string]int{}
	visitors := map[string]bool{}
	var ctaClicks uint64
	lastTS := map[string]int64{}
	gaps := 0
	for _, v := range tuples {
		typ := v[ingest.IdxType].Str()
		byType[typ]++
		vis := v[ingest.IdxVisitor].Str()
		visitors[vis] = true
		if typ == ingest.TypeClick && v[ingest.IdxTarget].Str() == CTASelector {
			ctaClicks++
		}
		if typ == ingest.TypeMove || typ == ingest.TypeClick {
			x, y, vw := v[ingest.IdxX].Int(), v[ingest.IdxY].Int(), v[ingest.IdxVW].Int()
			if x < 0 || x >= vw || y < 0 || y >= v[ingest.IdxDH].Int() {
				t.Fatalf("cursor off the page: %v", v)
			}
		}
		ts := v[ingest.IdxTS].Int()
		if prev, ok := lastTS[vis]; ok && ts-prev >= 150 {
			gaps++
		}
		lastTS[vis] = ts
	}
	for _, typ := range []string{"pageview", "move", "click", "scroll", "visibility"} {
		if byType[typ] == 0 {
			t.Errorf("no %s events: %v", typ, byType)
		}
	}
	if byType["move"] < len(tuples)/2 {
		t.Errorf("moves should dominate: %v", byType)
	}
	if ctaClicks == 0 || ctaClicks != rep.CTAClicks {
		t.Errorf("CTA clicks: %d seen, %d reported", ctaClicks, rep.CTAClicks)
	}
	if rep.Sessions <= uint64(cfg.Visitors) || len(visitors) <= cfg.Visitors {
		t.Errorf("visitors should leave and arrive: %d sessions, %d distinct visitors", rep.Sessions, len(visitors))
	}
	if gaps == 0 {
		t.Errorf("no pauses within a visitor's events")
	}
	t.Logf("%d events at %.0f/s, %v, %d sessions of %d visitors", len(tuples), rep.Rate(), byType, rep.Sessions, len(visitors))
}

func TestTrafficRefusals(t *testing.T) {
	// A spout that can hold almost nothing answers 503 (retried), then the
	// generator reports the refusals.
	base, stop := startIngest(t, sdk.Config{ingest.KeyMaxPending: sdk.Int(1)})
	cfg := DefaultTrafficConfig()
	cfg.Target = base + ingest.EventsPath
	cfg.Visitors, cfg.Rate, cfg.Duration, cfg.Batch = 5, 500, 2*time.Second, 5 // long enough on a loaded machine
	rep, err := Traffic(t.Context(), cfg)
	stop()
	if err == nil || rep.Rejected == 0 || !strings.Contains(err.Error(), "413") {
		t.Fatalf("want refusals (batches larger than max_pending get 413): %+v %v", rep, err)
	}

	// Nothing listening: a clear error, quickly.
	cfg.Target = "http://127.0.0.1:1/events"
	cfg.Duration = 10 * time.Second
	start := time.Now()
	_, err = Traffic(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no event was accepted") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("unreachable target: %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("took %v to give up on an unreachable target", d)
	}

	// Bad settings name the flag.
	for _, c := range []struct {
		mod  func(*TrafficConfig)
		flag string
	}{
		{func(c *TrafficConfig) { c.Target = "ftp://x" }, "--target"},
		{func(c *TrafficConfig) { c.Visitors = 0 }, "--visitors"},
		{func(c *TrafficConfig) { c.Rate = 0 }, "--rate"},
		{func(c *TrafficConfig) { c.Duration = -1 }, "--duration"},
		{func(c *TrafficConfig) { c.Batch = 0 }, "--batch"},
	} {
		cfg := DefaultTrafficConfig()
		c.mod(&cfg)
		if _, err := Traffic(context.Background(), cfg); err == nil || !strings.HasPrefix(err.Error(), c.flag) {
			t.Errorf("want an error about %s, got %v", c.flag, err)
		}
	}
}
