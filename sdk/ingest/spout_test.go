package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// emitted is one recorded EmitSpout call.
type emitted struct {
	msgID    uint64
	reliable bool
	values   []sdk.Value
}

// fakeEmitter is the runtime in these tests. The spout calls it from the
// test goroutine (NextTuple) only.
type fakeEmitter struct {
	emits []emitted
	errs  []error
}

func (f *fakeEmitter) EmitBolt(string, []*sdk.Tuple, []sdk.Value, int32) {
	panic("spout emitted as a bolt")
}
func (f *fakeEmitter) EmitSpout(stream string, msgID uint64, reliable bool, values []sdk.Value, direct int32) {
	if stream != "" || direct != 0 {
		panic("unexpected stream or direct emit")
	}
	f.emits = append(f.emits, emitted{msgID, reliable, slices.Clone(values)})
}
func (f *fakeEmitter) Ack(*sdk.Tuple)        {}
func (f *fakeEmitter) Fail(*sdk.Tuple)       {}
func (f *fakeEmitter) ReportError(err error) { f.errs = append(f.errs, err) }
func (f *fakeEmitter) EndOfInput()           { panic("the ingest never ends its input") }

func (f *fakeEmitter) take() []emitted {
	e := f.emits
	f.emits = nil
	return e
}

