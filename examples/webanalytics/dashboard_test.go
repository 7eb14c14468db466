package webanalytics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/node"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// scriptSpout emits a fixed list of events (EVENTS.md fields), then keeps
// the topology alive until the test ends it.
type scriptSpout struct {
	out  *sdk.SpoutCollector
	next int
}

var script = []struct {
	visitor, typ, page, target string
	x, y, vw, vh               int64
	depth                      float64 // of a scroll
}{
	{"v1", "pageview", "/", "", 0, 0, 1280, 720, 0},
	{"v1", "move", "/", "", 10, 10, 1280, 720, 0},
	{"v1", "move", "/", "", 12, 12, 1280, 720, 0},
	{"v1", "click", "/", "#cta", 640, 400, 1280, 720, 0},
	{"v2", "pageview", "/", "", 0, 0, 1280, 720, 0},
	{"v2", "move", "/", "", 1279, 719, 1280, 720, 0},
	{"v2", "scroll", "/", "", 0, 0, 0, 0, 0.6},
	{"v3", "move", "/pricing", "", 100, 100, 1000, 800, 0},
}

func (s *scriptSpout) DeclareOutputFields(d *sdk.OutputDeclarer) {
	d.Declare("visitor", "ts", "type", "page", "x", "y", "vw", "vh", "target", "value")
}
func (s *scriptSpout) Open(_ context.Context, _ *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.out = out
	return nil
}
func (s *scriptSpout) NextTuple() {
	if s.next >= len(script) {
		return
	}
	e := script[s.next]
	s.next++
	target := sdk.Null()
	if e.target != "" {
		target = sdk.String(e.target)
	}
	value := sdk.Null()
	if e.typ == "scroll" {
		value = sdk.Double(e.depth)
	}
	s.out.Emit(uint64(s.next), sdk.String(e.visitor), sdk.Int(time.Now().UnixMilli()), sdk.String(e.typ), sdk.String(e.page),
		sdk.Int(e.x), sdk.Int(e.y), sdk.Int(e.vw), sdk.Int(e.vh), target, value)
}
func (s *scriptSpout) Ack(uint64)   {}
func (s *scriptSpout) Fail(uint64)  {}
func (s *scriptSpout) Close() error { return nil }

func init() {
	sdk.MustRegisterSpout("webanalytics.testScript", func() sdk.Spout { return &scriptSpout{} })
}

// TestPageStatsReachTheDashboard runs the aggregates and the dashboard on
// scripted events and reads the dashboard's state, page and event stream,
// over HTTP and over HTTPS (dashboard.tls_cert and dashboard.tls_key).
func TestPageStatsReachTheDashboard(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		testPageStatsReachTheDashboard(t, nil, &http.Client{Transport: &http.Transport{}}, "http://")
	})
	t.Run("https", func(t *testing.T) {
		ca := securitytest.NewCA(t, "web")
		files := ca.Issue(t, "dashboard")
		pem, err := os.ReadFile(ca.File)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		testPageStatsReachTheDashboard(t, map[string]string{"dashboard.tls_cert": files.Cert, "dashboard.tls_key": files.Key}, client, "https://")
	})
}

