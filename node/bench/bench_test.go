package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestHarnessSmoke runs every scenario briefly so the harness cannot rot;
// it asserts that tuples flowed, not how fast (no timed assertions).
func TestHarnessSmoke(t *testing.T) {
	rs, err := Run(context.Background(), Options{Window: 200 * time.Millisecond, Warmup: 100 * time.Millisecond, Loads: []string{"max", "half"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 8 {
		t.Fatalf("%d results, want 8", len(rs))
	}
	for _, r := range rs {
		if r.Rate <= 0 {
			t.Fatalf("%+v: no tuples flowed", r)
		}
		if r.Acking && r.P99 <= 0 {
			t.Fatalf("%+v: no complete latency with acking on", r)
		}
	}
	if testing.Verbose() {
		PrintTable(os.Stdout, rs)
	}
}

func benchmark(b *testing.B, scenario string, acking bool) {
	rs, err := Run(context.Background(), Options{Window: 2 * time.Second, Warmup: 500 * time.Millisecond, Scenarios: []string{scenario}, Loads: []string{"max", "half"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rs {
		if r.Acking != acking {
			continue
		}
		switch r.Load {
		case "max":
			b.ReportMetric(r.Rate, "tuples/s")
			b.ReportMetric(r.Baseline, "baseline-tuples/s")
			b.ReportMetric(r.Ratio(), "ratio")
		case "half":
			if acking {
				b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs@half")
			}
		}
	}
}

func BenchmarkWordCountAcking(b *testing.B)     { benchmark(b, "wordcount", true) }
func BenchmarkWordCountNoAcking(b *testing.B)   { benchmark(b, "wordcount", false) }
func BenchmarkPassThroughAcking(b *testing.B)   { benchmark(b, "passthrough", true) }
func BenchmarkPassThroughNoAcking(b *testing.B) { benchmark(b, "passthrough", false) }