func taskContext(index int, conf map[string]any) *sdk.TaskContext {
	c := sdk.Config{}
	for k, v := range conf {
		val, ok := sdk.Of(v)
		if !ok {
			panic(fmt.Sprintf("config %s: unsupported %T", k, v))
		}
		c[k] = val
	}
	return &sdk.TaskContext{
		Topology: "ingest-test", Component: "ingest", TaskID: int32(1 + index), TaskIndex: int32(index),
		Config: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

type harness struct {
	t      *testing.T
	spout  *Spout
	em     *fakeEmitter
	url    string
	client *http.Client
}

// open starts a spout on 127.0.0.1:0 with conf and closes it at cleanup.
// Unless conf says otherwise it answers on receipt (ingest.confirm:
// received): these tests post and then drive NextTuple from one
// goroutine, so an answer that waited for acks would never come. The
// tests of confirm: processed set it.
func open(t *testing.T, conf map[string]any) *harness {
	t.Helper()
	if conf == nil {
		conf = map[string]any{}
	}
	if _, ok := conf[KeyAddr]; !ok {
		conf[KeyAddr] = "127.0.0.1:0"
	}
	if _, ok := conf[KeyConfirm]; !ok {
		conf[KeyConfirm] = ConfirmReceived
	}
	h := &harness{t: t, spout: New(), em: &fakeEmitter{}}
	if err := h.spout.Open(t.Context(), taskContext(0, conf), sdk.NewSpoutCollector(h.em)); err != nil {
		t.Fatal(err)
	}
	h.url = h.spout.URL()
	h.client = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		if err := h.spout.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (h *harness) do(method, path, contentType, body string, header map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (h *harness) post(body string) response {
	h.t.Helper()
	return h.do("POST", EventsPath, "application/json", body, nil)
}

// pump calls NextTuple until n tuples were emitted (or fails the test).
func (h *harness) pump(n int) []emitted {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.em.emits) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("emitted %d tuples, want %d", len(h.em.emits), n)
		}
		before := len(h.em.emits)
		h.spout.NextTuple()
		if len(h.em.emits) == before {
			time.Sleep(time.Millisecond)
		}
	}
	h.spout.NextTuple()
	if len(h.em.emits) != n {
		h.t.Fatalf("emitted %d tuples, want exactly %d", len(h.em.emits), n)
	}
	return h.em.take()
}

func event(visitor string, ts int64, typ string, extra string) string {
	return fmt.Sprintf(`{"visitor":%q,"ts":%d,"type":%q,"page":"/"%s}`, visitor, ts, typ, extra)
}

func TestValidBatchEmitsTypedTuples(t *testing.T) {
	h := open(t, nil)
	body := "[" + strings.Join([]string{
		event("v1", 1000, "pageview", `,"vw":1280,"vh":800,"dw":1280,"dh":3000`),
		event("v1", 1050, "move", `,"x":10,"y":20,"vw":1280,"vh":800`),
		event("v1", 1100, "click", `,"x":11,"y":21,"vw":1280,"vh":800,"target":"#cta"`),
		event("v1", 1200, "scroll", `,"depth":0.5`),
		event("v1", 1300, "visibility", `,"visible":false`),
	}, ",") + "]"
	r := h.post(body)
	if r.code != http.StatusAccepted || strings.TrimSpace(r.body) != `{"accepted":5}` {
		t.Fatalf("got %d %s", r.code, r.body)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header on the answer: %v", r.header)
	}
	got := h.pump(5)
	n := sdk.Null()
	S, I, D := sdk.String, func(i int64) sdk.Value { return sdk.Int(i) }, sdk.Double
	want := [][]sdk.Value{
		{S("v1"), I(1000), S("pageview"), S("/"), n, n, I(1280), I(800), n, n, I(1280), I(3000)},
		{S("v1"), I(1050), S("move"), S("/"), I(10), I(20), I(1280), I(800), n, n, n, n},
		{S("v1"), I(1100), S("click"), S("/"), I(11), I(21), I(1280), I(800), S("#cta"), n, n, n},
		{S("v1"), I(1200), S("scroll"), S("/"), n, n, n, n, n, D(0.5), n, n},
		{S("v1"), I(1300), S("visibility"), S("/"), n, n, n, n, n, D(0), n, n},
	}
	ids := map[uint64]bool{}
	for i, e := range got {
		if !e.reliable || e.msgID == 0 || ids[e.msgID] {
			t.Errorf("tuple %d: reliable=%v msgID=%d (ids must be unique and nonzero)", i, e.reliable, e.msgID)
		}
		ids[e.msgID] = true
		if len(e.values) != len(Fields) {
			t.Fatalf("tuple %d has %d values, want %d (Fields)", i, len(e.values), len(Fields))
		}
		for j := range want[i] {
			if !e.values[j].Equal(want[i][j]) {
				t.Errorf("tuple %d field %s: got %s %v, want %s %v", i, Fields[j], e.values[j].Kind(), e.values[j], want[i][j].Kind(), want[i][j])
			}
		}
		// The event id: this run's, with the message id as its sequence.
		if id := e.values[IdxEvent].Int(); EventIDRun(id) != h.spout.run || EventIDSeq(id) != int64(e.msgID) || h.spout.run < 1 {
			t.Errorf("tuple %d: event id %#x, want run %#x and sequence %d", i, id, h.spout.run, e.msgID)
		}
	}
	// The object form, text/plain as sendBeacon sends it.
	r = h.do("POST", EventsPath, "text/plain;charset=UTF-8", `{"events":[`+event("v2", 5, "scroll", `,"depth":1`)+`]}`, nil)
	if r.code != http.StatusAccepted {
		t.Fatalf("text/plain object body: %d %s", r.code, r.body)
	}
	if e := h.pump(1); e[0].values[IdxVisitor].Str() != "v2" || e[0].values[IdxValue].Double() != 1 {
		t.Fatalf("got %v", e[0].values)
	}
	st := h.spout.Stats()
	if st.Accepted != 6 || st.Emitted != 6 || st.Pending != 6 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBadInputAnswers(t *testing.T) {
	h := open(t, map[string]any{KeyMaxBody: 4096})
	good := event("v", 1, "scroll", `,"depth":0.1`)
	cases := []struct {
		name, ctype, body string
		code              int
		index             *int
		msg               string
	}{
		{"malformed", "application/json", `[` + good + `,{"visitor":}]`, 400, ptr(1), "malformed JSON"},
		{"missing-field", "application/json", `[` + good + `,` + good + `,{"visitor":"v","ts":1,"type":"move","page":"/","x":1,"y":2,"vw":3}]`, 400, ptr(2), `missing field "vh"`},
		{"mistyped", "application/json", `[{"visitor":"v","ts":"now","type":"scroll","page":"/","depth":0.1}]`, 400, ptr(0), `field "ts": want an integer, got a string`},
		{"not-an-array", "application/json", `{"visitor":"v"}`, 400, nil, `no "events" member`},
		{"empty", "application/json", ``, 400, nil, "empty body"},
		{"content-type", "application/x-www-form-urlencoded", `[]`, 415, nil, "Content-Type"},
		{"oversized", "application/json", `[` + strings.Repeat(good+",", 100) + good + `]`, 413, nil, "ingest.max_body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(tc.body)
			if tc.ctype != "application/json" {
				r = h.do("POST", EventsPath, tc.ctype, tc.body, nil)
			}
			if r.code != tc.code {
				t.Fatalf("got %d %s, want %d", r.code, r.body, tc.code)
			}
			var got struct {
				Error string
				Index *int
			}
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("answer is not JSON: %q", r.body)
			}
			if !strings.Contains(got.Error, tc.msg) {
				t.Errorf("error %q does not say %q", got.Error, tc.msg)
			}
			if (got.Index == nil) != (tc.index == nil) || got.Index != nil && *got.Index != *tc.index {
				t.Errorf("index %v, want %v", deref(got.Index), deref(tc.index))
			}
			if r.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header on an error answer")
			}
		})
	}
	// A chunked body (no Content-Length) over the limit is cut off too.
	req, _ := http.NewRequest("POST", h.url+EventsPath, io.MultiReader(strings.NewReader("["), strings.NewReader(strings.Repeat(" ", 5000)+"]")))
	req.ContentLength = -1
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversized body: %d", resp.StatusCode)
	}
	// Wrong methods and paths.
	if r := h.do("GET", EventsPath, "", "", nil); r.code != 405 {
		t.Errorf("GET /events: %d", r.code)
	}
	if r := h.do("GET", "/tracker.js", "", "", nil); r.code != 404 {
		t.Errorf("GET /tracker.js without assets: %d", r.code)
	}
	h.spout.NextTuple()
	if st := h.spout.Stats(); st.Accepted != 0 || len(h.em.emits) != 0 || st.Pending != 0 {
		t.Fatalf("rejected bodies emitted or held events: %+v, %d emits", st, len(h.em.emits))
	}
}

