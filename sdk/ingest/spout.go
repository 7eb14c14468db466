package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
)

// ClassHTTPIngest is the class name the spout is registered under.
const ClassHTTPIngest = "gale.HTTPIngest"

// EventsPath is where events are posted.
const EventsPath = "/events"

// Sentinel errors.
var (
	// ErrAssets is wrapped by errors about asset sets: registering one
	// twice, or a spout naming one that is not registered.
	ErrAssets = errors.New("ingest asset set")
)

const (
	// emitPerCall bounds the tuples one NextTuple call emits, replays
	// included, so that it returns quickly and acks flow in between.
	emitPerCall = 256
	// retryAfter is the Retry-After answer of a 503, in seconds.
	retryAfter = "1"
	// shutdownGrace is how long Close lets requests in progress finish.
	shutdownGrace = 3 * time.Second
	// maxPooledBody is the largest body buffer kept for reuse.
	maxPooledBody = 256 << 10
	// readTimeout bounds reading a request, body included.
	readTimeout = 60 * time.Second
)

func init() {
	sdk.MustRegisterSpout(ClassHTTPIngest, func() sdk.Spout { return New() })
	sdk.DeclareConfigKeys(KeyAddr, KeyMaxBody, KeyMaxPending, KeyCORSOrigin, KeyAssets, KeyConfirm, KeyConfirmTimeout, KeyTLSCert, KeyTLSKey)
}

var _ sdk.Spout = (*Spout)(nil)

// Stats are a spout task's counters since Open.
type Stats struct {
	// Accepted counts events validated and queued; Rejected counts
	// requests answered 4xx or 503 before their events were queued.
	Accepted, Rejected uint64
	// Confirmed counts queued events whose request was answered 200 once
	// they were processed (ingest.confirm: processed); Unconfirmed counts
	// queued events whose request was not: it got 503 because the wait
	// hit ingest.confirm_timeout_ms or the task was closing, or its
	// client stopped waiting (the client resends them, so they may be
	// processed twice).
	Confirmed, Unconfirmed uint64
	// Emitted counts first emits, Replayed the emits of failed events,
	// Acked and Failed the trees' outcomes.
	Emitted, Replayed, Acked, Failed uint64
	// Pending is the number of accepted events not yet acked.
	Pending int64
	// Clamped counts accepted events whose ts was still ahead of the
	// ingest's clock by more than MaxAhead after the batch's correction,
	// and was set to the time they arrived.
	Clamped uint64
}

// Spout is the HTTP ingest spout (see the package documentation). The
// runtime calls its sdk.Spout methods from one goroutine; the HTTP server
// runs on its own goroutines between Open and Close and hands validated
// batches over through a mutex-guarded inbox, so NextTuple never waits on
// the network.
type Spout struct {
	cfg     Config
	log     *slog.Logger
	out     *sdk.SpoutCollector
	origins []string // the CORS allow-list when it is not "*"
	assets  fs.FS

	srv       *http.Server
	ln        net.Listener
	scheme    string // "http" or "https"
	serveErr  error
	serveDone chan struct{}
	closeOnce sync.Once
	closing   atomic.Bool
	closed    chan struct{} // closed when Close starts: waiting requests answer 503

	mu    sync.Mutex
	inbox []*batch // guarded by mu

	pendingN                           atomic.Int64
	accepted, rejected, clamped        atomic.Uint64
	confirmed, unconfirmed             atomic.Uint64
	emitted, replayed, ackedN, failedN atomic.Uint64
	batches                            sync.Pool
	bodies                             sync.Pool

	// The runtime goroutine's state.
	local     []*batch
	localHead int
	cur       *batch
	curPos    int
	nextID    uint64
	run       int64 // this run's part of event ids (newEventRun)
	pending   map[uint64]pendingEvent
	retry     []uint64
	retryHead int
	vals      []sdk.Value
}

type batch struct {
	events []Event
	conf   *confirmation // nil with ingest.confirm: received
}

// confirmation is what a request waits on with ingest.confirm: processed:
// done is closed when the last of its events is acked.
type confirmation struct {
	left int // events not yet acked; the runtime goroutine's alone
	done chan struct{}
}

type pendingEvent struct {
	Event
	conf   *confirmation
	queued bool // in the retry queue
}

// New returns a spout to be configured by Open.
func New() *Spout { return &Spout{} }

