package webanalytics

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gale-stream/gale/sdk/ingest"
)

// TrafficConfig configures the traffic generator (`gale demo traffic`).
type TrafficConfig struct {
	// Target is the ingest URL events are POSTed to.
	Target string
	// Visitors is the number of visitor slots: visitors on the page at once.
	Visitors int
	// Rate is the target of events per second, over all visitors. Visitors
	// that dwell, switch tabs or have left send nothing meanwhile; the
	// others share the rate (and move faster when it is high), so choose
	// Visitors near Rate/10 for a natural pace of the cursors.
	Rate float64
	// Duration stops the generator; 0 runs until the context ends.
	Duration time.Duration
	// Batch is the most events of one visitor in one POST; a visitor's
	// events are also sent once the oldest waited FlushEvery, like the
	// tracker does.
	Batch      int
	FlushEvery time.Duration
	// Senders is the number of concurrent HTTP senders. Browsers each
	// have their own connection, and the ingest answers a batch only once
	// its events were processed (a few milliseconds), so a generator
	// standing for thousands of visitors keeps many requests in flight.
	Senders int
	// Visit is the mean time a visitor stays; Away the mean time a slot
	// stays empty after a visitor left. A third of the arrivals are
	// returning visitors (same id): a return after more than the session
	// gap (webanalytics.session_gap_ms, 30 s by default) starts a new
	// session, while one sooner (most, with the default Away of 5 s)
	// continues the visitor's last session.
	Visit, Away time.Duration
	// Seed makes the visitors' behaviour reproducible (0: random).
	Seed uint64
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
	// Trust is a PEM file of certificates that client of its own trusts
	// besides the system's CAs: a private CA, or the server's own
	// certificate, for an https Target (gale demo traffic --trust).
	Trust string
}

// DefaultTrafficConfig returns the defaults of `gale demo traffic`.
func DefaultTrafficConfig() TrafficConfig {
	return TrafficConfig{
		Target: "http://127.0.0.1:8080" + ingest.EventsPath, Visitors: 50, Rate: 500,
		Batch: 20, FlushEvery: time.Second, Senders: 64, Visit: 20 * time.Second, Away: 5 * time.Second,
	}
}

// Validate names the first bad setting by its flag.
func (c TrafficConfig) Validate() error {
	u, err := url.Parse(c.Target)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--target %q: want an http:// or https:// URL such as http://127.0.0.1:8080/events", c.Target)
	case c.Visitors < 1 || c.Visitors > 1_000_000:
		return fmt.Errorf("--visitors %d: want 1 to 1000000", c.Visitors)
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0) || c.Rate > 10_000_000:
		return fmt.Errorf("--rate %v: want events per second, more than 0 and at most 10000000", c.Rate)
	case c.Duration < 0:
		return fmt.Errorf("--duration %v: must not be negative (0: until interrupted)", c.Duration)
	case c.Batch < 1 || c.Batch > 10_000:
		return fmt.Errorf("--batch %d: want 1 to 10000 events per request", c.Batch)
	case c.Senders < 1 || c.Senders > 1024:
		return fmt.Errorf("--senders %d: want 1 to 1024", c.Senders)
	case c.FlushEvery <= 0:
		return fmt.Errorf("flush interval %v: must be positive", c.FlushEvery)
	case c.Visit <= 0 || c.Away <= 0:
		return fmt.Errorf("--visit %v and --away %v: must be positive", c.Visit, c.Away)
	}
	return nil
}

// TrafficReport is what a run did.
type TrafficReport struct {
	Elapsed time.Duration
	// Generated events; Accepted ones were answered 200 (processed) or
	// 202 (queued, with ingest.confirm: received); Rejected ones
	// were refused for good (4xx, or 503 and network errors after
	// retries).
	Generated, Accepted, Rejected uint64
	Requests, Retries             uint64
	// Statuses counts the answers by HTTP status (0: network error).
	Statuses map[int]uint64
	// Sessions counts visits started, Clicks the click events, CTAClicks
	// the clicks on the call-to-action.
	Sessions, Clicks, CTAClicks uint64
	// FirstError is the first refusal, for the report.
	FirstError string
}