func ptr(i int) *int { return &i }

func deref(p *int) any {
	if p == nil {
		return "none"
	}
	return *p
}

func TestCORS(t *testing.T) {
	h := open(t, nil)
	r := h.do("OPTIONS", EventsPath, "", "", map[string]string{
		"Origin": "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	})
	if r.code != http.StatusNoContent {
		t.Fatalf("preflight: %d", r.code)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST, OPTIONS",
		"Access-Control-Allow-Headers": "content-type",
		"Access-Control-Max-Age":       "86400",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}

	// An allow-list echoes listed origins only.
	h2 := open(t, map[string]any{KeyCORSOrigin: "https://a.example, https://b.example"})
	r = h2.do("OPTIONS", EventsPath, "", "", map[string]string{"Origin": "https://b.example", "Access-Control-Request-Method": "POST"})
	if r.header.Get("Access-Control-Allow-Origin") != "https://b.example" || r.header.Get("Vary") != "Origin" {
		t.Errorf("listed origin: %v", r.header)
	}
	r = h2.do("POST", EventsPath, "text/plain", "[]", map[string]string{"Origin": "https://evil.example"})
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("unlisted origin allowed: %q", got)
	}
}

func TestHealthAndAssets(t *testing.T) {
	if err := RegisterAssets("ingest-test", fstest.MapFS{
		"index.html": {Data: []byte("<html>hi</html>")},
		"tracker.js": {Data: []byte("console.log(1)")},
		"dir/a.css":  {Data: []byte("a{}")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := RegisterAssets("ingest-test", fstest.MapFS{}); err == nil {
		t.Fatal("a duplicate asset set was registered")
	}
	h := open(t, map[string]any{KeyAssets: "ingest-test"})
	if r := h.do("GET", "/healthz", "", "", nil); r.code != 200 || !strings.Contains(r.body, `"status":"ok"`) {
		t.Fatalf("healthz: %d %s", r.code, r.body)
	}
	for path, want := range map[string]string{"/": "<html>hi</html>", "/index.html": "<html>hi</html>", "/tracker.js": "console.log(1)", "/dir/a.css": "a{}"} {
		r := h.do("GET", path, "", "", nil)
		if r.code != 200 || r.body != want {
			t.Errorf("GET %s: %d %q", path, r.code, r.body)
		}
		if path == "/tracker.js" && !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
			t.Errorf("tracker.js served as %q", r.header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/dir", "/dir/", "/missing.js", "/../x"} {
		if r := h.do("GET", path, "", "", nil); r.code != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.code)
		}
	}
	// An unknown asset set fails Open with the names that exist.
	err := New().Open(t.Context(), taskContext(0, map[string]any{KeyAddr: "127.0.0.1:0", KeyAssets: "nope"}), sdk.NewSpoutCollector(&fakeEmitter{}))
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "ingest-test") {
		t.Fatalf("unknown assets: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := []struct {
		conf map[string]any
		msg  string
	}{
		{map[string]any{KeyAddr: ln.Addr().String()}, "listen on " + ln.Addr().String()},
		{map[string]any{KeyAddr: "localhost"}, "ingest.addr: want HOST:PORT"},
		{map[string]any{KeyAddr: "127.0.0.1:70000"}, "ingest.addr: port"},
		{map[string]any{KeyMaxBody: 0}, "ingest.max_body"},
		{map[string]any{KeyMaxBody: "big"}, "ingest.max_body"},
		{map[string]any{KeyMaxPending: 0}, "ingest.max_pending"},
		{map[string]any{KeyCORSOrigin: " "}, "ingest.cors_origin"},
		{map[string]any{KeyConfirm: "acked"}, `ingest.confirm: want "processed" or "received", got "acked"`},
		{map[string]any{KeyConfirmTimeout: 0}, "ingest.confirm_timeout_ms: must be from 1 to 600000 ms, got 0"},
		{map[string]any{KeyConfirmTimeout: "soon"}, "ingest.confirm_timeout_ms: want a duration"},
		{map[string]any{KeyConfirmTimeout: "11m"}, "ingest.confirm_timeout_ms: must be from 1 to 600000 ms"},
	}
	for _, tc := range cases {
		if _, ok := tc.conf[KeyAddr]; !ok {
			tc.conf[KeyAddr] = "127.0.0.1:0"
		}
		s := New()
		err := s.Open(t.Context(), taskContext(0, tc.conf), sdk.NewSpoutCollector(&fakeEmitter{}))
		if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), ClassHTTPIngest) {
			t.Errorf("%v: got %v, want an error with %q", tc.conf, err, tc.msg)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close after a failed open: %v", err)
		}
	}
	// Task i listens on port+i.
	if a, err := TaskAddr("127.0.0.1:8080", 3); err != nil || a != "127.0.0.1:8083" {
		t.Errorf("TaskAddr: %q %v", a, err)
	}
	if _, err := TaskAddr("127.0.0.1:65535", 1); err == nil {
		t.Errorf("TaskAddr beyond 65535 accepted")
	}
	if a, _ := TaskAddr("[::1]:0", 5); a != "[::1]:0" {
		t.Errorf("TaskAddr port 0: %q", a)
	}
}

func TestMaxPending(t *testing.T) {
	h := open(t, map[string]any{KeyMaxPending: 3})
	ev := event("v", 1, "scroll", `,"depth":0.1`)
	if r := h.post("[" + ev + "," + ev + "]"); r.code != 202 {
		t.Fatalf("first batch: %d %s", r.code, r.body)
	}
	r := h.post("[" + ev + "," + ev + "]")
	if r.code != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "ingest.max_pending") {
		t.Fatalf("over max_pending: %d %v %s", r.code, r.header, r.body)
	}
	if r := h.post("[" + ev + "," + ev + "," + ev + "," + ev + "]"); r.code != 413 {
		t.Fatalf("a batch larger than max_pending: %d %s", r.code, r.body)
	}
	if r := h.post("[" + ev + "]"); r.code != 202 {
		t.Fatalf("one more fits: %d %s", r.code, r.body)
	}
	got := h.pump(3)
	// Emitted but not acked still counts: still full.
	if r := h.post("[" + ev + "]"); r.code != 503 {
		t.Fatalf("emitted, unacked events must still count: %d", r.code)
	}
	h.spout.Ack(got[0].msgID)
	h.spout.Ack(got[0].msgID) // a duplicate ack changes nothing
	if r := h.post("[" + ev + "]"); r.code != 202 {
		t.Fatalf("after an ack: %d %s", r.code, r.body)
	}
	if r := h.post("[" + ev + "]"); r.code != 503 {
		t.Fatalf("full again: %d", r.code)
	}
	if st := h.spout.Stats(); st.Pending != 3 || st.Rejected != 4 || st.Accepted != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReplayAfterFail(t *testing.T) {
	h := open(t, nil)
	var evs []string
	for i := range 10 {
		evs = append(evs, event(fmt.Sprint("v", i), int64(i), "scroll", `,"depth":0.5`))
	}
	if r := h.post("[" + strings.Join(evs, ",") + "]"); r.code != 202 {
		t.Fatal(r.code, r.body)
	}
	first := h.pump(10)
	byID := map[uint64]string{}
	for _, e := range first {
		byID[e.msgID] = e.values[IdxVisitor].Str()
	}
	// Fail 3 and 7 (twice: queued once), ack the rest.
	failed := []uint64{first[3].msgID, first[7].msgID}
	for _, e := range first {
		if e.msgID != failed[0] && e.msgID != failed[1] {
			h.spout.Ack(e.msgID)
		}
	}
	h.spout.Fail(failed[0])
	h.spout.Fail(failed[1])
	h.spout.Fail(failed[0])
	h.spout.Fail(12345) // unknown: ignored
	// New events arrive meanwhile; replays come first.
	if r := h.post("[" + event("new", 99, "scroll", `,"depth":0.5`) + "]"); r.code != 202 {
		t.Fatal(r.code)
	}
	again := h.pump(3)
	if again[0].msgID != failed[0] || again[1].msgID != failed[1] {
		t.Fatalf("replays: got ids %d %d, want %v first", again[0].msgID, again[1].msgID, failed)
	}
	for _, e := range again[:2] {
		if e.values[IdxVisitor].Str() != byID[e.msgID] {
			t.Fatalf("replay of %d carries %v, want visitor %s", e.msgID, e.values, byID[e.msgID])
		}
		if e.values[IdxEvent].Int() != first[slices.IndexFunc(first, func(f emitted) bool { return f.msgID == e.msgID })].values[IdxEvent].Int() {
			t.Fatalf("replay of %d has another event id than its first emit", e.msgID)
		}
	}
	if again[2].values[IdxVisitor].Str() != "new" {
		t.Fatalf("new event after the replays: %v", again[2].values)
	}
	// Ack after a fail that is queued: the queued replay is skipped.
	h.spout.Fail(again[2].msgID)
	h.spout.Ack(again[2].msgID)
	h.spout.NextTuple()
	if len(h.em.emits) != 0 {
		t.Fatalf("an acked event was replayed: %v", h.em.emits)
	}
	st := h.spout.Stats()
	if st.Replayed != 2 || st.Failed != 4 || st.Pending != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNothingLost posts from several clients at once while the spout fails
// a quarter of its tuples at random; every accepted event must be acked
// exactly once in the end, and nothing else. With confirm: processed, no
// request may be answered before each of its events was acked.
func TestNothingLost(t *testing.T) {
	for _, mode := range []struct {
		confirm string
		ok      int
	}{{ConfirmReceived, http.StatusAccepted}, {ConfirmProcessed, http.StatusOK}} {
		t.Run(mode.confirm, func(t *testing.T) { testNothingLost(t, mode.confirm, mode.ok) })
	}
}

func testNothingLost(t *testing.T, confirm string, okCode int) {
	h := open(t, map[string]any{KeyMaxPending: 60, KeyConfirm: confirm})
	const clients, batches, per = 4, 40, 25
	var wg sync.WaitGroup
	var mu sync.Mutex // guards accepted, acked, rejected
	accepted := map[string]bool{}
	acked := map[string]int{}
	rejected := 0
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for b := 0; b < batches; {
				var evs []string
				var ids []string
				for i := range per {
					id := fmt.Sprintf("c%d-b%d-e%d", c, b, i)
					ids = append(ids, id)
					evs = append(evs, event(id, int64(i), "scroll", `,"depth":0.5`))
				}
				resp, err := client.Post(h.url+EventsPath, "application/json", strings.NewReader("["+strings.Join(evs, ",")+"]"))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case okCode:
					for _, id := range ids {
						accepted[id] = true
						if confirm == ConfirmProcessed && acked[id] == 0 {
							t.Errorf("request answered %d before its event %s was acked", okCode, id)
						}
					}
					b++
				case 503:
					rejected++
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
				mu.Unlock()
				if resp.StatusCode == 503 {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	inflight := map[uint64]string{}
	rnd := uint64(1)
	settle := func() {
		for id, v := range inflight {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			if rnd>>62 == 0 { // a quarter fail
				h.spout.Fail(id)
			} else {
				mu.Lock()
				acked[v]++ // before the ack that may answer the request
				mu.Unlock()
				h.spout.Ack(id)
			}
			delete(inflight, id)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.spout.NextTuple()
		for _, e := range h.em.take() {
			if prev, ok := inflight[e.msgID]; ok {
				t.Fatalf("message %d emitted twice while in flight (%s)", e.msgID, prev)
			}
			inflight[e.msgID] = e.values[IdxVisitor].Str()
		}
		settle()
		finished := false
		select {
		case <-done:
			finished = h.spout.Stats().Pending == 0
		default:
		}
		if finished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done: %+v", h.spout.Stats())
		}
		time.Sleep(100 * time.Microsecond)
	}
	if len(accepted) != clients*batches*per {
		t.Fatalf("accepted %d events, want %d", len(accepted), clients*batches*per)
	}
	for id := range accepted {
		if acked[id] != 1 {
			t.Fatalf("event %s acked %d times", id, acked[id])
		}
	}
	if len(acked) != len(accepted) {
		t.Fatalf("acked %d distinct events, accepted %d", len(acked), len(accepted))
	}
	st := h.spout.Stats()
	if st.Replayed == 0 || st.Failed != st.Replayed {
		t.Fatalf("stats %+v: every failure must be replayed once", st)
	}
	if confirm == ConfirmProcessed && (st.Confirmed != uint64(len(accepted)) || st.Unconfirmed != 0) {
		t.Fatalf("stats %+v: want every event confirmed", st)
	}
	t.Logf("%d events, %d replays, %d requests answered 503", len(accepted), st.Replayed, rejected)
}

// postAsync posts body from another goroutine; the answer arrives on the
// returned channel.
func (h *harness) postAsync(ctx context.Context, body string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "POST", h.url+EventsPath, strings.NewReader(body))
		if err != nil {
			ch <- response{body: err.Error()}
			return
		}
		resp, err := h.client.Do(req)
		if err != nil {
			ch <- response{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- response{resp.StatusCode, resp.Header, string(b)}
	}()
	return ch
}

// waitFor polls cond until it holds (or fails the test after 5 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestConfirmProcessed: by default a request is answered 200 once its last
// event is acked, failures and replays included.
func TestConfirmProcessed(t *testing.T) {
	h := open(t, map[string]any{KeyConfirm: ConfirmProcessed})
	evs := []string{event("a", 1, "scroll", `,"depth":0.1`), event("b", 2, "scroll", `,"depth":0.2`), event("c", 3, "scroll", `,"depth":0.3`)}
	answer := h.postAsync(t.Context(), "["+strings.Join(evs, ",")+"]")
	waitFor(t, "the events to be queued", func() bool { return h.spout.Stats().Accepted == 3 })
	got := h.pump(3)
	h.spout.Ack(got[0].msgID)
	h.spout.Fail(got[1].msgID)
	h.spout.Ack(got[2].msgID)
	replay := h.pump(1)
	select {
	case r := <-answer:
		t.Fatalf("answered %d %s with an event still in flight", r.code, r.body)
	case <-time.After(50 * time.Millisecond): // an early answer has had time to arrive
	}
	h.spout.Ack(replay[0].msgID)
	r := await(t, answer)
	if r.code != http.StatusOK || strings.TrimSpace(r.body) != `{"processed":3}` {
		t.Fatalf("got %d %s, want 200 {\"processed\":3}", r.code, r.body)
	}
	if st := h.spout.Stats(); st.Confirmed != 3 || st.Unconfirmed != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	// An empty batch has nothing to wait for.
	if r := h.post("[]"); r.code != http.StatusOK || strings.TrimSpace(r.body) != `{"processed":0}` {
		t.Fatalf("empty batch: %d %s", r.code, r.body)
	}
}

// TestConfirmTimeoutAndClose: a request whose events are not processed in
// time, or whose task closes first, gets 503 with Retry-After so that the
// client sends them again; the events themselves stay queued.
func TestConfirmTimeoutAndClose(t *testing.T) {
	h := open(t, map[string]any{KeyConfirm: ConfirmProcessed, KeyConfirmTimeout: 50})
	r := h.post("[" + event("slow", 1, "scroll", `,"depth":0.5`) + "]")
	if r.code != 503 || r.header.Get("Retry-After") != "1" ||
		!strings.Contains(r.body, "not processed within ingest.confirm_timeout_ms (50 ms); send them again") {
		t.Fatalf("timeout: %d %v %s", r.code, r.header, r.body)
	}
	if got := h.pump(1); got[0].values[IdxVisitor].Str() != "slow" {
		t.Fatalf("the event of a timed-out request must still be emitted: %v", got[0].values)
	}
	if st := h.spout.Stats(); st.Unconfirmed != 1 || st.Rejected != 0 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}

	h2 := open(t, map[string]any{KeyConfirm: ConfirmProcessed})
	answer := h2.postAsync(t.Context(), "["+event("late", 1, "scroll", `,"depth":0.5`)+"]")
	waitFor(t, "the event to be queued", func() bool { return h2.spout.Stats().Accepted == 1 })
	if err := h2.spout.Close(); err != nil {
		t.Fatal(err)
	}
	r = await(t, answer)
	if r.code != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "the ingest task stopped before these events were processed") {
		t.Fatalf("close: %d %v %s", r.code, r.header, r.body)
	}
	if st := h2.spout.Stats(); st.Unconfirmed != 1 || st.Confirmed != 0 || st.Rejected != 0 {
		t.Fatalf("stats after close %+v", st)
	}
}

// await waits for an answer, for at most 10 s.
func await(t *testing.T, answer <-chan response) response {
	t.Helper()
	select {
	case r := <-answer:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s")
		return response{}
	}
}

// TestConfirmDefault: without ingest.confirm, answers wait for processing.
func TestConfirmDefault(t *testing.T) {
	c, err := ConfigFrom(sdk.Config{})
	if err != nil || c.Confirm != ConfirmProcessed || c.ConfirmTimeout != 30*time.Second {
		t.Fatalf("defaults %+v, %v: want confirm processed, 30 s", c, err)
	}
}

// TestConfirmHalfClosedClient: a client that closes its sending side while
// it waits still reads the answer; net/http cancels the request's context
// then, and a handler that wrote nothing would send 200. It must get 503.
func TestConfirmHalfClosedClient(t *testing.T) {
	h := open(t, map[string]any{KeyConfirm: ConfirmProcessed})
	body := "[" + event("half", 1, "scroll", `,"depth":0.5`) + "]"
	conn, err := net.Dial("tcp", h.spout.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", EventsPath, len(body), body)
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "the request ended before these events were processed") {
		t.Fatalf("half-closed client got %d %s, want 503", resp.StatusCode, b)
	}
	if st := h.spout.Stats(); st.Unconfirmed != 1 || st.Confirmed != 0 || st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConfirmClientGone: a client that leaves while waiting changes
// nothing for its events.
func TestConfirmClientGone(t *testing.T) {
	h := open(t, map[string]any{KeyConfirm: ConfirmProcessed})
	ctx, cancel := context.WithCancel(t.Context())
	answer := h.postAsync(ctx, "["+event("gone", 1, "scroll", `,"depth":0.5`)+"]")
	waitFor(t, "the event to be queued", func() bool { return h.spout.Stats().Accepted == 1 })
	cancel()
	await(t, answer)
	waitFor(t, "the handler to see the client leave", func() bool { return h.spout.Stats().Unconfirmed == 1 })
	got := h.pump(1)
	h.spout.Ack(got[0].msgID)
	if st := h.spout.Stats(); st.Pending != 0 || st.Acked != 1 || st.Confirmed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseStopsServerWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := New()
	em := &fakeEmitter{}
	if err := s.Open(t.Context(), taskContext(0, map[string]any{KeyAddr: "127.0.0.1:0"}), sdk.NewSpoutCollector(em)); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String()
	// A keep-alive connection left open, and a slow request in progress.
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	resp, err := client.Post(url+EventsPath, "application/json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[")
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	if d := time.Since(start); d > shutdownGrace+2*time.Second {
		t.Fatalf("close took %v", d)
	}
	conn.Close()
	tr.CloseIdleConnections()
	if _, err := client.Post(url+EventsPath, "application/json", strings.NewReader("[]")); err == nil {
		t.Fatal("the server still answers after Close")
	}
	tr.CloseIdleConnections()
}

// A batch from a page whose clock is off has its events' times corrected
// by the batch's "sent" (the tracker sends it), and an event still ahead
// of the ingest's clock is set to its arrival: one event a day ahead
// moved the session windows' watermark past everyone's events, and every
// later session was dropped as late.
func TestEventTimesFollowTheIngestsClock(t *testing.T) {
	h := open(t, nil)
	now := time.Now().UnixMilli()
	day := int64(24 * time.Hour / time.Millisecond)
	// A page a day ahead: its events and "sent" by its clock.
	r := h.post(`{"sent":` + fmt.Sprint(now+day) + `,"events":[` + event("ahead", now+day-500, "pageview", `,"vw":1,"vh":1`) + "," + event("ahead", now+day-100, "scroll", `,"depth":1`) + `]}`)
	if r.code != http.StatusAccepted {
		t.Fatalf("got %d %s", r.code, r.body)
	}
	got := h.pump(2)
	for i, want := range []int64{now - 500, now - 100} {
		if ts := got[i].values[IdxTS].Int(); ts < want || ts > want+5000 {
			t.Errorf("event %d of the page a day ahead: ts %d, want %d or a little later", i, ts, want)
		}
	}
	// No "sent" (an array body): a time far ahead is set to the arrival.
	r = h.post("[" + event("bare", now+day, "scroll", `,"depth":1`) + "," + event("bare", now-1000, "scroll", `,"depth":1`) + "]")
	if r.code != http.StatusAccepted {
		t.Fatalf("got %d %s", r.code, r.body)
	}
	got = h.pump(2)
	if ts := got[0].values[IdxTS].Int(); ts < now || ts > now+5000 {
		t.Errorf("an event a day ahead without sent: ts %d, want about %d", ts, now)
	}
	if ts := got[1].values[IdxTS].Int(); ts != now-1000 {
		t.Errorf("an event in the past: ts %d, want %d unchanged", ts, now-1000)
	}
	if st := h.spout.Stats(); st.Clamped != 1 {
		t.Errorf("Clamped = %d, want 1", st.Clamped)
	}
	// A clock within the tolerance is taken as right.
	r = h.post(`{"sent":` + fmt.Sprint(now+500) + `,"events":[` + event("near", 12345, "scroll", `,"depth":1`) + `]}`)
	if r.code != http.StatusAccepted {
		t.Fatalf("got %d %s", r.code, r.body)
	}
	if ts := h.pump(1)[0].values[IdxTS].Int(); ts != 12345 {
		t.Errorf("a clock 0.5 s off: ts %d, want 12345 unchanged", ts)
	}
}

func TestCorrectClock(t *testing.T) {
	const now = 1_800_000_000_000
	for _, c := range []struct {
		name    string
		ts      []int64
		sent    int64
		want    []int64
		clamped int
	}{
		{"no sent, in the past", []int64{now - 5000, 0}, 0, []int64{now - 5000, 0}, 0},
		{"no sent, a little ahead", []int64{now + 1900}, 0, []int64{now + 1900}, 0},
		{"no sent, far ahead", []int64{now + 2100, math.MaxInt64}, 0, []int64{now, now}, 2},
		{"sent within tolerance", []int64{now + 1500}, now + 1900, []int64{now + 1500}, 0},
		{"clock behind by an hour", []int64{now - 3600_000 - 20}, now - 3600_000, []int64{now - 20}, 0},
		{"clock behind, overflow guarded", []int64{math.MaxInt64 - 10}, 1, []int64{now}, 1},
		{"clock far ahead, floor at 0", []int64{5}, now * 2, []int64{0}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			events := make([]Event, len(c.ts))
			for i, ts := range c.ts {
				events[i].TS = ts
			}
			n := correctClock(events, c.sent, now)
			for i := range events {
				if events[i].TS != c.want[i] {
					t.Errorf("event %d: ts %d, want %d", i, events[i].TS, c.want[i])
				}
			}
			if n != c.clamped {
				t.Errorf("clamped %d, want %d", n, c.clamped)
			}
		})
	}
}

// A POST to a path the ingest does not serve (a mistyped data-endpoint)
// gets a 404 saying where events go, with CORS headers: without them a
// browser reports a network error, and the tracker retries for ever.
func TestAWrongPathIsA404ATrackerCanRead(t *testing.T) {
	h := open(t, nil)
	r := h.do("POST", "/event", "text/plain", "[]", map[string]string{"Origin": "http://example.test"})
	if r.code != http.StatusNotFound || !strings.Contains(r.body, "events go to POST /events") || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("POST /event: %d %v %s", r.code, r.header, r.body)
	}
	r = h.do("PUT", EventsPath, "text/plain", "[]", map[string]string{"Origin": "http://example.test"})
	if r.code != http.StatusMethodNotAllowed || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("PUT /events: %d %v %s", r.code, r.header, r.body)
	}
	// Someone opening the endpoint in a browser learns what it takes
	// (with assets served, it was a plain 404 page).
	r = h.do("GET", EventsPath, "", "", nil)
	if r.code != http.StatusMethodNotAllowed || !strings.Contains(r.body, "events are sent with POST /events") || r.header.Get("Allow") != "POST, OPTIONS" {
		t.Fatalf("GET /events: %d %v %s", r.code, r.header, r.body)
	}
}

// Event ids stay unique and positive past a run's 2^40 sequence numbers:
// the run goes on as the next run number, wrapping at 2^23.
func TestEventIDs(t *testing.T) {
	last := int64(1<<(63-eventSeqBits) - 1)
	for _, c := range []struct {
		run  int64
		id   uint64
		want int64
	}{
		{1, 1, 1<<eventSeqBits | 1},
		{5, 1<<eventSeqBits + 7, 6<<eventSeqBits | 7},
		{last, 1, last<<eventSeqBits | 1},
		{last, 1<<eventSeqBits | 2, 1<<eventSeqBits | 2},
	} {
		s := &Spout{run: c.run}
		if got := s.eventID(c.id); got != c.want || got <= 0 {
			t.Errorf("run %#x, message %#x: event id %#x, want %#x", c.run, c.id, got, c.want)
		}
	}
}
