package webanalytics

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
)

// browserDeps finds Debian's chromium and the playwright-core driver of
// browsertest/ (installed by `make -C examples/webanalytics/browsertest
// deps`). Without them the test skips, unless GALE_REQUIRE_DEPS=1.
func browserDeps(t *testing.T) (chromium, node string) {
	t.Helper()
	missing := func(what string) {
		msg := what + " is missing: run `make -C examples/webanalytics/browsertest deps`"
		if os.Getenv("GALE_REQUIRE_DEPS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	chromium = os.Getenv("GALE_CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		missing("chromium (Debian's chromium package)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	if _, err := os.Stat(filepath.Join("browsertest", "node_modules", "playwright-core")); err != nil {
		missing("playwright-core (npm)")
	}
	return chromium, node
}

// TestTrackerInBrowser loads the demo page from the ingest spout in
// headless Chromium, moves the mouse, clicks the call to action and
// scrolls, and checks the tuples the spout emitted.
func TestTrackerInBrowser(t *testing.T) {
	chromium, node := browserDeps(t)
	addr, stop := startIngest(t, sdk.Config{ingest.KeyAssets: sdk.String(AssetsName)})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "drive.mjs", "http://"+addr+"/", chromium)
	cmd.Dir = "browsertest"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		stop()
		t.Fatalf("driving chromium: %v\n%s", err, stderr.String())
	}
	var page struct {
		Visitor          string
		Pending, Dropped int
		CTA              struct{ X, Y, W, H float64 }
	}
	if err := json.Unmarshal(out, &page); err != nil {
		stop()
		t.Fatalf("driver output %q: %v", out, err)
	}
	// The page said its queue is empty; give the spout a moment to emit.
	time.Sleep(100 * time.Millisecond)
	tuples := stop()
	counts := map[string]int{}
	var ctaClick []sdk.Value
	for _, v := range tuples {
		if v[ingest.IdxVisitor].Str() != page.Visitor {
			t.Fatalf("event of another visitor: %v (page's visitor %s)", v, page.Visitor)
		}
		if v[ingest.IdxPage].Str() != "/" {
			t.Errorf("page %q, want /", v[ingest.IdxPage].Str())
		}
		typ := v[ingest.IdxType].Str()
		counts[typ]++
		if typ == ingest.TypeClick && v[ingest.IdxTarget].Str() == CTASelector {
			ctaClick = v
		}
	}
	t.Logf("events by type: %v (page: %+v)", counts, page)
	if counts[ingest.TypePageview] != 1 {
		t.Errorf("pageviews: %d, want 1", counts[ingest.TypePageview])
	}
	// 45 mouse steps, throttled to one move per 100 ms, over ~1 s of moving.
	if counts[ingest.TypeMove] < 3 || counts[ingest.TypeMove] > 45 {
		t.Errorf("moves: %d, want some, throttled", counts[ingest.TypeMove])
	}
	if counts[ingest.TypeScroll] < 1 {
		t.Errorf("no scroll event")
	}
	if ctaClick == nil {
		t.Fatalf("no click on %s among %d events", CTASelector, len(tuples))
	}
	x, y := float64(ctaClick[ingest.IdxX].Int()), float64(ctaClick[ingest.IdxY].Int())
	if x < page.CTA.X || x > page.CTA.X+page.CTA.W || y < page.CTA.Y || y > page.CTA.Y+page.CTA.H {
		t.Errorf("click at %v,%v is not on the button %+v", x, y, page.CTA)
	}
	if ctaClick[ingest.IdxVW].Int() != 1280 || ctaClick[ingest.IdxVH].Int() != 800 {
		t.Errorf("viewport %v x %v, want 1280 x 800", ctaClick[ingest.IdxVW], ctaClick[ingest.IdxVH])
	}
	if page.Dropped != 0 {
		t.Errorf("the tracker dropped %d events", page.Dropped)
	}
}
