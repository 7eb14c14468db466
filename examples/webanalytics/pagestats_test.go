package webanalytics

import (
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

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

// At the cap, a new page takes the place of one idle for pageIdleEvict,
// which leaves the dashboard too: made-up paths posted once do not lock
// real pages out for good.
func TestPageStatsEvictsAnIdlePageAtTheCap(t *testing.T) {
	b := NewPageStats()
	rec := &errorsOf{}
	tc := &sdk.TaskContext{Config: sdk.Config{KeyMaxPages: sdk.Int(2)}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.Prepare(t.Context(), tc, sdk.NewBoltCollector(rec)); err != nil {
		t.Fatal(err)
	}
	b.Execute(ev(1000, "move", "/fake", 10, 10, "", sdk.Null()))
	b.Execute(ev(1001, "move", "/b", 10, 10, "", sdk.Null()))
	b.pages["/fake"].lastEvent -= (pageIdleEvict + time.Minute).Milliseconds()
	b.Execute(ev(1002, "move", "/real", 10, 10, "", sdk.Null()))
	if _, ok := b.pages["/real"]; !ok || b.Untracked() != 0 {
		t.Fatalf("pages %v, %d untracked: want /real in the place of the idle /fake", slices.Sorted(maps.Keys(b.pages)), b.Untracked())
	}
	if len(rec.values) != 1 || rec.values[0][0].Str() != "/fake" || !strings.Contains(rec.values[0][1].Str(), `"evicted":true`) {
		t.Fatalf("emitted %v, want /fake's eviction", rec.values)
	}
	// A page that is not idle keeps its place: the next new one is untracked.
	b.evictScan = time.Time{}
	b.Execute(ev(1003, "move", "/other", 10, 10, "", sdk.Null()))
	if b.Untracked() != 1 {
		t.Fatalf("%d untracked, want the new page untracked while both tracked pages are active", b.Untracked())
	}

	// The dashboard drops an evicted page.
	d := NewDashboard()
	dtc := &sdk.TaskContext{Component: "dashboard", ComponentTasks: map[string][]int32{"dashboard": {1}},
		Config: sdk.Config{"dashboard.addr": sdk.String("127.0.0.1:0")}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := d.Prepare(t.Context(), dtc, sdk.NewBoltCollector(&emits{})); err != nil {
		t.Fatal(err)
	}
	defer d.Cleanup()
	src := sdk.NewSource("pages", sdk.DefaultStream, []string{"page", "snapshot"})
	d.Execute(&sdk.Tuple{Source: src, Values: []sdk.Value{sdk.String("/fake"), sdk.String(`{"page":"/fake","events":1}`)}})
	d.Execute(&sdk.Tuple{Source: src, Values: []sdk.Value{rec.values[0][0], rec.values[0][1]}})
	if _, ok := d.pages["/fake"]; ok {
		t.Fatal("the dashboard kept an evicted page")
	}
}

// Sessionizer tasks report their open sessions on every tick: a report that
// changes nothing is not pushed to the dashboards (each push sends the
// whole state), and a task that stopped reporting leaves the total.
func TestOpenReportsPushOnlyChanges(t *testing.T) {
	d := NewDashboard()
	tc := &sdk.TaskContext{Component: "dashboard", ComponentTasks: map[string][]int32{"dashboard": {1}},
		Config: sdk.Config{"dashboard.addr": sdk.String("127.0.0.1:0")}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := d.Prepare(t.Context(), tc, sdk.NewBoltCollector(&emits{})); err != nil {
		t.Fatal(err)
	}
	defer d.Cleanup()
	src := sdk.NewSource("sessions", OpenStream, []string{"open"})
	report := func(task int32, n int64) uint64 {
		d.Execute(&sdk.Tuple{Source: src, SourceTask: task, Values: []sdk.Value{sdk.Int(n)}})
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.version
	}
	v1 := report(4, 3)
	if v2 := report(4, 3); v2 != v1 {
		t.Fatalf("an unchanged report bumped the version %d -> %d", v1, v2)
	}
	v3 := report(5, 2)
	if v3 == v1 || d.sessions.Open != 5 {
		t.Fatalf("version %d (was %d), open %d: want a push and 5 open", v3, v1, d.sessions.Open)
	}
	d.mu.Lock()
	r := d.sessions.openByTask[5]
	r.at = r.at.Add(-2 * openReportTTL) // task 5 went silent
	d.sessions.openByTask[5] = r
	d.mu.Unlock()
	if report(4, 3); d.sessions.Open != 3 {
		t.Fatalf("open %d after task 5 went silent, want 3", d.sessions.Open)
	}
}
