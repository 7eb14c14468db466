package webanalytics

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
)

// Fields of the ingest spout's tuples (EVENTS.md), by index.
const (
	fVisitor = ingest.IdxVisitor
	fTS      = ingest.IdxTS
	fType    = ingest.IdxType
	fPage    = ingest.IdxPage
	fX       = ingest.IdxX
	fY       = ingest.IdxY
	fVW      = ingest.IdxVW
	fVH      = ingest.IdxVH
	fTarget  = ingest.IdxTarget
	fValue   = ingest.IdxValue
	fEvent   = ingest.IdxEvent
)

// Heatmap grid: columns across the viewport's width, and rows heatRowPx
// document pixels high (16 rows make a 16:9 screen 1280 px wide), for at
// most maxScreens such screens down the page. The dashboard draws the
// grid over the page rendered 1280 px wide. Columns follow the width,
// since pages centre their content or stretch it across; rows do not,
// since a page's vertical layout hardly changes between desktop widths:
// rows in proportion to the width (the first version) put a click on the
// demo page's button, at y 470 for every width, three rows above it for a
// visitor 1920 px wide.
const (
	heatCols       = 24
	heatRowPx      = 45
	heatRowsScreen = 16
	maxScreens     = 4
	heatRows       = heatRowsScreen * maxScreens
)

// PageStats keeps live aggregates per page (subscribe it with fields
// grouping on "page"): the visitors seen in the last
// webanalytics.active_ms (default 30000), an attention heatmap from cursor
// positions and a click heatmap (cells of a 24-column grid across the
// viewport, rows 45 document pixels high), and the conversion of the call-to-action (visitors who
// clicked an element whose selector is webanalytics.cta, default "#cta",
// over visitors who viewed the page). On each tick tuple
// (topology.tick.tuple.freq.secs) it emits a snapshot of every page that
// changed, as JSON, on fields [page, snapshot].
//
// Its inputs are acked at once: the aggregates are live views. A replayed
// event (the same ingest event id, ingest.FieldEvent) counts once, when its
// first delivery came within the latest two million events of its ingest
// run (seenEvents); events without an id count each time.
//
// A task tracks at most webanalytics.max_pages pages (default 1000): page
// paths come from the tracker, that is from anyone, and each page costs
// about 12 KB of heatmaps here and in every dashboard's state. At the cap,
// a new page takes the place of the page idle longest if that one has had
// no event for pageIdleEvict (it leaves the dashboard: a snapshot with
// "evicted": true), so that made-up paths posted once do not lock real
// pages out for good; otherwise its events are acked and only counted
// (Untracked), and the task reports them at the 1st, 10th, 100th... such
// event.
type PageStats struct {
	out       *sdk.BoltCollector
	pages     map[string]*pageState
	activeMS  int64
	cta       string
	maxPages  int
	untracked int64
	evictScan time.Time // when an idle page was last looked for (at most once a second)
	seen      seenEvents
	replays   int64
}

// pageIdleEvict is how long a page must have had no event before a new
// page may take its place at the cap.
const pageIdleEvict = 10 * time.Minute

type pageState struct {
	lastSeen  map[string]int64 // visitor -> arrival (unix ms)
	viewers   map[string]bool
	converted map[string]bool
	heat      [heatRows * heatCols]uint32
	clicks    [heatRows * heatCols]uint32
	events    uint64
	newestTS  int64 // event time of the newest event
	lastEvent int64 // arrival of the last event (unix ms)
	dirty     bool
}

// NewPageStats returns a PageStats bolt to be prepared.
func NewPageStats() *PageStats { return &PageStats{} }

// DeclareOutputFields declares [page, snapshot].
func (b *PageStats) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("page", "snapshot") }

// Prepare reads the config.
func (b *PageStats) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	b.pages = map[string]*pageState{}
	var err error
	if b.activeMS, err = tc.Config.Int(KeyActiveMS, 30000); err != nil {
		return err
	}
	if b.activeMS < 1 {
		return fmt.Errorf("config %s: must be at least 1, got %d", KeyActiveMS, b.activeMS)
	}
	b.cta = tc.Config.String(KeyCTA, "#cta")
	maxPages, err := tc.Config.Int(KeyMaxPages, 1000)
	if err != nil {
		return err
	}
	if maxPages < 1 || maxPages > 1_000_000 {
		return fmt.Errorf("config %s: must be between 1 and 1000000, got %d", KeyMaxPages, maxPages)
	}
	b.maxPages = int(maxPages)
	b.seen.sizeFor(tc)
	return nil
}

// Untracked returns how many events of pages over webanalytics.max_pages
// the task counted without tracking them.
func (b *PageStats) Untracked() int64 { return b.untracked }

// Replays returns how many replayed events the task recognised and did
// not count again.
func (b *PageStats) Replays() int64 { return b.replays }

// cell maps a document position, seen in a viewport vw pixels wide, to a
// heatmap cell, or -1.
func cell(x, y, vw int64) int {
	if vw <= 0 || x < 0 || y < 0 {
		return -1
	}
	col := x * heatCols / vw
	row := y / heatRowPx
	if col >= heatCols {
		col = heatCols - 1
	}
	if row >= heatRows {
		return -1 // below the part of the page the map covers
	}
	return int(row)*heatCols + int(col)
}

