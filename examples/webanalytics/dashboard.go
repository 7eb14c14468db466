package webanalytics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
)

//go:embed dashboard
var dashboardFiles embed.FS

// Dashboard is the live marketing dashboard: a bolt (parallelism 1) that
// serves a web page and a Server-Sent Events stream on dashboard.addr
// (default 127.0.0.1:8090). It takes page snapshots (tuples with a
// "snapshot" field, from PageStats) and closed sessions (tuples with a
// "session" field: the session's metrics as JSON, from the sessionizer),
// and pushes the state to every open page at most every dashboard.push_ms
// (default 250) when it changed. dashboard.page_url is the base URL the
// page under the heatmap is loaded from: the page's path resolved against
// it (default http://127.0.0.1:8080/, the ingest's demo page).
// dashboard.tls_cert and dashboard.tls_key (PEM files, both or neither)
// serve it over HTTPS instead, reloaded when the files change.
// dashboard.password_file names a file holding a password: every request
// then needs it by HTTP Basic authentication (any user name), as browsers
// ask for it; the file is read again when it changes. Without one the
// dashboard is open to whoever reaches its address.
//
// The page needs no build step: dashboard/index.html is plain HTML, CSS
// and JavaScript, embedded in the binary.
type Dashboard struct {
	out    *sdk.BoltCollector
	srv    *http.Server
	lis    net.Listener
	url    *string // what LastURL reports while this dashboard serves
	push   time.Duration
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// cancelled is set when Cleanup begins: stream handlers end.
	cancelled atomic.Bool

	mu       sync.Mutex
	version  uint64 // bumped on every change; SSE clients send when it moved
	changed  *sync.Cond
	pages    map[string]json.RawMessage
	sessions sessionStats
	pageURL  string
	lags     []lagSample      // event-to-dashboard lags of recent snapshots
	newest   map[string]int64 // per page, the newest event time of its last snapshot
}

// lagSample is the lag of one snapshot, and when it arrived.
type lagSample struct{ at, lag int64 }

// lagWindowMS is how far back lag_p99_ms looks.
const lagWindowMS = 10_000

// sessionStats summarizes closed sessions.
type sessionStats struct {
	Closed     int64   `json:"closed"`
	TotalMS    int64   `json:"total_ms"`
	Buckets    []int64 `json:"buckets"` // by lengthBuckets
	Depth      []int64 `json:"depth"`   // by depthBuckets: how far down the page each session that reported a scroll read
	Converted  int64   `json:"converted"`
	AvgClicks  float64 `json:"avg_clicks"`
	clicks     int64
	Open       int64 `json:"open"` // open sessions, as last reported
	openByTask map[int32]openReport
}

// openReport is a sessionizer task's last count of open sessions. Tasks
// report on every tick; a count not renewed for openReportTTL is dropped
// (checked as the other tasks' reports come), so that a task whose node
// died (and whose tasks have not moved, or whose replacement has not
// ticked yet) does not hold the total up.
type openReport struct {
	n  int64
	at time.Time
}

const openReportTTL = 5 * time.Second

// lengthBuckets are the upper bounds (ms) of the session length
// histogram; the last bucket is everything longer.
var lengthBuckets = []int64{10_000, 30_000, 60_000, 180_000, 600_000}

// depthBuckets are the upper bounds (exclusive) of the reading depth
// histogram (a session's deepest scroll, 0..1): quarters of the page.
var depthBuckets = []float64{0.25, 0.5, 0.75}

// Component classes of the web-analytics topology.
const (
	ClassPageStats = "webanalytics.PageStats"
	ClassDashboard = "webanalytics.Dashboard"
)

func init() {
	sdk.MustRegisterBolt(ClassPageStats, func() sdk.Bolt { return NewPageStats() })
	sdk.MustRegisterBolt(ClassDashboard, func() sdk.Bolt { return NewDashboard() })
	sdk.DeclareConfigKeys("dashboard.push_ms", "dashboard.page_url", "dashboard.addr", "dashboard.tls_cert", "dashboard.tls_key",
		"dashboard.password_file", KeyActiveMS, KeyCTA, KeyMaxPages)
}

// NewDashboard returns a dashboard bolt to be prepared.
func NewDashboard() *Dashboard { return &Dashboard{} }

// DeclareOutputFields: the dashboard emits nothing.
func (d *Dashboard) DeclareOutputFields(*sdk.OutputDeclarer) {}