// DeclareOutputFields declares the default stream with Fields.
func (s *Spout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare(Fields...) }

// Open reads the config, binds the task's address and starts the HTTP
// server. A bad setting or a taken port fails here, with the key or the
// address.
func (s *Spout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	cfg, err := ConfigFrom(tc.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", ClassHTTPIngest, err)
	}
	if cfg.Assets != "" {
		if s.assets, err = lookupAssets(cfg.Assets); err != nil {
			return fmt.Errorf("%s: %w", ClassHTTPIngest, err)
		}
	}
	addr, err := TaskAddr(cfg.Addr, int(tc.TaskIndex))
	if err != nil {
		return fmt.Errorf("%s: %w", ClassHTTPIngest, err)
	}
	s.cfg, s.out = cfg, out
	s.log = tc.Log
	if s.log == nil {
		s.log = slog.Default()
	}
	if o := strings.TrimSpace(cfg.CORSOrigin); o != "*" {
		for _, p := range strings.Split(o, ",") {
			if p = strings.TrimSpace(p); p != "" {
				s.origins = append(s.origins, p)
			}
		}
	}
	s.pending = make(map[uint64]pendingEvent)
	s.run = newEventRun()
	s.closed = make(chan struct{})
	s.batches.New = func() any { return &batch{events: make([]Event, 0, 32)} }
	s.bodies.New = func() any { return new(bytes.Buffer) }

	// The certificate before the port: bad files fail Open without
	// holding the address.
	var cert *security.Certificate
	s.scheme = "http"
	if cfg.TLSCert != "" {
		if cert, err = security.LoadCertificate(cfg.TLSCert, cfg.TLSKey, "config "+KeyTLSCert, KeyTLSKey); err != nil {
			return fmt.Errorf("%s: %w", ClassHTTPIngest, err)
		}
		cert.SetLogger(s.log)
		s.scheme = "https"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s (%s, task index %d): %w", ClassHTTPIngest, addr, KeyAddr, tc.TaskIndex, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		// Go's write deadline starts when the headers are read: it covers
		// reading the body and the wait for the events' processing.
		WriteTimeout:   readTimeout + cfg.ConfirmTimeout + 30*time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if cert != nil {
		s.srv.TLSConfig = cert.ServerTLS()
	}
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		var err error
		if cert != nil {
			err = s.srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
		} else {
			err = s.srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
	}()
	s.log.Info("HTTP ingest listening", "addr", ln.Addr().String(), "events", s.URL()+EventsPath)
	return nil
}

// Addr returns the address the task listens on (after Open).
func (s *Spout) Addr() net.Addr { return s.ln.Addr() }

// URL returns the task's base URL (after Open): http://HOST:PORT, or
// https://HOST:PORT with ingest.tls_cert and ingest.tls_key.
func (s *Spout) URL() string { return s.scheme + "://" + s.ln.Addr().String() }

// Stats returns the task's counters; safe to call from any goroutine.
func (s *Spout) Stats() Stats {
	return Stats{
		Accepted: s.accepted.Load(), Rejected: s.rejected.Load(),
		Emitted: s.emitted.Load(), Replayed: s.replayed.Load(),
		Acked: s.ackedN.Load(), Failed: s.failedN.Load(),
		Confirmed: s.confirmed.Load(), Unconfirmed: s.unconfirmed.Load(),
		Pending: s.pendingN.Load(), Clamped: s.clamped.Load(),
	}
}

// Event times come from the visitors' clocks, which can be wrong by
// minutes or days. An event time ahead of the others moves an event-time
// window's watermark past everyone's events, which then count as late and
// are dropped: one page on a clock a day ahead stopped every later
// session from closing. So the ingest corrects a batch's times by how far
// the sender's clock is off from its own, as the batch's "sent" member
// tells (the tracker sends it), and sets an event still more than
// MaxAhead ahead of its clock to the time it arrived.
//
// The correction takes a batch's delivery time for clock skew too: a
// batch that took 40 s to arrive has its events moved 40 s later (never
// past the ingest's clock). That is the price of trusting no visitor's
// clock; a skew is far more common than such a delay.
const (
	// ClockTolerance is the difference between a batch's "sent" and the
	// ingest's clock below which the sender's clock is taken as right
	// (network delay and small drift).
	ClockTolerance = 2 * time.Second
	// MaxAhead is how far ahead of the ingest's clock an event's ts may
	// be, after the correction: no more than the session windows allow
	// events to arrive out of order (webanalytics.out_of_order_ms, 2 s by
	// default), so that one event cannot make the others late.
	MaxAhead = 2 * time.Second
)

// correctClock corrects events' ts, received at now (ms since the epoch)
// in a batch the sender sent at sent by its clock (0: unknown), and
// returns how many were clamped to now.
func correctClock(events []Event, sent, now int64) (clamped int) {
	if off := now - sent; sent > 0 && (off > ClockTolerance.Milliseconds() || off < -ClockTolerance.Milliseconds()) {
		for i := range events {
			if t := events[i].TS; off > 0 && t > math.MaxInt64-off {
				events[i].TS = math.MaxInt64 // clamped below
			} else {
				events[i].TS = max(t+off, 0)
			}
		}
	}
	limit := now + MaxAhead.Milliseconds()
	for i := range events {
		if events[i].TS > limit {
			events[i].TS = now
			clamped++
		}
	}
	return clamped
}

// NextTuple emits up to emitPerCall events: failed ones first, oldest
// failure first, then accepted ones in arrival order. It never blocks.
func (s *Spout) NextTuple() {
	budget := emitPerCall
	for budget > 0 && s.retryHead < len(s.retry) {
		id := s.retry[s.retryHead]
		s.retryHead++
		if s.retryHead == len(s.retry) {
			s.retry, s.retryHead = s.retry[:0], 0
		}
		p, ok := s.pending[id]
		if !ok {
			continue // acked after it failed
		}
		p.queued = false
		s.pending[id] = p
		s.emit(id, &p.Event)
		s.replayed.Add(1)
		budget--
	}
	for budget > 0 {
		if s.cur == nil || s.curPos == len(s.cur.events) {
			if s.cur != nil {
				s.release(s.cur)
				s.cur = nil
			}
			if !s.nextBatch() {
				break
			}
		}
		ev := &s.cur.events[s.curPos]
		s.curPos++
		s.nextID++
		s.pending[s.nextID] = pendingEvent{Event: *ev, conf: s.cur.conf}
		s.emit(s.nextID, ev)
		budget--
	}
	if n := emitPerCall - budget; n > 0 {
		s.emitted.Add(uint64(n))
	}
}

func (s *Spout) emit(id uint64, ev *Event) {
	s.vals = ev.AppendValues(s.vals[:0], s.eventID(id))
	s.out.Emit(id, s.vals...)
}

// eventID is the event id (FieldEvent) of the event with message id id:
// the run and the message id, which a replay keeps. Past 2^40 events a
// run goes on as the next run number.
func (s *Spout) eventID(id uint64) int64 {
	const runs = 1<<(63-eventSeqBits) - 1
	run := (s.run-1+int64(id>>eventSeqBits))%runs + 1
	return run<<eventSeqBits | int64(id&(1<<eventSeqBits-1))
}

// nextBatch makes the next accepted batch current, taking the inbox when
// the local queue is empty.
func (s *Spout) nextBatch() bool {
	if s.localHead == len(s.local) {
		s.local, s.localHead = s.local[:0], 0
		s.mu.Lock()
		s.local, s.inbox = s.inbox, s.local
		s.mu.Unlock()
		if len(s.local) == 0 {
			return false
		}
	}
	s.cur, s.curPos = s.local[s.localHead], 0
	s.local[s.localHead] = nil
	s.localHead++
	return true
}

func (s *Spout) release(b *batch) {
	if cap(b.events) > 4096 {
		return // a rare huge batch: let it go
	}
	clear(b.events) // drop the strings
	b.events = b.events[:0]
	b.conf = nil
	s.batches.Put(b)
}

// Ack forgets an event whose tree completed, and answers its request
// when it was the request's last event waiting.
func (s *Spout) Ack(msgID uint64) {
	p, ok := s.pending[msgID]
	if !ok {
		return
	}
	delete(s.pending, msgID)
	s.pendingN.Add(-1)
	s.ackedN.Add(1)
	if c := p.conf; c != nil {
		if c.left--; c.left == 0 {
			close(c.done)
		}
	}
}

// Fail queues an event for replay; it is replayed until acked. Unknown ids
// (already acked) are ignored.
func (s *Spout) Fail(msgID uint64) {
	p, ok := s.pending[msgID]
	if !ok {
		return
	}
	s.failedN.Add(1)
	if p.queued {
		return
	}
	p.queued = true
	s.pending[msgID] = p
	if s.retryHead >= 1024 && 2*s.retryHead >= len(s.retry) {
		s.retry = s.retry[:copy(s.retry, s.retry[s.retryHead:])]
		s.retryHead = 0
	}
	s.retry = append(s.retry, msgID)
}

// Close stops the HTTP server: requests waiting for their events to be
// processed are answered 503 at once (their clients resend), other
// requests in progress get a few seconds to finish, then connections are
// closed. Events queued but not yet acked are dropped with the task (they
// live in memory only) and their number logged: with ingest.confirm:
// processed, their requests were never answered 200. Safe to call more
// than once.
func (s *Spout) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		if s.srv == nil {
			return
		}
		close(s.closed)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if e := s.srv.Shutdown(ctx); e != nil {
			s.srv.Close()
		}
		<-s.serveDone
		err = s.serveErr
		if n := s.pendingN.Load(); n > 0 {
			if s.cfg.Confirm == ConfirmProcessed {
				// Never confirmed: their clients were told to send them again.
				s.log.Info("HTTP ingest closed with queued events not yet processed; their requests were not confirmed", "events", n)
			} else {
				s.log.Warn("HTTP ingest closed with accepted events not yet processed; they are lost", "events", n, KeyConfirm, s.cfg.Confirm)
			}
		}
	})
	return err
}