// Execute folds one event into its page's aggregates, or emits the
// snapshots on a tick.
func (b *PageStats) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		b.flush(time.Now().UnixMilli())
		return
	}
	if !b.seen.firstTuple(t) {
		b.replays++
		b.out.Ack(t)
		return
	}
	page := t.Str(fPage)
	p := b.pages[page]
	if p == nil {
		if len(b.pages) >= b.maxPages && !b.evictIdle() {
			b.untracked++
			if n := b.untracked; isPowerOf10(n) {
				b.out.ReportError(fmt.Errorf("%s: %d events of pages beyond the %d this task tracks (%s), the last for %q, were counted but not tracked: "+
					"page paths come from the tracker; raise %s if the site has that many pages", ClassPageStats, n, b.maxPages, KeyMaxPages, page, KeyMaxPages))
			}
			b.out.Ack(t)
			return
		}
		p = &pageState{lastSeen: map[string]int64{}, viewers: map[string]bool{}, converted: map[string]bool{}}
		b.pages[page] = p
	}
	visitor := t.Str(fVisitor)
	p.lastEvent = time.Now().UnixMilli()
	p.lastSeen[visitor] = p.lastEvent
	p.viewers[visitor] = true
	p.events++
	p.dirty = true
	if ts := t.Int(fTS); ts > p.newestTS {
		p.newestTS = ts
	}
	switch t.Str(fType) {
	case "move":
		if c := cell(t.Int(fX), t.Int(fY), t.Int(fVW)); c >= 0 {
			p.heat[c]++
		}
	case "click":
		if c := cell(t.Int(fX), t.Int(fY), t.Int(fVW)); c >= 0 {
			p.clicks[c]++
		}
		if t.Str(fTarget) == b.cta {
			p.converted[visitor] = true
		}
	}
	b.out.Ack(t)
}

// PageSnapshot is what the dashboard shows of one page.
type PageSnapshot struct {
	Page       string   `json:"page"`
	Active     int      `json:"active"`
	Viewers    int      `json:"viewers"`
	Converted  int      `json:"converted"`
	Conversion float64  `json:"conversion"`
	Events     uint64   `json:"events"`
	NewestTS   int64    `json:"newest_ts"`
	Cols       int      `json:"cols"`
	Rows       int      `json:"rows"`
	Heat       []uint32 `json:"heat"`
	Clicks     []uint32 `json:"clicks"`
}

// flush emits a snapshot of every page that changed, and forgets visitors
// idle for longer than the active window.
func (b *PageStats) flush(now int64) {
	pages := make([]string, 0, len(b.pages))
	for page := range b.pages {
		pages = append(pages, page)
	}
	sort.Strings(pages)
	for _, page := range pages {
		p := b.pages[page]
		active := 0
		for v, seen := range p.lastSeen {
			if now-seen <= b.activeMS {
				active++
			} else {
				delete(p.lastSeen, v)
				p.dirty = true // the active count fell
			}
		}
		if !p.dirty {
			continue
		}
		p.dirty = false
		s := PageSnapshot{
			Page: page, Active: active, Viewers: len(p.viewers), Converted: len(p.converted),
			Events: p.events, NewestTS: p.newestTS, Cols: heatCols, Rows: heatRows,
			Heat: p.heat[:], Clicks: p.clicks[:],
		}
		if s.Viewers > 0 {
			s.Conversion = float64(s.Converted) / float64(s.Viewers)
		}
		data, err := json.Marshal(s)
		if err != nil {
			b.out.ReportError(fmt.Errorf("page %s: snapshot: %w", page, err))
			continue
		}
		b.out.Emit(nil, sdk.String(page), sdk.String(string(data)))
	}
}

// Cleanup does nothing: the aggregates live in memory only.
func (b *PageStats) Cleanup() error { return nil }

// isPowerOf10 reports whether n is 1, 10, 100...
func isPowerOf10(n int64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// evictIdle makes room at the cap: it drops the page idle longest if it
// has had no event for pageIdleEvict, and tells the dashboard. It looks at
// most once a second (a scan of every page), so a flood of new paths costs
// a scan a second, not one an event.
func (b *PageStats) evictIdle() bool {
	now := time.Now()
	if now.Sub(b.evictScan) < time.Second {
		return false
	}
	b.evictScan = now
	oldest, at := "", int64(0)
	for page, p := range b.pages {
		if oldest == "" || p.lastEvent < at {
			oldest, at = page, p.lastEvent
		}
	}
	if oldest == "" || now.UnixMilli()-at < pageIdleEvict.Milliseconds() {
		return false
	}
	delete(b.pages, oldest)
	data, _ := json.Marshal(struct {
		Page    string `json:"page"`
		Evicted bool   `json:"evicted"`
	}{oldest, true})
	b.out.Emit(nil, sdk.String(oldest), sdk.String(string(data)))
	return true
}