func testPageStatsReachTheDashboard(t *testing.T, conf map[string]string, client *http.Client, scheme string) {
	defer client.CloseIdleConnections()
	b := sdk.NewTopologyBuilder("dash")
	b.SetSpout("events", "webanalytics.testScript", 1)
	b.SetBolt("pages", ClassPageStats, 2).FieldsGrouping("events", sdk.DefaultStream, "page").
		SetConfig("topology.tick.tuple.freq.secs", sdk.Double(0.05))
	b.SetBolt("sessions", ClassSessions, 2).FieldsGrouping("events", sdk.DefaultStream, "visitor").
		SetConfig("topology.tick.tuple.freq.secs", sdk.Double(0.05)).
		SetConfig(KeySessionGapMS, sdk.Int(100)).SetConfig(KeyOutOfOrderMS, sdk.Int(0)).SetConfig(KeySessionIdleMS, sdk.Int(50))
	b.SetBolt("dashboard", ClassDashboard, 1).GlobalGrouping("pages").GlobalGrouping("sessions").GlobalGroupingStream("sessions", OpenStream).
		SetConfig("dashboard.addr", sdk.String("127.0.0.1:0")).SetConfig("dashboard.push_ms", sdk.Int(20))
	for k, v := range conf {
		b.SetConfig(k, sdk.String(v))
	}
	spec, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := node.New(spec, node.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	base := waitDashboardURL(t, rt)
	if !strings.HasPrefix(base, scheme) {
		t.Fatalf("dashboard at %s, want %s", base, scheme)
	}
	var got map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/api/state")
		if err == nil {
			var st struct {
				Pages    map[string]PageSnapshot `json:"pages"`
				Sessions struct {
					Closed    int64   `json:"closed"`
					Converted int64   `json:"converted"`
					Depth     []int64 `json:"depth"`
				} `json:"sessions"`
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			home, pricing := st.Pages["/"], st.Pages["/pricing"]
			if err == nil && home.Events == 7 && pricing.Events == 1 && st.Sessions.Closed == 3 {
				// v2 read to 60% of the page; v1 and v3 reported no
				// scroll and are left out.
				if st.Sessions.Converted != 1 || !slices.Equal(st.Sessions.Depth, []int64{0, 0, 1, 0}) {
					t.Fatalf("sessions %+v", st.Sessions)
				}
				if home.Viewers != 2 || home.Converted != 1 || home.Conversion != 0.5 || home.Active != 2 {
					t.Fatalf("home page %+v", home)
				}
				// (10,10) and (12,12) share the top-left cell; (1279,719)
				// is the last cell of the first screen.
				if home.Heat[0] != 2 || home.Heat[(heatRowsScreen-1)*heatCols+heatCols-1] != 1 {
					t.Fatalf("heat %v", home.Heat[:heatCols])
				}
				if c := cell(640, 400, 1280); home.Clicks[c] != 1 {
					t.Fatalf("click heat at cell %d = %d", c, home.Clicks[c])
				}
				break
			}
			got = map[string]any{"home events": home.Events, "pricing events": pricing.Events, "sessions": st.Sessions, "err": err}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard state never complete: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The page and the event stream are served (over HTTPS, with HTTP/2;
	// plain HTTP on that port is refused).
	if scheme == "https://" {
		resp, err := client.Get(base + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("the dashboard answered over %s, want HTTP/2", resp.Proto)
		}
		plain := &http.Client{Transport: &http.Transport{}}
		resp, err = plain.Get("http://" + strings.TrimPrefix(base, scheme) + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		plain.CloseIdleConnections()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS dashboard: %s, want 400", resp.Status)
		}
	}
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "EventSource") {
		t.Fatalf("dashboard page: %.200s", page)
	}
	resp, err = client.Get(base + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	resp.Body.Close()
	if !strings.HasPrefix(string(buf[:n]), "data: {") {
		t.Fatalf("stream: %.200s", buf[:n])
	}
}

// waitDashboardURL waits for the dashboard to serve (it listens on port 0)
// and returns its base URL.
func waitDashboardURL(t *testing.T, rt *node.Runtime) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := LastURL(); a != "" {
			return a
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the dashboard did not start; errors: %v", rt.Errors())
	return ""
}

// TestDashboardTLSErrors: a half or unreadable pair fails Prepare with the
// keys and files.
func TestDashboardTLSErrors(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	files := ca.Issue(t, "dashboard")
	cases := []struct {
		conf map[string]string
		msg  string
	}{
		{map[string]string{"dashboard.tls_cert": files.Cert}, "config dashboard.tls_cert is set and dashboard.tls_key is empty"},
		{map[string]string{"dashboard.tls_key": files.Key}, "config dashboard.tls_key is set and dashboard.tls_cert is empty"},
		{map[string]string{"dashboard.tls_cert": files.Key, "dashboard.tls_key": files.Key}, "config dashboard.tls_cert=" + files.Key + ", dashboard.tls_key=" + files.Key},
	}
	for _, tc := range cases {
		conf := sdk.Config{"dashboard.addr": sdk.String("127.0.0.1:0")}
		for k, v := range tc.conf {
			conf[k] = sdk.String(v)
		}
		d := NewDashboard()
		err := d.Prepare(t.Context(), &sdk.TaskContext{
			Component: "dashboard", ComponentTasks: map[string][]int32{"dashboard": {1}},
			Config: conf, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: got %v, want an error with %q", tc.conf, err, tc.msg)
		}
		if err := d.Cleanup(); err != nil {
			t.Errorf("cleanup after a failed prepare: %v", err)
		}
	}
}

// TestDashboardPassword: with dashboard.password_file every request needs
// the password by HTTP Basic authentication (any user name); others are
// asked for it.
func TestDashboardPassword(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "dashboard.pw")
	const password = "correct horse battery staple"
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged syncLog
	prepare := func(conf sdk.Config) (*Dashboard, error) {
		conf["dashboard.addr"] = sdk.String("127.0.0.1:0")
		d := NewDashboard()
		err := d.Prepare(t.Context(), &sdk.TaskContext{
			Component: "dashboard", ComponentTasks: map[string][]int32{"dashboard": {1}},
			Config: conf, Log: slog.New(slog.NewTextHandler(&logged, nil)),
		}, nil)
		return d, err
	}
	d, err := prepare(sdk.Config{"dashboard.password_file": sdk.String(pwFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Cleanup()
	base := LastURL()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path, user, pass string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 512)
		n, _ := io.ReadAtLeast(resp.Body, buf, 1)
		return resp, string(buf[:n])
	}
	for _, path := range []string{"/", "/api/state", "/api/stream"} {
		resp, _ := get(path, "", "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("GET %s without the password: %s, WWW-Authenticate %q", path, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
		if resp, _ := get(path, "gale", password+"x"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %s", path, resp.Status)
		}
	}
	if resp, body := get("/", "anyone", password); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<") {
		t.Errorf("GET / with the password: %s %.100q", resp.Status, body)
	}
	if resp, body := get("/api/stream", "", password); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "data: {") {
		t.Errorf("GET /api/stream with the password: %s %.100q", resp.Status, body)
	}

	// A new password in the file is in use within a second or so, without
	// a restart; a bad one keeps the last good one, said once.
	rewrite := func(content string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(pwFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(pwFile, at, at); err != nil {
			t.Fatal(err)
		}
	}
	const next = "the next password of the team"
	rewrite(next+"\n", time.Now().Add(time.Minute))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, _ := get("/api/state", "", next); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new password is not in use after 5 s")
		}
	}
	if resp, _ := get("/api/state", "", password); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password after the change: %s", resp.Status)
	}
	rewrite("short\n", time.Now().Add(2*time.Minute))
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logged.String(), "cannot be used"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a bad password file is not logged:\n%s", logged.String())
		}
		get("/api/state", "", next)
	}
	if resp, _ := get("/api/state", "", next); resp.StatusCode != http.StatusOK {
		t.Errorf("the last good password after a bad file: %s", resp.Status)
	}
	time.Sleep(1100 * time.Millisecond)
	get("/api/state", "", next)
	if n := strings.Count(logged.String(), "cannot be used"); n != 1 {
		t.Errorf("the bad file was logged %d times, want once:\n%s", n, logged.String())
	}

	short := filepath.Join(dir, "short.pw")
	if err := os.WriteFile(short, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		short:                         "has 7 characters; want at least 12",
		filepath.Join(dir, "missing"): "no such file",
	} {
		d, err := prepare(sdk.Config{"dashboard.password_file": sdk.String(file)})
		if err == nil || !strings.Contains(err.Error(), "config dashboard.password_file="+file) || !strings.Contains(err.Error(), want) {
			t.Errorf("password file %s: %v, want %q", filepath.Base(file), err, want)
		}
		d.Cleanup()
	}
}

