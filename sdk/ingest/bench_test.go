package ingest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// benchBody is a tracker-like batch: one visitor, mostly moves.
func benchBody(events int) []byte {
	var buf []byte
	buf = append(buf, '[')
	for i := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		e := Event{Visitor: "3f9a2c71-8d4e-4b7a-9c1e-5d2f6a8b0c3d", TS: 1700000000000 + int64(i)*60, Type: TypeMove, Page: "/pricing",
			X: int32(100 + i), Y: int32(200 + i), VW: 1280, VH: 800, Has: HasX | HasY | HasVW | HasVH}
		switch i % 10 {
		case 4:
			e.Type, e.Target, e.Has = TypeClick, "main > section.hero > a#cta", e.Has|HasTarget
		case 8:
			e = Event{Visitor: e.Visitor, TS: e.TS, Type: TypeScroll, Page: e.Page, Depth: 0.42, Has: HasDepth}
		}
		buf = e.AppendJSON(buf)
	}
	return append(buf, ']')
}

// BenchmarkDecode compares the hand-written decoder with encoding/json
// decoding the same body into structs (the baseline).
func BenchmarkDecode(b *testing.B) {
	body := benchBody(50)
	b.Run("ingest", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		evs := make([]Event, 0, 64)
		var err error
		for b.Loop() {
			if evs, err = Decode(evs[:0], body); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("encoding-json", func(b *testing.B) {
		type wire struct {
			Visitor, Type, Page string
			Target              *string
			TS                  int64
			X, Y, VW, VH        *int32
			Depth               *float64
			Visible             *bool
		}
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var evs []wire
			if err := json.Unmarshal(body, &evs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// pumpAndAck drives the spout as the runtime would (NextTuple, then ack
// what was emitted) until stop is closed; it counts the emitted tuples.
func pumpAndAck(s *Spout, em *countingEmitter, stop <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		s.NextTuple()
		if len(em.ids) == 0 {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		for _, id := range em.ids {
			s.Ack(id)
		}
		em.ids = em.ids[:0]
	}
}

// countingEmitter records message ids only, as cheaply as a runtime could.
type countingEmitter struct {
	ids []uint64
	n   atomic.Int64
}

func (c *countingEmitter) EmitBolt(string, []*sdk.Tuple, []sdk.Value, int32) {}
func (c *countingEmitter) EmitSpout(_ string, id uint64, _ bool, _ []sdk.Value, _ int32) {
	c.ids = append(c.ids, id)
	c.n.Add(1)
}
func (c *countingEmitter) Ack(*sdk.Tuple)    {}
func (c *countingEmitter) Fail(*sdk.Tuple)   {}
func (c *countingEmitter) ReportError(error) {}
func (c *countingEmitter) EndOfInput()       {}

// BenchmarkIngest measures events/s from HTTP requests to emitted (and
// acked) tuples: "handler" calls the HTTP handler in-process, "loopback"
// posts over real TCP connections from 4 clients, both answered on
// receipt (ingest.confirm: received); "loopback-processed" is loopback
// with every answer waiting for its events' acks, as by default;
// "loopback-https" is loopback over TLS (HTTP/1.1, connections kept
// alive), "loopback-h2" over TLS with HTTP/2 (what browsers pick when the
// server offers it). Each client keeps one connection.
// Batches of 50 events.
func BenchmarkIngest(b *testing.B) {
	body := benchBody(50)
	start := func(b *testing.B, confirm string, tlsFiles *security.TLSFiles) (*Spout, *countingEmitter, func()) {
		s := New()
		em := &countingEmitter{}
		conf := map[string]any{KeyAddr: "127.0.0.1:0", KeyMaxPending: 1 << 20, KeyConfirm: confirm}
		if tlsFiles != nil {
			conf[KeyTLSCert], conf[KeyTLSKey] = tlsFiles.Cert, tlsFiles.Key
		}
		tc := taskContext(0, conf)
		if err := s.Open(b.Context(), tc, sdk.NewSpoutCollector(em)); err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go pumpAndAck(s, em, stop, &wg)
		return s, em, func() {
			close(stop)
			wg.Wait()
			s.Close()
		}
	}
	wait := func(b *testing.B, em *countingEmitter, want int64) {
		for deadline := time.Now().Add(30 * time.Second); em.n.Load() < want; {
			if time.Now().After(deadline) {
				b.Fatalf("emitted %d of %d", em.n.Load(), want)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.Run("handler", func(b *testing.B) {
		s, em, stop := start(b, ConfirmReceived, nil)
		defer stop()
		h := s.handler()
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest("POST", EventsPath, bytes.NewReader(body))
				req.Header.Set("Content-Type", "text/plain")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 202 {
					b.Errorf("status %d: %s", w.Code, w.Body)
					return
				}
			}
		})
		wait(b, em, int64(50*b.N))
		b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	// secure: "" plain HTTP, "https" HTTP/1.1 over TLS, "h2" HTTP/2. Each
	// client has a connection of its own, as each visitor's browser does.
	loopback := func(b *testing.B, confirm string, want int, secure string) {
		var files *security.TLSFiles
		var tlsConf *tls.Config
		if secure != "" {
			ca := securitytest.NewCA(b, "bench")
			f := ca.Issue(b, "ingest")
			files = &f
			pem, err := os.ReadFile(ca.File)
			if err != nil {
				b.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			tlsConf = &tls.Config{RootCAs: pool}
		}
		s, em, stop := start(b, confirm, files)
		defer stop()
		url := s.URL() + EventsPath
		var mu sync.Mutex
		var transports []*http.Transport
		defer func() {
			for _, tr := range transports {
				tr.CloseIdleConnections()
			}
		}()
		b.SetBytes(int64(len(body)))
		b.SetParallelism(2) // 2 x GOMAXPROCS clients
		b.RunParallel(func(pb *testing.PB) {
			tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: secure == "h2"}
			mu.Lock()
			transports = append(transports, tr)
			mu.Unlock()
			client := &http.Client{Transport: tr}
			for pb.Next() {
				resp, err := client.Post(url, "text/plain", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					b.Errorf("status %d, want %d", resp.StatusCode, want)
					return
				}
				if wantH2 := secure == "h2"; (resp.ProtoMajor == 2) != wantH2 {
					b.Errorf("answered over %s", resp.Proto)
					return
				}
			}
		})
		wait(b, em, int64(50*b.N))
		b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("loopback", func(b *testing.B) { loopback(b, ConfirmReceived, http.StatusAccepted, "") })
	b.Run("loopback-processed", func(b *testing.B) { loopback(b, ConfirmProcessed, http.StatusOK, "") })
	b.Run("loopback-https", func(b *testing.B) { loopback(b, ConfirmReceived, http.StatusAccepted, "https") })
	b.Run("loopback-h2", func(b *testing.B) { loopback(b, ConfirmReceived, http.StatusAccepted, "h2") })
	b.Run("loopback-h2-processed", func(b *testing.B) { loopback(b, ConfirmProcessed, http.StatusOK, "h2") })
}

func TestBenchBodyIsValid(t *testing.T) {
	evs, err := Decode(nil, benchBody(50))
	if err != nil || len(evs) != 50 {
		t.Fatalf("%v, %d events", err, len(evs))
	}
	if fmt.Sprint(evs[4].Target) != "main > section.hero > a#cta" {
		t.Fatal(evs[4])
	}
}