// Prepare starts the web server.
func (d *Dashboard) Prepare(ctx context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	if n := len(tc.ComponentTasks[tc.Component]); n != 1 {
		return fmt.Errorf("the dashboard serves one page: give component %s parallelism 1, not %d", tc.Component, n)
	}
	d.out = out
	d.pages = map[string]json.RawMessage{}
	d.sessions.Buckets = make([]int64, len(lengthBuckets)+1)
	d.sessions.Depth = make([]int64, len(depthBuckets)+1)
	d.newest = map[string]int64{}
	d.sessions.openByTask = map[int32]openReport{}
	d.changed = sync.NewCond(&d.mu)
	ms, err := tc.Config.Int("dashboard.push_ms", 250)
	if err != nil {
		return err
	}
	if ms < 10 || ms > 60_000 {
		return fmt.Errorf("config dashboard.push_ms: must be between 10 and 60000, got %d", ms)
	}
	d.push = time.Duration(ms) * time.Millisecond
	d.pageURL = tc.Config.String("dashboard.page_url", "http://127.0.0.1:8080/")
	addr := tc.Config.String("dashboard.addr", "127.0.0.1:8090")
	certFile := strings.TrimSpace(tc.Config.String("dashboard.tls_cert", ""))
	keyFile := strings.TrimSpace(tc.Config.String("dashboard.tls_key", ""))
	var cert *security.Certificate
	if certFile != "" || keyFile != "" {
		if cert, err = security.LoadCertificate(certFile, keyFile, "config dashboard.tls_cert", "dashboard.tls_key"); err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		cert.SetLogger(tc.Log)
	}
	if cert != nil && strings.HasPrefix(d.pageURL, "http://") {
		// The page is shown in a frame, and browsers block an http://
		// frame in an https:// page: the heatmap would have no page.
		tc.Log.Warn("dashboard: served over HTTPS, but dashboard.page_url is http://: browsers will not show that page under the heatmap; give its https:// address", "page_url", d.pageURL)
	}
	var pw *passwordFile
	if f := strings.TrimSpace(tc.Config.String("dashboard.password_file", "")); f != "" {
		if pw, err = openPasswordFile(f, tc.Log); err != nil {
			return fmt.Errorf("dashboard: config dashboard.password_file=%s: %w", f, err)
		}
	}
	d.lis, err = net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s (config dashboard.addr): %w", addr, err)
	}
	static, _ := fs.Sub(dashboardFiles, "dashboard")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServer(http.FS(static)))
	mux.HandleFunc("GET /api/state", d.serveState)
	mux.HandleFunc("GET /api/stream", d.serveStream)
	var handler http.Handler = mux
	switch {
	case pw != nil:
		handler = requirePassword(pw.current, mux)
		if cert == nil && !isLoopback(addr) {
			tc.Log.Warn("dashboard: the password is sent in clear text over HTTP on a non-loopback address; set dashboard.tls_cert and dashboard.tls_key", "addr", addr)
		}
	case !isLoopback(addr):
		tc.Log.Warn("dashboard: open to whoever reaches it on a non-loopback address; set dashboard.password_file", "addr", addr)
	}
	// Failed handshakes (a browser refusing the certificate, a port scan)
	// go to the task's log at debug level, not to stderr.
	d.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(tc.Log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if cert != nil {
		d.srv.TLSConfig, scheme = cert.ServerTLS(), "https"
	}
	var sctx context.Context
	sctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		var err error
		if cert != nil {
			err = d.srv.ServeTLS(d.lis, "", "") // the certificate comes from TLSConfig
		} else {
			err = d.srv.Serve(d.lis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			out.ReportError(fmt.Errorf("dashboard server: %w", err))
		}
	}()
	go func() {
		// Wake SSE writers when the dashboard stops.
		defer d.wg.Done()
		<-sctx.Done()
		d.mu.Lock()
		d.changed.Broadcast()
		d.mu.Unlock()
	}()
	a := scheme + "://" + d.lis.Addr().String()
	tc.Log.Info("dashboard serving", "url", a+"/")
	d.url = &a
	lastDashboardURL.Store(d.url)
	return nil
}

// minPassword is the shortest dashboard password accepted: one that can be
// guessed over the network is no lock.
const minPassword = 12

// passwordFile is the dashboard's password, read again when its file
// changes (looked at, at most once a second, at a request): a new
// password needs no restart. A file that cannot be read or holds a bad
// password keeps the old one in use, and is logged once per change.
type passwordFile struct {
	file string
	log  *slog.Logger

	mu      sync.Mutex
	hash    []byte    // SHA-256 of the password in use
	version string    // of the file it was read from
	failed  string    // the version that last failed, logged
	checked time.Time // when the file was last looked at
}