// Rate returns the accepted events per second.
func (r TrafficReport) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// TrustedRoots returns the system's certificate pool with the
// certificates of the PEM file added (a private CA, or a server's own
// self-signed or leaf certificate), or nil (the system's alone) for no
// file. what names the setting in errors.
func TrustedRoots(file, what string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, file, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system pool here: the file's alone
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in the file", what, file)
	}
	return pool, nil
}

// maxAttempts bounds the tries of one request (503 and network errors).
const maxAttempts = 6

// Traffic generates visitors on the demo landing page and POSTs their
// events, batched like the tracker, until the duration passes or ctx ends.
// It then sends what is buffered and returns the report. The error is set
// when the configuration is bad or events were refused.
func Traffic(ctx context.Context, cfg TrafficConfig) (TrafficReport, error) {
	if err := cfg.Validate(); err != nil {
		return TrafficReport{}, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	client := cfg.Client
	if client == nil {
		roots, err := TrustedRoots(cfg.Trust, "--trust")
		if err != nil {
			return TrafficReport{}, err
		}
		// HTTP/1.1 also over TLS: a connection per sender, as visitors'
		// browsers each have theirs (HTTP/2 would put every sender on
		// one connection).
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.Senders, IdleConnTimeout: 30 * time.Second}
		if roots != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: roots}
		}
		defer tr.CloseIdleConnections()
		// Longer than the ingest's default ingest.confirm_timeout_ms (30 s),
		// which answers 503 itself.
		client = &http.Client{Transport: tr, Timeout: 45 * time.Second}
	}
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)), statuses: map[int]uint64{}}
	jobs := make(chan job, cfg.Senders*4)
	var wg sync.WaitGroup
	// Senders finish their work after ctx ends, within a bound.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	for range cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				g.send(sendCtx, client, j)
			}
		}()
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, cfg.Duration)
		defer cancel()
	}
	// A target that cannot be reached at all ends the run at once.
	g.abort = func() { cancelRun(); cancelSend() }
	start := time.Now()
	g.run(runCtx, jobs, start)
	// Send what is buffered; a server that stops answering gets
	// drainTimeout, then the senders give up.
	stopDrain := time.AfterFunc(drainTimeout, cancelSend)
	defer stopDrain.Stop()
	g.flushAll(sendCtx, jobs, time.Now(), true)
	close(jobs)
	wg.Wait()
	for _, j := range g.leftover { // never sent: the drain was cut short
		g.rejected.Add(uint64(j.events))
	}
	rep := g.report(time.Since(start))
	switch {
	case rep.Accepted == 0 && rep.Rejected > 0:
		return rep, fmt.Errorf("no event was accepted: %s", rep.FirstError)
	case rep.Rejected > 0:
		return rep, fmt.Errorf("%d of %d events were not accepted; first refusal: %s", rep.Rejected, rep.Generated, rep.FirstError)
	}
	return rep, nil
}

// drainTimeout bounds the sending of buffered events at the end.
const drainTimeout = 10 * time.Second

type job struct {
	body   []byte
	events int
}

type generator struct {
	cfg      TrafficConfig
	rng      *rand.Rand
	visitors []*visitor
	next     int // round-robin position

	generated, sessions, clicks, ctaClicks uint64

	accepted, rejected, requests, retries atomic.Uint64
	mu                                    sync.Mutex
	statuses                              map[int]uint64
	firstError                            string
	abort                                 context.CancelFunc
	leftover                              []job // batches the run could not hand over before it ended
}

func (g *generator) report(elapsed time.Duration) TrafficReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := make(map[int]uint64, len(g.statuses))
	for k, v := range g.statuses {
		st[k] = v
	}
	return TrafficReport{
		Elapsed: elapsed, Generated: g.generated, Accepted: g.accepted.Load(), Rejected: g.rejected.Load(),
		Requests: g.requests.Load(), Retries: g.retries.Load(), Statuses: st,
		Sessions: g.sessions, Clicks: g.clicks, CTAClicks: g.ctaClicks, FirstError: g.firstError,
	}
}

