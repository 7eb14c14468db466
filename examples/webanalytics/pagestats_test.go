package webanalytics

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

// errorsOf records what a bolt reports besides its emits.
type errorsOf struct {
	emits
	errs []error
	acks int
}

func (e *errorsOf) ReportError(err error) { e.errs = append(e.errs, err) }
func (e *errorsOf) Ack(*sdk.Tuple)        { e.acks++ }

// A task tracks at most webanalytics.max_pages pages: page paths come from
// anyone's tracker, and each costs heatmaps here and in the dashboard.
// Events of further pages are acked, counted and reported, not tracked.
func TestPageStatsTracksAtMostMaxPages(t *testing.T) {
	b := NewPageStats()
	rec := &errorsOf{}
	tc := &sdk.TaskContext{Config: sdk.Config{KeyMaxPages: sdk.Int(2)}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.Prepare(t.Context(), tc, sdk.NewBoltCollector(rec)); err != nil {
		t.Fatal(err)
	}
	for i, page := range []string{"/a", "/b", "/c", "/a", "/d", "/c"} {
		b.Execute(ev(int64(1000+i), "move", page, 10, 10, "", sdk.Null()))
	}
	if rec.acks != 6 || b.Untracked() != 3 {
		t.Fatalf("%d acked, %d untracked: want every event acked and the 3 of /c and /d untracked", rec.acks, b.Untracked())
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0].Error(), `the last for "/c"`) || !strings.Contains(rec.errs[0].Error(), KeyMaxPages) {
		t.Fatalf("reported %v, want one error naming the page and %s", rec.errs, KeyMaxPages)
	}
	b.Execute(&sdk.Tuple{Source: sdk.TickSource})
	var pages []string
	for _, v := range rec.values {
		pages = append(pages, v[0].Str())
	}
	if slices.Sort(pages); !slices.Equal(pages, []string{"/a", "/b"}) {
		t.Fatalf("snapshots of %v, want /a and /b", pages)
	}
	for _, bad := range []int64{0, 2_000_000} {
		tc.Config[KeyMaxPages] = sdk.Int(bad)
		if err := NewPageStats().Prepare(t.Context(), tc, sdk.NewBoltCollector(rec)); err == nil || !strings.Contains(err.Error(), KeyMaxPages) {
			t.Fatalf("max_pages %d: Prepare = %v, want an error naming the key", bad, err)
		}
	}
}