func openPasswordFile(file string, log *slog.Logger) (*passwordFile, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	hash, err := readPassword(file)
	if err != nil {
		return nil, err
	}
	return &passwordFile{file: file, log: log, hash: hash, version: passwordVersion(fi), checked: time.Now()}, nil
}

func passwordVersion(fi os.FileInfo) string {
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}

// current returns the hash of the password in use.
func (p *passwordFile) current() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.checked) < time.Second {
		return p.hash
	}
	p.checked = now
	fi, err := os.Stat(p.file)
	version := "missing"
	if err == nil {
		version = passwordVersion(fi)
	}
	if version == p.version || version == p.failed {
		return p.hash
	}
	if err == nil {
		var hash []byte
		if hash, err = readPassword(p.file); err == nil {
			p.hash, p.version, p.failed = hash, version, ""
			p.log.Info("dashboard: the password file changed; its new password is in use", "file", p.file)
			return p.hash
		}
	}
	p.failed = version
	p.log.Warn("dashboard: the password file changed but cannot be used; the previous password stays in use", "file", p.file, "err", err)
	return p.hash
}

// ReadPasswordFile reads a dashboard password file (dashboard.password_file):
// its first line, trimmed, at least 12 characters.
func ReadPasswordFile(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if len(line) < minPassword {
		return "", fmt.Errorf("the password on its first line has %d characters; want at least %d (e.g. head -c 18 /dev/urandom | base64)", len(line), minPassword)
	}
	return line, nil
}

// readPassword reads a password file and returns the password's SHA-256.
func readPassword(file string) ([]byte, error) {
	pw, err := ReadPasswordFile(file)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(pw))
	return sum[:], nil
}