// TestDashboardWarnsOfAnHTTPPageUnderHTTPS: browsers block an http://
// frame in an https:// page, so the heatmap would show no page.
func TestDashboardWarnsOfAnHTTPPageUnderHTTPS(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	files := ca.Issue(t, "dashboard")
	for _, tc := range []struct {
		pageURL string
		warn    bool
	}{{"http://127.0.0.1:8080/", true}, {"https://127.0.0.1:8080/", false}} {
		var logged strings.Builder
		d := NewDashboard()
		err := d.Prepare(t.Context(), &sdk.TaskContext{
			Component: "dashboard", ComponentTasks: map[string][]int32{"dashboard": {1}},
			Config: sdk.Config{"dashboard.addr": sdk.String("127.0.0.1:0"), "dashboard.page_url": sdk.String(tc.pageURL),
				"dashboard.tls_cert": sdk.String(files.Cert), "dashboard.tls_key": sdk.String(files.Key)},
			Log: slog.New(slog.NewTextHandler(&logged, nil)),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Cleanup()
		if got := strings.Contains(logged.String(), "dashboard.page_url is http://"); got != tc.warn {
			t.Errorf("page_url %s: warned %v, want %v:\n%s", tc.pageURL, got, tc.warn, logged.String())
		}
	}
}

// syncLog is a log destination safe for the dashboard's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A position falls in the same row for every viewport width (rows are
// document pixels: pages keep their vertical layout across desktop
// widths), and a centred element in the same column.
func TestHeatmapCellsAcrossWidths(t *testing.T) {
	for _, vw := range []int64{1024, 1280, 1366, 1920, 2560} {
		c := cell(vw/2, 470, vw) // the demo page's #cta, centred at y 470
		if row, col := c/heatCols, c%heatCols; row != 470/heatRowPx || col != heatCols/2 {
			t.Errorf("width %d: #cta in row %d column %d, want row %d column %d", vw, row, col, 470/heatRowPx, heatCols/2)
		}
	}
	for _, tc := range []struct {
		x, y, vw int64
		want     int
	}{
		{0, 0, 1280, 0},
		{1279, 44, 1280, heatCols - 1},
		{1300, 45, 1280, heatCols + heatCols - 1}, // past the right edge: the last column
		{10, heatRows*heatRowPx - 1, 1280, (heatRows-1)*heatCols + 0},
		{10, heatRows * heatRowPx, 1280, -1}, // below the part of the page the map covers
		{-1, 10, 1280, -1},
		{10, 10, 0, -1},
	} {
		if got := cell(tc.x, tc.y, tc.vw); got != tc.want {
			t.Errorf("cell(%d, %d, %d) = %d, want %d", tc.x, tc.y, tc.vw, got, tc.want)
		}
	}
}

// The event-to-dashboard lag is taken from snapshots that bring new
// events: a page's snapshot sent again as its visitors go idle (its newest
// event unchanged, 30 s old) showed as a 30 s p99 on a quiet site.
func TestLagCountsSnapshotsWithNewEvents(t *testing.T) {
	d := NewDashboard()
	tc := &sdk.TaskContext{Component: "dashboard", ComponentTasks: map[string][]int32{"dashboard": {1}},
		Config: sdk.Config{"dashboard.addr": sdk.String("127.0.0.1:0")}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := d.Prepare(t.Context(), tc, sdk.NewBoltCollector(&emits{})); err != nil {
		t.Fatal(err)
	}
	defer d.Cleanup()
	src := sdk.NewSource("pages", sdk.DefaultStream, []string{"page", "snapshot"})
	snapshot := func(newest int64) {
		d.Execute(&sdk.Tuple{Source: src, Values: []sdk.Value{sdk.String("/"), sdk.String(fmt.Sprintf(`{"newest_ts":%d,"active":0}`, newest))}})
	}
	lag := func() int64 {
		data, _ := d.state()
		var st struct {
			Lag int64 `json:"lag_p99_ms"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		return st.Lag
	}
	now := time.Now().UnixMilli()
	snapshot(now - 40) // new events, 40 ms ago
	if l := lag(); l < 40 || l > 10_000 {
		t.Fatalf("lag %d ms after a fresh snapshot, want about 40", l)
	}
	snapshot(now - 40) // the same events, resent as visitors went idle
	d.mu.Lock()
	n := len(d.lags)
	d.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d lag samples after a snapshot without new events, want 1", n)
	}
}
