package webanalytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/node"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	_ "github.com/gale-stream/gale/sdk/ingest" // gale.HTTPIngest
	"github.com/gale-stream/gale/sdk/spec"
)

// waitServing polls the URLs until each answers 200 OK (for up to 10 s
// each), or the run ends (its error, which it puts back in done).
func waitServing(ctx context.Context, done chan error, urls ...string) error {
	for _, u := range urls {
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case runErr := <-done:
				done <- runErr // for whoever stops the run (capacity 1)
				return fmt.Errorf("the run ended before %s answered: %v", u, runErr)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not answer: %v", u, err)
			}
		}
	}
	return nil
}

// testAddr returns a loopback address with a port that was free a moment
// ago (the topology needs the ingest's address before it starts: the
// dashboard shows the page it serves).
func testAddr(t *testing.T) string {
	t.Helper()
	a, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// canvasSamples is the dashboard's heat canvas sampled at page coordinates
// (q*step+step/2, r*step+step/2), as RGBA.
type canvasSamples struct {
	Step, Cols, Rows int
	RGBA             string
}

type sample struct {
	x, y       int64
	r, g, b, a uint8
}

func (c canvasSamples) decode(t *testing.T) []sample {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(c.RGBA)
	if err != nil || len(raw) != c.Cols*c.Rows*4 {
		t.Fatalf("canvas samples: %d bytes for %dx%d, %v", len(raw), c.Cols, c.Rows, err)
	}
	out := make([]sample, 0, c.Cols*c.Rows)
	for r := 0; r < c.Rows; r++ {
		for q := 0; q < c.Cols; q++ {
			i := (r*c.Cols + q) * 4
			out = append(out, sample{int64(q*c.Step + c.Step/2), int64(r*c.Step + c.Step/2), raw[i], raw[i+1], raw[i+2], raw[i+3]})
		}
	}
	return out
}

// paintedCells groups the samples by heatmap cell (PageStats' cell()) and
// returns, for each cell most of whose samples are painted, the mean
// alpha and color of its painted samples.
func paintedCells(samples []sample, vw int64) map[int][4]float64 {
	type acc struct {
		n, painted int
		sum        [4]float64
	}
	by := map[int]*acc{}
	for _, s := range samples {
		c := cell(s.x, s.y, vw)
		if c < 0 {
			continue
		}
		a := by[c]
		if a == nil {
			a = &acc{}
			by[c] = a
		}
		a.n++
		if s.a > 0 {
			a.painted++
			a.sum[0] += float64(s.r)
			a.sum[1] += float64(s.g)
			a.sum[2] += float64(s.b)
			a.sum[3] += float64(s.a)
		}
	}
	out := map[int][4]float64{}
	for c, a := range by {
		if 2*a.painted > a.n {
			p := float64(a.painted)
			out[c] = [4]float64{a.sum[0] / p, a.sum[1] / p, a.sum[2] / p, a.sum[3] / p}
		}
	}
	return out
}

// nearest returns the sample closest to page point (x, y).
func nearest(samples []sample, x, y float64) sample {
	best, bd := sample{}, math.Inf(1)
	for _, s := range samples {
		if d := math.Hypot(float64(s.x)-x, float64(s.y)-y); d < bd {
			best, bd = s, d
		}
	}
	return best
}

func cellName(c int) string { return fmt.Sprintf("r%dc%d", c/heatCols, c%heatCols) }

// TestDashboardInBrowser runs the web-analytics topology (topology.yaml, in
// process, with a 15 s session gap and idle close: long enough that a
// browser stalled by a loaded machine does not split the visit in two;
// with 8 s, a CI run under the race detector once took so long to open the
// dashboard's page that the visit closed idle before the demo page's
// visibility event came, which then opened a session of its own), visits the demo page served by the
// ingest in headless Chromium (the mouse across the headline, a dwell on
// the call to action, a click on it), then opens the dashboard in Chromium
// and checks what it shows: one active visitor, 100% conversion, one
// closed session, and the heat drawn over the page where the cursor was,
// in the cells PageStats' cell() gives for the positions the tracker sent.
//
// With GALE_DASHBOARD_SCREENSHOT=FILE it saves the dashboard's screenshot
// there (`make -C browsertest screenshot` updates ../dashboard.png).
func TestDashboardInBrowser(t *testing.T) {
	chromium, nodeBin := browserDeps(t)
	// The ports were free a moment ago; another process may take one
	// before the topology listens on it. Then the run ends at once, and
	// the test starts it again on other ports.
	// The dashboard asks for a password, which the browser gives: the
	// page, its state and its event stream all pass the check.
	const password = "a password of the marketing team"
	pwFile := filepath.Join(t.TempDir(), "dashboard.pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ingestAddr, dashAddr string
	var ctx context.Context
	for attempt := 1; ; attempt++ {
		ingestAddr, dashAddr = testAddr(t), testAddr(t)
		conf := map[string]sdk.Value{
			"dashboard.password_file": sdk.String(pwFile),
			"ingest.addr":             sdk.String(ingestAddr),
			"dashboard.addr":          sdk.String(dashAddr),
			"dashboard.page_url":      sdk.String("http://" + ingestAddr + "/"),
			"dashboard.push_ms":       sdk.Int(50),
			KeySessionGapMS:           sdk.Int(15000), // the idle close too
			KeyOutOfOrderMS:           sdk.Int(0),
			"webanalytics.active_ms":  sdk.Int(60000),
		}
		overrides := map[string]*galev1.Value{}
		for k, v := range conf {
			overrides[k] = sdk.ValueToProto(v)
		}
		ts, err := spec.Parse("topology.yaml", TopologyYAML, sdk.RegistryResolver{}, overrides)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := node.New(ts, node.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(t.Context(), 90*time.Second)
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		stop := func() {
			cancel()
			<-done
		}
		err = waitServing(ctx, done, "http://"+ingestAddr+"/healthz", "http://marketing:"+url.PathEscape(password)+"@"+dashAddr+"/api/state")
		if err == nil {
			defer stop()
			break
		}
		stop()
		if !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			t.Fatalf("%v; runtime errors: %v", err, rt.Errors())
		}
		t.Logf("attempt %d: %v", attempt, err)
	}

	var err error
	shot := os.Getenv("GALE_DASHBOARD_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "dashboard.png")
	} else if shot, err = filepath.Abs(shot); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, nodeBin, "dashboard.mjs", "http://"+ingestAddr+"/", "http://"+dashAddr+"/", chromium, shot, password)
	cmd.Dir = "browsertest"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("driving chromium: %v\n%s", err, stderr.String())
	}
	t.Logf("browser part: %.1f s; screenshot %s", time.Since(start).Seconds(), shot)
	if stderr.Len() > 0 {
		t.Logf("driver stderr:\n%s", stderr.String())
	}
	var res struct {
		Visitor string
		VW, VH  int64
		CTA     struct{ X, Y, W, H float64 }
		Sent    []struct {
			Visitor, Type, Page, Target string
			X, Y, VW, VH                int64
		}
		Text         map[string]string
		CTAInDash    struct{ X, Y, Width, Height float64 } `json:"ctaInDash"`
		Geo          struct{ Left, Top, Scale float64 }
		Heat, Clicks canvasSamples
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("driver output %.300q: %v", out, err)
	}

	// What the tracker sent, and what the heatmaps must hold.
	moves := map[int]int{}
	var clickCells []int
	var clickX, clickY float64
	posCount := map[[2]int64]int{}
	for _, e := range res.Sent {
		if e.Visitor != res.Visitor || e.Page != "/" {
			t.Fatalf("event of another visitor or page: %+v", e)
		}
		if (e.Type == "move" || e.Type == "click") && (e.VW != res.VW || e.VH != res.VH) {
			t.Fatalf("viewport %dx%d, want %dx%d", e.VW, e.VH, res.VW, res.VH)
		}
		switch e.Type {
		case "move":
			moves[cell(e.X, e.Y, e.VW)]++
			posCount[[2]int64{e.X, e.Y}]++
		case "click":
			if e.Target != "#cta" {
				t.Fatalf("click on %q, want #cta", e.Target)
			}
			clickCells = append(clickCells, cell(e.X, e.Y, e.VW))
			clickX, clickY = float64(e.X), float64(e.Y)
		}
	}
	if len(moves) < 5 || len(clickCells) != 1 {
		t.Fatalf("the tracker sent moves in %d cells and %d clicks: %+v", len(moves), len(clickCells), res.Sent)
	}
	t.Logf("sent %d events: moves in %d cells, click at %v,%v", len(res.Sent), len(moves), clickX, clickY)

	// The numbers.
	want := map[string]string{"active": "1", "conv": "100.0%", "closed": "1", "open": "0"}
	for id, w := range want {
		if res.Text[id] != w {
			t.Errorf("#%s shows %q, want %q (dashboard: %v)", id, res.Text[id], w, res.Text)
		}
	}
	if w := fmt.Sprintf("%d events · 1 visitors · 1 converted", len(res.Sent)); !strings.HasPrefix(res.Text["pageinfo"], w) {
		t.Errorf("#pageinfo %q, want it to start with %q", res.Text["pageinfo"], w)
	}
	if !strings.HasSuffix(res.Text["avg"], "1.00 clicks per session") {
		t.Errorf("#avg %q, want 1.00 clicks per session", res.Text["avg"])
	}
	if !strings.HasPrefix(res.Text["status"], "live") {
		t.Errorf("#status %q, want live", res.Text["status"])
	}

	// The page under the heat: the dashboard draws the demo page's #cta
	// where the scaled page has it.
	sc := res.Geo.Scale
	if d := math.Max(math.Abs(res.CTAInDash.X-(res.Geo.Left+res.CTA.X*sc)), math.Abs(res.CTAInDash.Y-(res.Geo.Top+res.CTA.Y*sc))); d > 2 || sc < 0.3 {
		t.Errorf("the dashboard shows #cta at %+v, want the page's %+v scaled by %v from %v,%v", res.CTAInDash, res.CTA, sc, res.Geo.Left, res.Geo.Top)
	}

	// The heat, read from the canvas at page coordinates.
	heat := res.Heat.decode(t)
	painted := paintedCells(heat, res.VW)
	var missing, extra []string
	for c := range moves {
		if _, ok := painted[c]; !ok {
			missing = append(missing, cellName(c))
		}
	}
	for c := range painted {
		if moves[c] == 0 {
			extra = append(extra, cellName(c))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("attention heat: cells with moves but not painted: %v; painted without moves: %v", missing, extra)
	}
	// Hotter cells (more moves) are drawn more opaque; the hottest is red.
	hottest := -1
	for c, n := range moves {
		if hottest < 0 || n > moves[hottest] {
			hottest = c
		}
	}
	for a, na := range moves {
		for b, nb := range moves {
			pa, oka := painted[a]
			pb, okb := painted[b]
			if oka && okb && na > nb && pa[3] < pb[3] {
				t.Errorf("cell %s (%d moves) is drawn fainter (alpha %.0f) than %s (%d moves, alpha %.0f)", cellName(a), na, pa[3], cellName(b), nb, pb[3])
			}
		}
	}
	if p := painted[hottest]; !(p[0] > 200 && p[1] < 90 && p[2] < 90) {
		t.Errorf("the hottest cell %s (%d moves) is drawn rgba%v, want red", cellName(hottest), moves[hottest], p)
	}
	// Without going through cell(): where the cursor dwelt (the position
	// sent most often) the canvas is red, and far from every position sent
	// it is clear.
	var dwell [2]int64
	for p, n := range posCount {
		if n > posCount[dwell] {
			dwell = p
		}
	}
	if s := nearest(heat, float64(dwell[0]), float64(dwell[1])); !(s.a > 100 && s.r > 200 && s.g < 90) {
		t.Errorf("the dwell at %v (%d moves) is drawn rgba(%d,%d,%d,%d), want red", dwell, posCount[dwell], s.r, s.g, s.b, s.a)
	}
	if dwell[0] < int64(res.CTA.X) || dwell[0] > int64(res.CTA.X+res.CTA.W) || dwell[1] < int64(res.CTA.Y) || dwell[1] > int64(res.CTA.Y+res.CTA.H) {
		t.Errorf("the dwell at %v is not on #cta %+v", dwell, res.CTA)
	}
	far := 0
	for _, s := range heat {
		if s.a == 0 {
			continue
		}
		d := math.Inf(1)
		for p := range posCount {
			d = math.Min(d, math.Hypot(float64(s.x-p[0]), float64(s.y-p[1])))
		}
		if d > 120 {
			far++
		}
	}
	if far > 0 {
		t.Errorf("%d heat samples are painted more than 120 px from every cursor position sent", far)
	}

	// The click heat: the one cell clicked, drawn where the click was.
	clicks := res.Clicks.decode(t)
	pc := paintedCells(clicks, res.VW)
	if _, ok := pc[clickCells[0]]; !ok || len(pc) != 1 {
		var got []string
		for c := range pc {
			got = append(got, cellName(c))
		}
		t.Errorf("click heat painted in %v, want only %s", got, cellName(clickCells[0]))
	}
	if s := nearest(clicks, clickX, clickY); s.a == 0 {
		t.Errorf("the click at %v,%v is not drawn on the click heatmap", clickX, clickY)
	}
	if t.Failed() {
		t.Logf("dashboard screenshot: %s", shot)
	}
}
