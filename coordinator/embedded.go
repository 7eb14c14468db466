package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gale-stream/gale/sdk/security"
)

// Embedded is an etcd server running inside this process: what `gale node`
// starts when it is given no --etcd and no --join, so that one command
// makes a working one-node cluster.
type Embedded struct {
	e      *embed.Etcd
	level  zap.AtomicLevel
	scheme string // of the client URLs: http, or https with TLS
}

// EmbeddedConfig says where the embedded etcd keeps its data and listens.
type EmbeddedConfig struct {
	// Dir is the data directory (created if missing).
	Dir string
	// ClientAddr and PeerAddr are HOST:PORT to listen on; port 0 picks a
	// free port (see Endpoints).
	ClientAddr, PeerAddr string
	// Name is the etcd member name; empty means "gale".
	Name string
	// TLS, if set, makes the etcd serve clients with mutual TLS (https
	// URLs; a client certificate signed by TLS.CA is required) and its
	// peer port the same way.
	TLS security.TLSFiles
}

// StartEmbedded starts an embedded single-member etcd and waits until it
// serves, or ctx ends.
func StartEmbedded(ctx context.Context, c EmbeddedConfig) (*Embedded, error) {
	if c.Dir == "" {
		return nil, errors.New("embedded etcd: Dir is empty")
	}
	if c.Name == "" {
		c.Name = "gale"
	}
	scheme := "http://"
	if !c.TLS.IsZero() {
		scheme = "https://"
	}
	cu, err := url.Parse(scheme + c.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client address %q: %w", c.ClientAddr, err)
	}
	pu, err := url.Parse(scheme + c.PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: peer address %q: %w", c.PeerAddr, err)
	}
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	// etcd keeps every revision until compacted, and every submit, kill,
	// rebalance and node (re)start writes some: 1.4 KB of history per
	// submit and kill, 98.5% of the database after a soak, towards the
	// 2 GiB quota at which etcd refuses all writes. Gale's watches start
	// from the present (and sync in full after an error), so an hour of
	// history is plenty.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	if !c.TLS.IsZero() {
		info := transport.TLSInfo{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, TrustedCAFile: c.TLS.CA, ClientCertAuth: true}
		cfg.PeerTLSInfo = info
		// etcd would also check that a client certificate that names hosts
		// names the address the connection comes from: a node behind NAT,
		// or leaving by another network card than the one its certificate
		// names, would be refused. The CA is what clients are trusted by.
		info.SkipClientSANVerify = true
		cfg.ClientTLSInfo = info
	}
	// etcd logs through zap. Keep it to errors, in plain text without stack
	// traces (no stack trace reaches a user), and silence it while closing,
	// when etcd reports its own listeners closing as errors.
	level := zap.NewAtomicLevelAt(zap.ErrorLevel)
	enc := zap.NewDevelopmentEncoderConfig()
	lg := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(os.Stderr)), level)).Named("etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", c.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Embedded{e: e, level: level, scheme: cu.Scheme}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd not ready after 30s")
	}
}

// Endpoints returns the client URLs to dial.
func (m *Embedded) Endpoints() []string {
	var out []string
	for _, l := range m.e.Clients {
		out = append(out, m.scheme+"://"+l.Addr().String())
	}
	return out
}

// Kill stops the server at once, as a kill -9 of its process would: it
// stops answering at once, where Close lets the calls under way finish
// for up to its request timeout (seconds, in which the server still
// serves the connections it has). For tests of a crashed node. Close
// follows it.
func (m *Embedded) Kill() {
	if m.e != nil && m.e.Server != nil {
		m.level.SetLevel(zap.FatalLevel)
		m.e.Server.HardStop()
	}
	m.Close()
}

// Close stops the server; safe to call twice.
func (m *Embedded) Close() {
	if m.e != nil {
		m.level.SetLevel(zap.FatalLevel)
		m.e.Close()
	}
}