// requirePassword serves next to requests that give the password (want
// returns its SHA-256) by HTTP Basic authentication, with any user name, and
// asks the others for it. Hashes are compared in constant time, so the
// time taken says nothing about the password.
func requirePassword(want func() []byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		got := sha256.Sum256([]byte(pass))
		if !ok || subtle.ConstantTimeCompare(got[:], want()) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Gale dashboard", charset="UTF-8"`)
			http.Error(w, "the dashboard needs its password (dashboard.password_file; any user name)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a HOST:PORT listens on the loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lastDashboardURL is the base URL of the most recently started
// dashboard (with dashboard.addr port 0, the port is only known here): for
// tests and `gale dev`, which print it.
var lastDashboardURL atomic.Pointer[string]

// LastURL returns the base URL (http://HOST:PORT or https://HOST:PORT) of
// the most recently started dashboard in this process, or "" (also once
// that dashboard stopped).
func LastURL() string {
	if a := lastDashboardURL.Load(); a != nil {
		return *a
	}
	return ""
}

// Execute takes a snapshot or a session.
func (d *Dashboard) Execute(t *sdk.Tuple) {
	defer d.out.Ack(t)
	if t.IsTick() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := t.Field("snapshot"); ok {
		page, _ := t.Field("page")
		var gone struct {
			Evicted bool `json:"evicted"`
		}
		if json.Unmarshal([]byte(v.Str()), &gone) == nil && gone.Evicted {
			// Its page-stats task dropped it (idle, at the page cap).
			delete(d.pages, page.Str())
			delete(d.newest, page.Str())
			d.version++
			d.changed.Broadcast()
			return
		}
		d.pages[page.Str()] = json.RawMessage(v.Str())
		// The lag of a snapshot is from the time of the newest event in it
		// (the page's clock: it includes the tracker's batching) to now.
		var p struct {
			NewestTS int64 `json:"newest_ts"`
		}
		// A snapshot without new events (sent because visitors went
		// idle) is not a lag: it showed 30 s at p99 on a quiet page.
		if json.Unmarshal([]byte(v.Str()), &p) == nil && p.NewestTS > 0 && p.NewestTS != d.newest[page.Str()] {
			d.newest[page.Str()] = p.NewestTS
			now := time.Now().UnixMilli()
			d.lags = append(d.lags, lagSample{now, now - p.NewestTS})
			i := 0
			for i < len(d.lags) && now-d.lags[i].at > lagWindowMS {
				i++
			}
			d.lags = d.lags[i:]
		}
	} else if v, ok := t.Field("session"); ok {
		var s struct {
			DurationMS  int64   `json:"duration_ms"`
			Clicks      int64   `json:"clicks"`
			Converted   bool    `json:"converted"`
			ScrollDepth float64 `json:"scroll_depth"`
		}
		if err := json.Unmarshal([]byte(v.Str()), &s); err != nil {
			d.out.ReportError(fmt.Errorf("dashboard: session from %s is not JSON: %w", t.Component(), err))
			return
		}
		d.sessions.Closed++
		d.sessions.TotalMS += s.DurationMS
		d.sessions.clicks += s.Clicks
		d.sessions.AvgClicks = float64(d.sessions.clicks) / float64(d.sessions.Closed)
		if s.Converted {
			d.sessions.Converted++
		}
		i := sort.Search(len(lengthBuckets), func(i int) bool { return s.DurationMS <= lengthBuckets[i] })
		d.sessions.Buckets[i]++
		// A session with no scroll reported has depth 0; the tracker's
		// first scroll event, at load, is already the share of the page
		// in view (above 0): leave those sessions out, not in "< 25%".
		if s.ScrollDepth > 0 {
			i = sort.Search(len(depthBuckets), func(i int) bool { return s.ScrollDepth < depthBuckets[i] })
			d.sessions.Depth[i]++
		}
	} else if v, ok := t.Field("open"); ok {
		// Reports come every tick; only a change of the total is news for
		// the dashboards (each push sends the whole state).
		now := time.Now()
		before, first := d.openTotal(), len(d.sessions.openByTask) == 0
		d.sessions.openByTask[t.SourceTask] = openReport{v.Int(), now}
		for task, r := range d.sessions.openByTask {
			if now.Sub(r.at) > openReportTTL {
				delete(d.sessions.openByTask, task)
			}
		}
		if d.sessions.Open = d.openTotal(); d.sessions.Open == before && !first {
			return
		}
	} else {
		d.out.ReportError(fmt.Errorf("dashboard: a tuple from %s/%s has no snapshot, session or open field", t.Component(), t.Stream()))
		return
	}
	d.version++
	d.changed.Broadcast()
}

// openTotal adds up the sessionizer tasks' open sessions; d.mu is held.
func (d *Dashboard) openTotal() int64 {
	var n int64
	for _, r := range d.sessions.openByTask {
		n += r.n
	}
	return n
}

// state is the JSON the page gets.
func (d *Dashboard) state() ([]byte, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now().UnixMilli()
	var active int64
	for _, raw := range d.pages {
		var p struct {
			Active int64 `json:"active"`
		}
		if json.Unmarshal(raw, &p) == nil {
			active += p.Active
		}
	}
	sessions := d.sessions
	if len(d.sessions.openByTask) == 0 {
		// No sessionizer reports open sessions: a visitor active on a page
		// is in an open session.
		sessions.Open = active
	}
	data, _ := json.Marshal(map[string]any{
		"now":           now,
		"page_url":      d.pageURL,
		"pages":         d.pages,
		"sessions":      sessions,
		"length_bounds": lengthBuckets,
		"lag_p99_ms":    p99(d.lags, now),
	})
	return data, d.version
}

// p99 is the 99th percentile of the lags of the last lagWindowMS.
func p99(samples []lagSample, now int64) int64 {
	var s []int64
	for _, x := range samples {
		if now-x.at <= lagWindowMS {
			s = append(s, x.lag)
		}
	}
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)*99)/100]
}

func (d *Dashboard) serveState(w http.ResponseWriter, _ *http.Request) {
	data, _ := d.state()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// serveStream sends the state as Server-Sent Events whenever it changed,
// at most every push interval.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Connection", "keep-alive")
	ctx := r.Context()
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.changed.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	var sent uint64 = ^uint64(0)
	for {
		data, v := d.state()
		if v != sent {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
				return
			}
			flusher.Flush()
			sent = v
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.push):
		}
		d.mu.Lock()
		for d.version == sent && ctx.Err() == nil && !d.stopped() {
			d.changed.Wait()
		}
		d.mu.Unlock()
		if d.stopped() {
			return
		}
	}
}

// stopped reports whether Cleanup has begun.
func (d *Dashboard) stopped() bool {
	return d.srv == nil || d.cancelled.Load()
}

// Cleanup stops the web server.
func (d *Dashboard) Cleanup() error {
	if d.srv == nil {
		return nil
	}
	d.cancelled.Store(true)
	lastDashboardURL.CompareAndSwap(d.url, nil)
	d.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := d.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = d.srv.Close()
	}
	d.wg.Wait()
	return err
}

// TopologyYAML is topology.yaml, built in for `gale dev`.
//
//go:embed topology.yaml
var TopologyYAML []byte
