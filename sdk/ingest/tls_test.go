package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// httpsClient trusts the CA in caFile only.
func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(t, caFile)}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestIngestServesHTTPS: with ingest.tls_cert and ingest.tls_key the task
// serves its events, health and assets over HTTPS (HTTP/2 offered), and
// nothing over plain HTTP.
func TestIngestServesHTTPS(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	files := ca.Issue(t, "ingest")
	h := open(t, map[string]any{KeyTLSCert: files.Cert, KeyTLSKey: files.Key})
	if !strings.HasPrefix(h.url, "https://") {
		t.Fatalf("URL() = %s, want https://", h.url)
	}
	h.client = httpsClient(t, ca.File)

	resp, err := h.client.Post(h.url+EventsPath, "application/json", strings.NewReader("["+event("v1", 1000, "scroll", `,"depth":0.5`)+"]"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Proto != "HTTP/2.0" {
		t.Fatalf("POST over HTTPS: %s %s %s, want 202 over HTTP/2.0", resp.Proto, resp.Status, body)
	}
	if got := h.pump(1); got[0].values[0].Str() != "v1" {
		t.Fatalf("emitted %v", got[0].values)
	}

	// Plain HTTP on the HTTPS port is refused, and nothing is accepted.
	plain := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer plain.CloseIdleConnections()
	resp, err = plain.Post("http://"+h.spout.Addr().String()+EventsPath, "application/json", strings.NewReader("["+event("v2", 1000, "scroll", `,"depth":0.5`)+"]"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
		t.Fatalf("plain HTTP to the HTTPS port: %s %q, want 400 naming HTTPS", resp.Status, body)
	}
	if n := h.spout.Stats().Accepted; n != 1 {
		t.Fatalf("accepted %d events, want the one sent over HTTPS", n)
	}

	// A client that does not trust the CA does not get through.
	other := httpsClient(t, securitytest.NewCA(t, "other").File)
	_, err = other.Get(h.url + "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("a client trusting another CA: %v, want an unknown authority", err)
	}
}

// TestIngestTLSErrors: a half or bad pair fails Open with the keys and
// files, before the port is taken.
func TestIngestTLSErrors(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	good := ca.Issue(t, "ingest")
	other := ca.Issue(t, "other")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	// A port that was free a moment ago; a failed Open must leave it so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cases := []struct {
		name      string
		cert, key string
		msg       string
	}{
		{"certificate only", good.Cert, "", "ingest.tls_cert and ingest.tls_key go together"},
		{"key only", "", good.Key, "ingest.tls_cert and ingest.tls_key go together"},
		{"missing file", missing, good.Key, "config ingest.tls_cert=" + missing + ", ingest.tls_key=" + good.Key},
		{"key of another certificate", good.Cert, other.Key, "private key does not match public key"},
		{"certificate as key", good.Cert, good.Cert, "ingest.tls_key=" + good.Cert},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := map[string]any{KeyAddr: addr}
			if tc.cert != "" {
				conf[KeyTLSCert] = tc.cert
			}
			if tc.key != "" {
				conf[KeyTLSKey] = tc.key
			}
			s := New()
			err := s.Open(t.Context(), taskContext(0, conf), sdk.NewSpoutCollector(&fakeEmitter{}))
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), ClassHTTPIngest) {
				t.Fatalf("got %v, want an error with %q", err, tc.msg)
			}
			t.Log(err)
			if err := s.Close(); err != nil {
				t.Errorf("close after a failed open: %v", err)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the failed Open left %s taken: %v", addr, err)
			}
			l.Close()
		})
	}
}

// TestIngestServesARenewedCertificate: new certificate files are served to
// new connections without a restart.
func TestIngestServesARenewedCertificate(t *testing.T) {
	ca := securitytest.NewCA(t, "web")
	files := ca.Issue(t, "ingest-v1")
	h := open(t, map[string]any{KeyTLSCert: files.Cert, KeyTLSKey: files.Key})
	served := func() string {
		conn, err := tls.Dial("tcp", h.spout.Addr().String(), &tls.Config{RootCAs: poolOf(t, ca.File), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "ingest-v1" {
		t.Fatalf("serving %q, want ingest-v1", got)
	}
	ca.WriteCert(t, "ingest-v2", files.Cert, files.Key)
	later := time.Now().Add(time.Minute)
	for _, f := range []string{files.Cert, files.Key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	// The files are looked at again at most once a second.
	deadline := time.Now().Add(5 * time.Second)
	for served() != "ingest-v2" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func poolOf(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", caFile)
	}
	return pool
}