// run is the scheduler: every tick it grants Rate x elapsed events and
// hands them round-robin to the visitors that are due.
func (g *generator) run(ctx context.Context, jobs chan<- job, start time.Time) {
	g.visitors = make([]*visitor, g.cfg.Visitors)
	for i := range g.visitors {
		v := &visitor{}
		// Stagger the first arrivals over the first second (or Away).
		v.nextAt = start.Add(time.Duration(g.rng.Int64N(int64(min(time.Second, g.cfg.Away)))))
		v.away = true
		g.visitors[i] = v
	}
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	var granted float64
	lastFlush := start
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		now := time.Now()
		want := g.cfg.Rate * now.Sub(start).Seconds()
		budget := int(want - granted)
		if budget > int(g.cfg.Rate/10)+1 {
			// Behind by more than 100 ms (a slow server): do not burst.
			granted = want - g.cfg.Rate/10
			budget = int(g.cfg.Rate/10) + 1
		}
		// Round-robin passes over the visitors that are due, until the
		// budget is used or nobody is due: pausing visitors (dwelling,
		// away, tab hidden) leave their share to the others.
		used := 0
		for progress := true; used < budget && progress; {
			progress = false
			for tried := 0; used < budget && tried < len(g.visitors); tried++ {
				v := g.visitors[g.next]
				g.next = (g.next + 1) % len(g.visitors)
				if now.Before(v.nextAt) {
					continue
				}
				progress = true
				if n := g.step(v, now); n > 0 {
					used += n
					if v.n >= g.cfg.Batch {
						g.flush(ctx, v, jobs)
					}
				}
			}
		}
		granted += float64(used)
		if now.Sub(lastFlush) >= 50*time.Millisecond {
			lastFlush = now
			g.flushAll(ctx, jobs, now, false)
		}
	}
}

// flushAll sends every visitor's events that waited FlushEvery (or all),
// and the batches left over.
func (g *generator) flushAll(ctx context.Context, jobs chan<- job, now time.Time, all bool) {
	for len(g.leftover) > 0 && g.hand(ctx, jobs, g.leftover[0]) {
		g.leftover = g.leftover[1:]
	}
	for _, v := range g.visitors {
		if v.n > 0 && (all || now.Sub(v.firstAt) >= g.cfg.FlushEvery) {
			g.flush(ctx, v, jobs)
		}
	}
}

// flush hands v's batch to the senders; it waits while they are busy (so
// the rate drops with a slow server) unless ctx ends, and then keeps the
// batch for the final drain.
func (g *generator) flush(ctx context.Context, v *visitor, jobs chan<- job) {
	j := job{body: append(v.buf, ']'), events: v.n}
	v.buf, v.n = nil, 0
	if len(g.leftover) > 0 || !g.hand(ctx, jobs, j) {
		g.leftover = append(g.leftover, j)
	}
}

func (g *generator) hand(ctx context.Context, jobs chan<- job, j job) bool {
	select {
	case jobs <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *generator) send(ctx context.Context, client *http.Client, j job) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		g.requests.Add(1)
		status, retryAfter, msg, permanent := post(ctx, client, g.cfg.Target, j.body)
		g.mu.Lock()
		g.statuses[status]++
		g.mu.Unlock()
		if status == http.StatusOK || status == http.StatusAccepted { // processed, or queued (ingest.confirm: received)
			g.accepted.Add(uint64(j.events))
			return
		}
		retryable := !permanent && (status == 0 || status == 503 || status == 429 || status >= 500)
		if !retryable || attempt == maxAttempts || ctx.Err() != nil {
			g.rejected.Add(uint64(j.events))
			g.mu.Lock()
			if g.firstError == "" {
				if status == 0 {
					g.firstError = msg
				} else {
					g.firstError = fmt.Sprintf("HTTP %d %s", status, msg)
				}
			}
			g.mu.Unlock()
			if g.accepted.Load() == 0 && g.abort != nil {
				g.abort() // nothing ever got through: the target is wrong or down
			}
			return
		}
		g.retries.Add(1)
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = time.Duration(float64(wait) * (0.75 + 0.5*rand.Float64()))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// post sends one batch and returns the status (0 on a network error), the
// Retry-After delay, the answer's text, and whether the error is one that
// sending again cannot mend (the server's certificate is not trusted).
func post(ctx context.Context, client *http.Client, target string, body []byte) (int, time.Duration, string, bool) {
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err.Error(), true
	}
	req.Header.Set("Content-Type", "text/plain") // as the tracker sends it
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var cv *tls.CertificateVerificationError
		return 0, 0, fmt.Sprintf("POST %s: %v", target, err), errors.As(err, &cv)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	return resp.StatusCode, ra, string(bytes.TrimSpace(text)), false
}