// ---- HTTP ----

func (s *Spout) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+EventsPath, s.handleEvents)
	mux.HandleFunc("OPTIONS "+EventsPath, s.handlePreflight)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET "+EventsPath, func(w http.ResponseWriter, r *http.Request) {
		// Someone trying the tracker's endpoint in a browser: say what
		// it takes (the asset server answered a plain 404 page).
		s.cors(w, r)
		w.Header().Set("Allow", "POST, OPTIONS")
		s.reject(w, http.StatusMethodNotAllowed, -1, fmt.Sprintf("GET %s: events are sent with POST %s (JSON, see EVENTS.md); GET /healthz says whether the ingest is up", EventsPath, EventsPath))
	})
	if s.assets != nil {
		mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
			s.cors(w, r)
			serveAsset(w, r, s.assets)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// A path or method the ingest does not serve (a tracker's
			// data-endpoint mistyped): answered with CORS headers, so
			// that a tracker on another origin reads the 4xx and drops
			// its batch with a console warning, instead of seeing a
			// network error and retrying for ever.
			s.cors(w, r)
			if r.Method == http.MethodPost {
				s.reject(w, http.StatusNotFound, -1, fmt.Sprintf("nothing takes POST %s here: events go to POST %s", r.URL.Path, EventsPath))
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// cors sets the CORS answer headers for a request from origin.
func (s *Spout) cors(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if s.origins == nil {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		for _, o := range s.origins {
			if o == origin {
				h.Set("Access-Control-Allow-Origin", origin)
				break
			}
		}
	}
	h.Set("Access-Control-Expose-Headers", "Retry-After")
}

func (s *Spout) handlePreflight(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "Content-Type")
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Spout) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	status, code := "ok", http.StatusOK
	if s.closing.Load() {
		status, code = "closing", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"status":%q,"pending":%d,"accepted":%d}`+"\n", status, s.pendingN.Load(), s.accepted.Load())
}

func (s *Spout) handleEvents(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/plain") {
			s.reject(w, http.StatusUnsupportedMediaType, -1, fmt.Sprintf("Content-Type %q: send application/json or text/plain", ct))
			return
		}
	}
	if r.ContentLength > s.cfg.MaxBody {
		s.reject(w, http.StatusRequestEntityTooLarge, -1, s.tooLarge())
		return
	}
	body := s.bodies.Get().(*bytes.Buffer)
	defer func() {
		if body.Cap() <= maxPooledBody {
			body.Reset()
			s.bodies.Put(body)
		}
	}()
	if r.ContentLength > 0 {
		body.Grow(int(r.ContentLength) + 1)
	}
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.reject(w, http.StatusRequestEntityTooLarge, -1, s.tooLarge())
		} else {
			s.reject(w, http.StatusBadRequest, -1, "reading the body failed: "+err.Error())
		}
		return
	}
	b := s.batches.Get().(*batch)
	events, sent, err := DecodeSent(b.events[:0], body.Bytes())
	b.events = events
	if err != nil {
		s.release(b)
		var de *DecodeError
		errors.As(err, &de)
		s.reject(w, http.StatusBadRequest, de.Index, de.Msg)
		return
	}
	clamped := correctClock(events, sent, time.Now().UnixMilli())
	n := int64(len(events))
	if n == 0 {
		s.release(b)
		s.answer(w, 0)
		return
	}
	if n > s.cfg.MaxPending {
		s.release(b)
		s.reject(w, http.StatusRequestEntityTooLarge, -1, fmt.Sprintf("a batch of %d events is more than %s (%d): send smaller batches", n, KeyMaxPending, s.cfg.MaxPending))
		return
	}
	if s.closing.Load() {
		s.release(b)
		w.Header().Set("Retry-After", retryAfter)
		s.reject(w, http.StatusServiceUnavailable, -1, "the ingest is shutting down; retry later")
		return
	}
	if p := s.pendingN.Add(n); p > s.cfg.MaxPending {
		s.pendingN.Add(-n)
		s.release(b)
		w.Header().Set("Retry-After", retryAfter)
		s.reject(w, http.StatusServiceUnavailable, -1, fmt.Sprintf("too many events waiting to be processed (%s = %d); retry later", KeyMaxPending, s.cfg.MaxPending))
		return
	}
	var conf *confirmation
	if s.cfg.Confirm == ConfirmProcessed {
		conf = &confirmation{left: int(n), done: make(chan struct{})}
		b.conf = conf
	}
	s.mu.Lock()
	s.inbox = append(s.inbox, b)
	s.mu.Unlock()
	s.accepted.Add(uint64(n))
	s.clamped.Add(uint64(clamped))
	if conf == nil {
		s.answer(w, n)
		return
	}
	s.awaitProcessed(w, r, conf, n)
}

// awaitProcessed answers a request of n queued events once they are all
// processed, or 503 when that takes longer than ingest.confirm_timeout_ms
// or the task closes first. The events stay queued either way (and are
// processed if the task lives); a client that resends after a 503 may
// have them processed twice, never lost.
func (s *Spout) awaitProcessed(w http.ResponseWriter, r *http.Request, conf *confirmation, n int64) {
	timer := time.NewTimer(s.cfg.ConfirmTimeout)
	defer timer.Stop()
	var why string
	select {
	case <-conf.done:
		s.confirmed.Add(uint64(n))
		s.answer(w, n)
		return
	case <-r.Context().Done():
		// The client left, or only half-closed its side and still reads:
		// answer 503 all the same (the write fails if it is gone), never
		// the 200 net/http would send for a handler that wrote nothing.
		// The events go on.
		why = "the request ended before these events were processed; send them again"
	case <-s.closed:
		why = "the ingest task stopped before these events were processed; send them again"
	case <-timer.C:
		why = fmt.Sprintf("these events were not processed within %s (%d ms); send them again", KeyConfirmTimeout, s.cfg.ConfirmTimeout.Milliseconds())
	}
	s.unconfirmed.Add(uint64(n))
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, http.StatusServiceUnavailable, -1, why)
}

func (s *Spout) tooLarge() string {
	return fmt.Sprintf("body larger than %s (%d bytes): send smaller batches", KeyMaxBody, s.cfg.MaxBody)
}

// answer answers a request whose n events were queued: 200 with
// {"processed": n} under ingest.confirm: processed (called once they
// are), 202 with {"accepted": n} under received.
func (s *Spout) answer(w http.ResponseWriter, n int64) {
	var buf [40]byte
	code := http.StatusAccepted
	out := append(buf[:0], `{"accepted":`...)
	if s.cfg.Confirm == ConfirmProcessed {
		code = http.StatusOK
		out = append(buf[:0], `{"processed":`...)
	}
	out = strconv.AppendInt(out, n, 10)
	out = append(out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(out)
}

// reject answers an error as {"error": msg, "index": i}, without index
// when it is negative.
func (s *Spout) reject(w http.ResponseWriter, code, index int, msg string) {
	s.rejected.Add(1)
	writeError(w, code, index, msg)
}

// writeError writes {"error": msg, "index": i}, without index when it is
// negative.
func writeError(w http.ResponseWriter, code, index int, msg string) {
	resp := struct {
		Error string `json:"error"`
		Index *int   `json:"index,omitempty"`
	}{Error: msg}
	if index >= 0 {
		resp.Index = &index
	}
	out, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(out, '\n'))
}
