package ingest

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gale-stream/gale/sdk"
)

// Config keys read by the spout (see the package documentation).
const (
	KeyAddr       = "ingest.addr"
	KeyMaxBody    = "ingest.max_body"
	KeyMaxPending = "ingest.max_pending"
	KeyCORSOrigin = "ingest.cors_origin"
	KeyAssets     = "ingest.assets"
	// KeyConfirm is when a request is answered: "processed" (default) or
	// "received".
	KeyConfirm = "ingest.confirm"
	// KeyConfirmTimeout bounds, in milliseconds, how long a request waits
	// for its events to be processed with ingest.confirm: processed.
	KeyConfirmTimeout = "ingest.confirm_timeout_ms"
	// KeyTLSCert and KeyTLSKey are the PEM files of the certificate and
	// key the task serves HTTPS with; both empty serves plain HTTP.
	KeyTLSCert = "ingest.tls_cert"
	KeyTLSKey  = "ingest.tls_key"
)

// The values of ingest.confirm.
const (
	// ConfirmProcessed answers 200 once every event of the request has
	// been processed: its tuple tree completed (was acked). An answer is a
	// promise that the events went through the topology.
	ConfirmProcessed = "processed"
	// ConfirmReceived answers 202 as soon as the events are validated and
	// queued in the task. Faster for the client, but the events of a task
	// that stops before they are processed are lost.
	ConfirmReceived = "received"
)

// Config is the configuration of one spout task.
type Config struct {
	// Addr is HOST:PORT of the first task; task i listens on PORT+i (or on
	// any free port when PORT is 0). Key ingest.addr, default 127.0.0.1:8080.
	Addr string
	// MaxBody is the largest request body in bytes; larger ones get 413.
	// Key ingest.max_body, default 1 MiB.
	MaxBody int64
	// MaxPending is how many accepted events a task holds until their
	// trees are acked; a request that would exceed it gets 503 with
	// Retry-After. Key ingest.max_pending, default 65536.
	MaxPending int64
	// CORSOrigin is the Access-Control-Allow-Origin answer: "*", one
	// origin, or a comma-separated list (the request's Origin is echoed
	// when listed). Key ingest.cors_origin, default "*".
	CORSOrigin string
	// Assets names a set of static files registered with RegisterAssets,
	// served at GET /; empty serves none. Key ingest.assets.
	Assets string
	// Confirm is when a request is answered: ConfirmProcessed or
	// ConfirmReceived. Key ingest.confirm, default processed.
	Confirm string
	// ConfirmTimeout is the longest a request waits for its events to be
	// processed (with ConfirmProcessed); it then gets 503 with
	// Retry-After, and its events stay queued. Key
	// ingest.confirm_timeout_ms, default 30 s.
	ConfirmTimeout time.Duration
	// TLSCert and TLSKey are PEM files (the certificate chain, leaf first,
	// and its private key) on the machine that runs the task: set, the
	// task serves HTTPS (HTTP/2 and HTTP/1.1) instead of HTTP, as a page
	// served over HTTPS needs (browsers block its requests to an http://
	// address). The files are read again when they change, so a renewed
	// certificate needs no restart. Keys ingest.tls_cert and
	// ingest.tls_key, default none (HTTP).
	TLSCert, TLSKey string
}

// maxConfirmTimeout is the largest ingest.confirm_timeout_ms: the HTTP
// server's write timeout is derived from it, and a client that waits ten
// minutes for an answer is better told to come back.
const maxConfirmTimeout = 10 * time.Minute

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:8080", MaxBody: 1 << 20, MaxPending: 65536, CORSOrigin: "*",
		Confirm: ConfirmProcessed, ConfirmTimeout: 30 * time.Second,
	}
}

// Validate reports the first bad setting by its key.
func (c Config) Validate() error {
	if _, _, err := splitAddr(c.Addr); err != nil {
		return err
	}
	switch {
	case c.MaxBody < 2 || c.MaxBody > 1<<30:
		return fmt.Errorf("config %s: must be from 2 bytes to 1 GiB, got %d", KeyMaxBody, c.MaxBody)
	case c.MaxPending < 1:
		return fmt.Errorf("config %s: must be at least 1, got %d", KeyMaxPending, c.MaxPending)
	case strings.TrimSpace(c.CORSOrigin) == "":
		return fmt.Errorf(`config %s: must not be empty (use "*" for any origin)`, KeyCORSOrigin)
	case strings.ContainsAny(c.CORSOrigin, "\r\n"):
		return fmt.Errorf("config %s: must not contain line breaks", KeyCORSOrigin)
	case c.Confirm != ConfirmProcessed && c.Confirm != ConfirmReceived:
		return fmt.Errorf("config %s: want %q or %q, got %q", KeyConfirm, ConfirmProcessed, ConfirmReceived, c.Confirm)
	case c.ConfirmTimeout < time.Millisecond || c.ConfirmTimeout > maxConfirmTimeout:
		return fmt.Errorf("config %s: must be from 1 to %d ms, got %d", KeyConfirmTimeout, maxConfirmTimeout.Milliseconds(), c.ConfirmTimeout.Milliseconds())
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("config %s and %s go together: set both for HTTPS, or neither for HTTP", KeyTLSCert, KeyTLSKey)
	}
	return nil
}

// ConfigFrom reads a Config from a task's config, starting from
// DefaultConfig, and validates it.
func ConfigFrom(conf sdk.Config) (Config, error) {
	c := DefaultConfig()
	c.Addr = conf.String(KeyAddr, c.Addr)
	var err error
	if c.MaxBody, err = conf.Int(KeyMaxBody, c.MaxBody); err != nil {
		return c, err
	}
	if c.MaxPending, err = conf.Int(KeyMaxPending, c.MaxPending); err != nil {
		return c, err
	}
	c.CORSOrigin = conf.String(KeyCORSOrigin, c.CORSOrigin)
	c.Assets = conf.String(KeyAssets, c.Assets)
	c.Confirm = strings.ToLower(strings.TrimSpace(conf.String(KeyConfirm, c.Confirm)))
	if c.ConfirmTimeout, err = conf.Duration(KeyConfirmTimeout, time.Millisecond, c.ConfirmTimeout); err != nil {
		return c, err
	}
	c.TLSCert = strings.TrimSpace(conf.String(KeyTLSCert, c.TLSCert))
	c.TLSKey = strings.TrimSpace(conf.String(KeyTLSKey, c.TLSKey))
	return c, c.Validate()
}

func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("config %s: want HOST:PORT, e.g. 127.0.0.1:8080, got %q", KeyAddr, addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("config %s: port %q is not a number from 0 to 65535", KeyAddr, port)
	}
	return host, p, nil
}

// TaskAddr returns the address task index listens on: the port of addr
// plus index, or port 0 (any free port) when addr's port is 0.
func TaskAddr(addr string, index int) (string, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return "", err
	}
	if port == 0 {
		return addr, nil
	}
	if index < 0 || port+index > math.MaxUint16 {
		return "", fmt.Errorf("config %s: task %d would listen on port %d, above 65535", KeyAddr, index, port+index)
	}
	return net.JoinHostPort(host, strconv.Itoa(port+index)), nil
}
