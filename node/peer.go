package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/node/external"
	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/spec"
)

// PeerConfig configures a Gale node process (`gale node`).
type PeerConfig struct {
	// Name is the node's unique name in the cluster.
	Name string
	// GRPCAddr is where the node serves gRPC (Coordinator API, health,
	// reflection; later Transfer and Attach). Port 0 picks a free port.
	GRPCAddr string
	// DataDir holds the embedded etcd's data.
	DataDir string
	// Etcd lists external etcd endpoints; empty starts an embedded etcd.
	Etcd []string
	// EtcdClientAddr and EtcdPeerAddr are where the embedded etcd listens.
	EtcdClientAddr, EtcdPeerAddr string
	// GossipAddr is HOST:PORT for gossip (memberlist, UDP and TCP); port 0
	// picks a free port.
	GossipAddr string
	// Join lists gossip addresses of nodes to join. A node that joins
	// without Etcd learns the etcd endpoints from their gossip metadata.
	Join []string
	// Slots weighs how many tasks the scheduler gives this node.
	Slots int
	// LeaseTTL is how long the node's liveness key outlives the node: how
	// long the cluster waits for a node that stopped answering etcd before
	// its tasks move. Whole seconds, 1 s to MaxLeaseTTL. The leader's
	// election session lasts a second less (at least 2 s), and a stall of
	// a third of it fences the node's tasks (fence.go).
	LeaseTTL time.Duration
	// Version is reported in the node's info.
	Version string
	// TLS names the node's CA, certificate and key (PEM files). With them
	// the node serves its gRPC port with mutual TLS (every client presents
	// a certificate signed by the CA), dials the other nodes with its
	// certificate, serves the embedded etcd the same way, and hands the
	// files to the component processes it manages (GALE_TLS_*). Zero is
	// plaintext.
	TLS security.TLSFiles
	// EtcdTLS names the files for reaching an external etcd (its CA, and a
	// client certificate if it asks for one). Zero means TLS's files when
	// TLS is set (the embedded etcd of a node that has them), else
	// plaintext.
	EtcdTLS security.TLSFiles
	// GossipKey, if set, encrypts and authenticates gossip (memberlist's
	// AES-GCM, a key of 16, 24 or 32 bytes); every node needs the same key.
	GossipKey []byte
	// Log receives the node's log; nil means slog.Default().
	Log *slog.Logger
}

// DefaultPeerConfig returns a config for a one-node cluster on this host:
// gRPC on 127.0.0.1:7070, an embedded etcd on 127.0.0.1:2379/2380 with its
// data in ./gale-data, slots = CPUs, a 3 s lease.
func DefaultPeerConfig() PeerConfig {
	host, _ := os.Hostname()
	if host == "" {
		host = "gale"
	}
	return PeerConfig{
		Name:           host,
		GRPCAddr:       "127.0.0.1:7070",
		DataDir:        "gale-data",
		EtcdClientAddr: "127.0.0.1:2379",
		EtcdPeerAddr:   "127.0.0.1:2380",
		GossipAddr:     "127.0.0.1:7946",
		Slots:          runtime.NumCPU(),
		LeaseTTL:       3 * time.Second,
		Version:        "dev",
	}
}

// MaxLeaseTTL bounds PeerConfig.LeaseTTL: a node gone for longer than
// that without its tasks moving is no failover any more.
const MaxLeaseTTL = 5 * time.Minute

// Validate names the first bad field.
func (c PeerConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("node config: Name is empty")
	case c.GRPCAddr == "":
		return errors.New("node config: GRPCAddr is empty")
	case c.GossipAddr == "":
		return errors.New("node config: GossipAddr is empty")
	case len(c.Etcd) == 0 && len(c.Join) == 0 && c.DataDir == "":
		return errors.New("node config: DataDir is empty (needed for the embedded etcd)")
	case c.Slots < 1:
		return fmt.Errorf("node config: Slots %d must be at least 1", c.Slots)
	case c.LeaseTTL < time.Second || c.LeaseTTL%time.Second != 0 || c.LeaseTTL > MaxLeaseTTL:
		return fmt.Errorf("node config: LeaseTTL %v: want whole seconds from 1s to %v (etcd's leases count seconds)", c.LeaseTTL, MaxLeaseTTL)
	case !c.TLS.IsZero() && c.TLS.CA == "":
		return errors.New("node config: TLS.CA is empty: TLS needs CA, Cert and Key")
	case !c.TLS.IsZero() && c.TLS.Cert == "":
		return errors.New("node config: TLS.Cert is empty: TLS needs CA, Cert and Key")
	case !c.TLS.IsZero() && c.TLS.Key == "":
		return errors.New("node config: TLS.Key is empty: TLS needs CA, Cert and Key")
	case !c.EtcdTLS.IsZero() && len(c.Etcd) == 0 && len(c.Join) == 0:
		return errors.New("node config: EtcdTLS is set but the node starts an embedded etcd (no Etcd, no Join): the embedded etcd uses TLS's files")
	case len(c.GossipKey) > 0 && len(c.GossipKey) != 16 && len(c.GossipKey) != 24 && len(c.GossipKey) != 32:
		return fmt.Errorf("node config: GossipKey has %d bytes; want 16, 24 or 32", len(c.GossipKey))
	}
	if err := etcdSchemes(c.Etcd, !c.TLS.IsZero() || !c.EtcdTLS.IsZero(), "given"); err != nil {
		return fmt.Errorf("node config: %w", err)
	}
	return nil
}

// Peer is one Gale node: it keeps a leased liveness key in etcd, takes part
// in the leader election, serves the Coordinator API, and runs the tasks
// the current assignments give it.
//
// A topology spread over several nodes runs as one Runtime per node with
// the node's own tasks; tuples, acker operations and end-of-input markers
// for tasks elsewhere go over the Transfer streams (package transfer).
type Peer struct {
	cfg     PeerConfig
	log     *slog.Logger
	etcd    *coordinator.Embedded
	sec     *security.Security // nil: plaintext
	etcdTLS *security.Security
	client  *clientv3.Client
	store   *coordinator.Store
	leader  *coordinator.Leader
	server  *grpc.Server
	health  *health.Server // the Coordinator API's status follows the lease
	lis     net.Listener
	gossip  *Membership
	// incarnations is the process last seen registered under each node
	// name, and restarted the names registered again by another process
	// since the last sync (their ackers' trees were lost): owned by the
	// watch goroutine (noteIncarnations).
	incarnations map[string]string
	restarted    map[string]bool
	lease        atomic.Int64 // clientv3.LeaseID; rewritten when the lease is lost
	// incarnation identifies this process in its registration: after a
	// lost lease it takes its own node key over under a new one
	// (Store.RegisterNode), where another process of the same name waits.
	incarnation string
	// leaving is set by Drain: registering again keeps the node leaving.
	leaving atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	transfer *transfer.Server
	hub      *external.Hub
	connMu   sync.Mutex
	conns    map[string]*grpc.ClientConn // by address
	addrOf   map[string]nodeAddr         // node name -> the address its connections use (connToNode)

	mu   sync.Mutex
	runs map[string]*localRun // by topology name
	// retired are stopped runs of finished topologies, kept for their
	// counters until the topology is removed or run anew.
	retired map[string]*localRun
	// stopping is set (under mu) when the node stops its runs for good: a
	// sync that read etcd before the stop must not start them again.
	stopping bool
	stopped  sync.Once

	// failingOps are the changes of this node's failing-run keys in etcd,
	// written in order by failingReporter.
	failingOps chan failingRunOp

	// fence holds the node's tasks after it stalled, or while it is cut
	// off from etcd alone, until etcd confirms them (fence.go).
	fence *stallFence
	// etcdLostAt is when keepAlive lost the node's lease (Unix ns): etcd
	// may have expired it, and the node is not registered again yet; 0
	// while the node holds it.
	etcdLostAt atomic.Int64
	// leaseUntil is the earliest etcd can expire the node's lease
	// (router.Nanotime ns): when the node sent the last renewal etcd
	// answered, plus the TTL it answered with (etcd counts the TTL from
	// the renewal's arrival). Before then no other node can be given
	// this node's tasks; the cut-off fence engages a little before it
	// (fence.go).
	leaseUntil atomic.Int64
	// renewFailing is since when keepAlive's renewals fail (zero while
	// they succeed), as gossiped (noteRenewals).
	renewMu      sync.Mutex
	renewFailing time.Time
	renewChanged chan struct{} // noteRenewals -> gossipRenewals (capacity 1)
}

type localRun struct {
	// err is written by the run's goroutine before it closes done; read it
	// through failure().
	id       string
	rt       *Runtime
	mine     map[int32]bool // the tasks this node runs
	routes   *remoteRoutes  // nil when every task runs here
	cancel   context.CancelFunc
	done     chan struct{}
	finished atomic.Bool
	err      error
	reporter sync.WaitGroup // reports the finished tasks to etcd

	// A run that fails is started again after a backoff (restartDue):
	// started and endedAt time it, restarts counts the restarts in a row
	// and lastErr keeps the failure that caused the latest one, which
	// ended the previous run at lastErrAt.
	started   time.Time
	endedAt   time.Time // written before done is closed
	restarts  int
	lastErr   error
	lastErrAt time.Time
	// healthy clears the failing-run key once a restarted run has run a
	// minute (restarts > 0).
	healthy *time.Timer
}

// restartDue reports whether a failed run is due to start again: after
// 1s, doubling with each restart in a row up to a minute. A run that
// failed to start at all (New: an unknown class, a bad setting) fails the
// same way every time and is not restarted.
func (r *localRun) restartDue(now time.Time) bool {
	if r.rt == nil || r.failure() == nil {
		return false
	}
	return now.Sub(r.endedAt) >= restartBackoff(r.restarts)
}

func restartBackoff(restarts int) time.Duration {
	return min(time.Second<<min(restarts, 6), time.Minute)
}

// ended reports whether the run's goroutine is done (endedAt and err are
// then written).
func (r *localRun) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// failure returns the run's error once the run has ended.
func (r *localRun) failure() error {
	if !r.ended() {
		return nil
	}
	return r.err
}

// NewPeer checks the config.
func NewPeer(cfg PeerConfig) (*Peer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Absolute paths: the node hands its files to the processes it
	// manages, which run in their components' directories.
	var err error
	if cfg.TLS, err = absFiles(cfg.TLS); err != nil {
		return nil, err
	}
	if cfg.EtcdTLS, err = absFiles(cfg.EtcdTLS); err != nil {
		return nil, err
	}
	p := &Peer{cfg: cfg, log: cfg.Log, runs: map[string]*localRun{}, retired: map[string]*localRun{}, conns: map[string]*grpc.ClientConn{}, addrOf: map[string]nodeAddr{}, transfer: transfer.NewServer(), hub: external.NewHub(),
		failingOps: make(chan failingRunOp, 256), incarnation: newIncarnation(),
		// A stall of a third of the lease's TTL may be followed by the
		// lease's end: a renewal goes every quarter (fence.go).
		fence: newStallFence(cfg.LeaseTTL / 3), renewChanged: make(chan struct{}, 1)}
	if p.sec, err = security.Load(cfg.TLS, "--tls"); err != nil {
		return nil, err
	}
	if err := p.sec.CheckSignedByCA("--tls"); err != nil {
		return nil, err
	}
	p.etcdTLS = p.sec
	if !cfg.EtcdTLS.IsZero() {
		if p.etcdTLS, err = security.Load(cfg.EtcdTLS, "--etcd"); err != nil {
			return nil, err
		}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("node", cfg.Name)
	p.sec.SetLogger(p.log)
	if p.etcdTLS != p.sec {
		p.etcdTLS.SetLogger(p.log)
	}
	return p, nil
}

// newIncarnation returns a random id for this process's registration.
func newIncarnation() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// absFiles makes the paths of f absolute.
func absFiles(f security.TLSFiles) (security.TLSFiles, error) {
	for _, path := range []*string{&f.CA, &f.Cert, &f.Key} {
		if *path == "" {
			continue
		}
		abs, err := filepath.Abs(*path)
		if err != nil {
			return f, fmt.Errorf("node config: TLS file %s: %w", *path, err)
		}
		*path = abs
	}
	return f, nil
}

// etcdSchemes checks the scheme of each etcd endpoint against the node's
// TLS (withTLS: TLS or EtcdTLS files). A node with TLS takes its
// topologies, and the commands of their external components, from etcd:
// a plaintext etcd (given by mistake, or advertised through gossip by
// anyone who can reach the gossip port) would let others run code on it
// with its key. A node without TLS files cannot speak https, and waited
// for ever, in silence, on an https etcd.
func etcdSchemes(endpoints []string, withTLS bool, how string) error {
	for _, e := range endpoints {
		switch https := strings.HasPrefix(e, "https://"); {
		case withTLS && !https:
			return fmt.Errorf("etcd endpoint %s (%s) is not https: a node with TLS reaches etcd over https only", e, how)
		case !withTLS && https:
			return fmt.Errorf("etcd endpoint %s (%s) is https, and this node has no --tls-ca, --tls-cert and --tls-key: start it with the cluster's TLS files (or --etcd-ca for an external etcd)", e, how)
		}
	}
	return nil
}

// Start brings the node up: etcd (embedded unless external endpoints are
// given), the liveness lease, the gRPC server, the election and the
// assignment watcher. On error everything started is stopped again.
func (p *Peer) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Shutdown(sctx)
		}
	}()
	p.lis, err = net.Listen("tcp", p.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen for gRPC on %s: %w", p.cfg.GRPCAddr, err)
	}
	// Not registered yet, the node holds no lease: it says so until it
	// does, so that the others' fences do not count it as a node that
	// could move their tasks (fence.go).
	p.renewFailing = time.Now()
	meta := MemberMeta{GRPCAddr: p.Addr(), Slots: p.cfg.Slots, Version: p.cfg.Version, EtcdLost: p.renewFailing.UnixMilli()}
	p.gossip, err = StartMembership(MembershipConfig{Name: p.cfg.Name, BindAddr: p.cfg.GossipAddr, Meta: meta, Key: p.cfg.GossipKey, Log: p.log})
	if err != nil {
		return err
	}
	// Nodes started together (by a service manager) may find the one they
	// join not up yet: retry. With --etcd the node needs gossip only to
	// be seen by the others, so it starts and goes on trying behind.
	rejoin := false
	switch err := p.gossip.Join(p.cfg.Join); {
	case err == nil:
	case errors.Is(err, ErrGossipKey):
		return err
	case len(p.cfg.Etcd) > 0:
		p.log.Warn("cannot join gossip yet; the node starts and retries", "err", err)
		rejoin = true
	default: // it learns its etcd there
		if err := p.joinGossip(ctx, err); err != nil {
			return err
		}
	}
	endpoints := p.cfg.Etcd
	switch {
	case len(endpoints) > 0:
	case len(p.cfg.Join) > 0:
		// Learn the cluster's etcd from the nodes we joined.
		for endpoints = p.gossip.EtcdEndpoints(); len(endpoints) == 0; endpoints = p.gossip.EtcdEndpoints() {
			select {
			case <-p.gossip.Changed():
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("no member of %v advertises etcd endpoints: %w", p.cfg.Join, ctx.Err())
			}
		}
	default:
		p.etcd, err = coordinator.StartEmbedded(ctx, coordinator.EmbeddedConfig{
			Dir:        filepath.Join(p.cfg.DataDir, "etcd"),
			ClientAddr: p.cfg.EtcdClientAddr,
			PeerAddr:   p.cfg.EtcdPeerAddr,
			Name:       p.cfg.Name,
			TLS:        p.cfg.TLS,
		})
		if err != nil {
			return err
		}
		endpoints = p.etcd.Endpoints()
		// Its clients, this node first, check the certificate against the
		// host they dial: a certificate that does not name it would fail
		// every connection, as a timeout.
		for _, e := range endpoints {
			u, uerr := url.Parse(e)
			if uerr != nil {
				continue
			}
			if err := p.sec.CheckHost(u.Hostname()); err != nil {
				return fmt.Errorf("the embedded etcd serves %s (--etcd-client-addr %s) with the node's certificate, which its clients (this node too) check against the address they dial: %w; add %s to the certificate (gale cert node --host)", e, p.cfg.EtcdClientAddr, err, u.Hostname())
			}
		}
	}
	how := "given"
	if len(p.cfg.Etcd) == 0 && len(p.cfg.Join) > 0 {
		how = "learned through gossip from " + strings.Join(p.cfg.Join, ",")
	}
	if err := etcdSchemes(endpoints, p.etcdTLS != nil, how); err != nil {
		return err
	}
	if p.etcdTLS != nil {
		if len(p.cfg.GossipKey) == 0 {
			p.log.Warn("TLS without a gossip key: anyone who reaches the gossip port can join the gossip and see the nodes' addresses (--gossip-key-file)")
		}
		p.checkCertificateHosts()
	}
	meta.Etcd = endpoints
	if err := p.gossip.SetMeta(meta); err != nil {
		return err
	}
	// The etcd client logs retries at warn level through zap; the node logs
	// what matters itself. Its TLS is the node's (or EtcdTLS's), whose
	// endpoints are all https (checked above), or none.
	// A reconnect backoff of at most 2 s: gRPC's default grows to two
	// minutes, and nodes came back 30-45 s after their etcd did.
	p.client, err = clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: p.etcdTLS.ClientTLS(), Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		})}})
	if err != nil {
		return fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	p.store = coordinator.NewStore(p.client)
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if rejoin {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.joinGossip(runCtx, nil); err != nil && runCtx.Err() == nil {
				p.log.Error("cannot join gossip", "err", err)
			}
		}()
	}
	p.goRun(func() { p.joinRegistered(runCtx) })
	// A node restarted right after a crash finds its old key still held by
	// the dead process's lease: wait for that lease to expire rather than
	// fail. Another live node of the same name keeps renewing it, so the
	// name stays taken and the start fails.
	deadline := time.Now().Add(p.cfg.LeaseTTL + 2*time.Second)
	stopWatch := p.watchEtcdWait(endpoints)
	defer stopWatch()
	for {
		err := p.register(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// It waited for etcd until the start's time ran out: name
			// it, and what a connection to it meets.
			return fmt.Errorf("cannot reach etcd at %s: %w (%s)", strings.Join(endpoints, ","), err, probeEtcd(endpoints, p.etcdTLS.ClientTLS()))
		}
		if transientEtcdErr(err) {
			// etcd answers that it cannot serve now (an etcd cluster
			// that lost its quorum times the grant out on its side):
			// wait for it as for an etcd that does not answer at all.
			// The node exited after about 7 s instead.
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if !errors.Is(err, coordinator.ErrNameTaken) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
	stopWatch()
	p.goRun(func() { p.gossipRenewals(runCtx) })
	p.noteRenewals(time.Time{}) // registered: no longer EtcdLost
	// The server ("") is serving while the process runs, and so are
	// Transfer and Attach (they need no etcd); the Coordinator API only
	// while the node holds its lease in etcd (keepAlive): without etcd it
	// takes calls it cannot answer.
	p.health = health.NewServer()
	p.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	p.health.SetServingStatus(galev1.CoordinatorService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	p.health.SetServingStatus(galev1.TransferService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	p.health.SetServingStatus(galev1.AttachService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	// Renewals start with the lease: the rest of the start talks to etcd
	// too, and with a slow etcd took longer than the TTL (a review).
	p.goRun(func() { p.keepAlive(runCtx) })
	if len(p.cfg.Etcd) > 0 {
		p.warnUnnamedEtcdMembers(ctx)
	}
	lcfg := coordinator.DefaultLeaderConfig(p.cfg.Name)
	// A longer node lease (--lease-ttl) rides out longer stalls: so does
	// the leadership, a second shorter so that a dead leader's successor
	// is elected before its tasks move.
	lcfg.SessionTTL = max(lcfg.SessionTTL, p.cfg.LeaseTTL-time.Second)
	lcfg.Log = p.cfg.Log // the leader adds the node name itself
	lcfg.Gone = p.gossip.Gone
	p.leader, err = coordinator.NewLeader(p.store, lcfg)
	if err != nil {
		return err
	}
	sopts, err := coordinator.ServerOptions(p.sec)
	if err != nil {
		return err
	}
	p.server = grpc.NewServer(append(sopts, coordinator.RecoverPanics(p.cfg.Log)...)...)
	galev1.RegisterCoordinatorServiceServer(p.server, coordinator.NewService(p.store, p.leader, p, sdk.RegistryResolver{}, coordinator.WithSecurity(p.sec)))
	healthpb.RegisterHealthServer(p.server, p.health)
	galev1.RegisterTransferServiceServer(p.server, p.transfer)
	p.hub.Candidates = p.attachCandidates
	galev1.RegisterAttachServiceServer(p.server, p.hub)
	reflection.Register(p.server)
	p.goRun(func() {
		if err := p.server.Serve(p.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			p.log.Error("gRPC server stopped", "err", err)
		}
	})
	// The watchdog's clock starts now (the start may have waited long for
	// etcd), before the watch loop can start any task.
	p.fence.lastBeat.Store(router.Nanotime())
	p.goRun(func() { _ = p.leader.Run(runCtx) })
	p.goRun(func() { p.watchStalls(runCtx) })
	p.goRun(func() { p.failingReporter(runCtx) })
	p.goRun(func() { p.watch(runCtx) })
	p.goRun(func() { p.mendGossip(runCtx) })
	p.log.Info("node started", "grpc", p.Addr(), "etcd", endpoints)
	return nil
}

func (p *Peer) goRun(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// Addr returns the address the gRPC server listens on.
func (p *Peer) Addr() string {
	if p.lis == nil {
		return ""
	}
	return p.lis.Addr().String()
}

// checkCertificateHosts warns when the node's certificate does not name
// the hosts it is dialled by: other nodes dial its gRPC address, and the
// processes it manages its loopback address when it listens on all
// interfaces. Their handshakes would fail, far from the cause.
func (p *Peer) checkCertificateHosts() {
	seen := map[string]bool{}
	for _, a := range []struct{ addr, who string }{
		{p.Addr(), "the other nodes and clients"},
		{LoopbackAddr(p.Addr()), "the component processes it manages"},
	} {
		host, _, err := net.SplitHostPort(a.addr)
		if ip := net.ParseIP(host); err != nil || seen[host] || ip != nil && ip.IsUnspecified() {
			continue
		}
		seen[host] = true
		if err := p.sec.CheckHost(host); err != nil {
			p.log.Warn("TLS: "+a.who+" dial this node at "+a.addr+" and will refuse its certificate: add "+host+" to it (gale cert node --host)", "err", err)
		}
	}
}

// GossipAddr returns the address other nodes --join.
func (p *Peer) GossipAddr() string {
	if p.gossip == nil {
		return ""
	}
	return p.gossip.Addr()
}

// EtcdEndpoints returns the embedded etcd's client URLs (nil with an
// external etcd).
func (p *Peer) EtcdEndpoints() []string {
	if p.etcd == nil {
		return nil
	}
	return p.etcd.Endpoints()
}

// joinGossip retries joining gossip after a failed try (last), waiting
// 0.2 s doubling to 5 s between tries, until it joins, gossip knows other
// nodes by another way (joinRegistered: a node with --etcd whose --join
// names a node that is down joins the registered ones, and went on
// warning that it could not join, every 5 s for as long as that node
// stayed down), the gossip keys are found to differ (no retry helps), or
// ctx ends.
func (p *Peer) joinGossip(ctx context.Context, last error) error {
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if last != nil && p.inGossip() {
			p.log.Info("in the gossip of other nodes; no longer trying --join", "join", strings.Join(p.cfg.Join, ","), "last_err", last)
			return nil
		}
		if last != nil {
			p.log.Warn("cannot join gossip yet; retrying", "err", last, "in", wait)
		}
		select {
		case <-ctx.Done():
			if last == nil {
				return ctx.Err()
			}
			return last
		case <-time.After(wait):
		}
		if last = p.gossip.Join(p.cfg.Join); last == nil {
			p.log.Info("joined gossip", "via", strings.Join(p.cfg.Join, ","))
			return nil
		}
		if errors.Is(last, ErrGossipKey) {
			return last
		}
	}
}

// inGossip reports whether gossip knows a node other than this one.
func (p *Peer) inGossip() bool {
	for _, m := range p.gossip.Members() {
		if m.Name != p.cfg.Name {
			return true
		}
	}
	return false
}

// gossipMendEvery is how often a node joins the gossip of registered
// nodes it does not know (mendGossip; a variable for tests).
var gossipMendEvery = 10 * time.Second

// mendGossip runs joinRegistered every gossipMendEvery: a split can happen
// at any time, not only at this node's start (the first node restarts
// without --join and comes back alone; the others saw it fail and never
// contact it again), and without this gossip stayed split for good without
// a word (etcd, which scheduling reads, saw all of them).
func (p *Peer) mendGossip(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(gossipMendEvery):
		}
		if nodes := p.joinRegistered(ctx); nodes != nil {
			p.pruneConns(nodes)
		}
	}
}

// pruneConns closes the connections to nodes that left the cluster: not
// registered in etcd (registered), not members of the gossip, and in no
// local run's routes. Each connection made for a node stays open (with
// gRPC's goroutines and buffers) until then, and without this one was
// kept for every node that ever sent or received a tuple here: a cluster
// whose nodes come and go under new names or addresses (autoscaling, new
// pods) gathered one for each, for as long as the node ran. A node that
// comes back is dialled afresh (connToNode), and a run that still holds
// a closed connection looks the node up again (remoteRoutes.recheck).
func (p *Peer) pruneConns(registered []*galev1.NodeInfo) {
	keep := map[string]bool{p.cfg.Name: true}
	for _, n := range registered {
		keep[n.GetName()] = true
	}
	for _, m := range p.gossip.Members() {
		keep[m.Name] = true
	}
	var routes []*remoteRoutes
	p.mu.Lock()
	for _, run := range p.runs {
		if run.routes != nil {
			routes = append(routes, run.routes)
			for _, n := range *run.routes.nodeOf.Load() {
				keep[n] = true
			}
		}
	}
	p.mu.Unlock()
	// The runs' senders to those nodes go too: a run that lasts kept one
	// for each node that ever ran some of its tasks.
	for _, r := range routes {
		r.forget(keep)
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
	inUse := map[string]bool{} // addresses of nodes kept: another name may have had one before
	for name, a := range p.addrOf {
		if keep[name] {
			inUse[a.addr] = true
		}
	}
	for name, a := range p.addrOf {
		if keep[name] {
			continue
		}
		delete(p.addrOf, name)
		if c := p.conns[a.addr]; c != nil && !inUse[a.addr] {
			delete(p.conns, a.addr)
			go c.Close()
		}
	}
}

// joinRegistered joins the gossip of the nodes registered in etcd that
// gossip does not know. A node restarted after others joined it (the seed
// node their --join names, which joins no one) otherwise hears of them
// only by chance: they declared it dead and no longer gossip with it.
// Until it does, it cannot tell them alive, nor they it, and a new leader
// takes gossip's word on which nodes are gone (LeaderConfig.Gone).
//
// It returns the registered nodes (nil when etcd did not answer).
func (p *Peer) joinRegistered(ctx context.Context) []*galev1.NodeInfo {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	nodes, _, err := p.store.Nodes(rctx)
	cancel()
	if err != nil {
		return nil
	}
	known := map[string]bool{p.cfg.Name: true}
	for _, m := range p.gossip.Members() {
		known[m.Name] = true
	}
	var missing, addrs []string
	for _, n := range nodes {
		if !known[n.GetName()] && n.GetGossipAddr() != "" {
			missing = append(missing, n.GetName())
			addrs = append(addrs, n.GetGossipAddr())
		}
	}
	if len(addrs) == 0 || ctx.Err() != nil {
		return nodes
	}
	if err := p.gossip.Join(addrs); err != nil {
		p.log.Warn("cannot join the gossip of registered nodes it does not know", "nodes", strings.Join(missing, ","), "addrs", strings.Join(addrs, ","), "err", err)
		return nodes
	}
	p.log.Info("joined the gossip of registered nodes it did not know", "nodes", strings.Join(missing, ","))
	return nodes
}

// transientEtcdErr reports whether err is etcd saying it cannot serve now
// (no leader, a request that timed out on its side, as while its cluster
// has lost its quorum), which waiting may mend, rather than a refusal no
// retry mends.
func transientEtcdErr(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.Unknown:
		// A request etcd's own deadline cut short ends as Unknown.
		return strings.Contains(s.Message(), context.DeadlineExceeded.Error())
	}
	return false
}

// etcdWaitWarnAfter is how long a node waits for its etcd at start
// before it says so (a variable for tests); it then says so again, with
// what a connection to each endpoint meets, every etcdWaitWarnEvery.
var etcdWaitWarnAfter, etcdWaitWarnEvery = 5 * time.Second, 30 * time.Second

// watchEtcdWait warns while the node's registration in etcd has not
// happened: the etcd client retries in silence (a wrong CA, a certificate
// etcd refuses, an etcd that is down), and the node otherwise waited for
// ever without a word. The returned func stops it.
func (p *Peer) watchEtcdWait(endpoints []string) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	wait, every := etcdWaitWarnAfter, etcdWaitWarnEvery // read here: tests set them
	go func() {
		since := time.Now()
		for {
			select {
			case <-done:
				return
			case <-time.After(wait):
			}
			seen := probeEtcd(endpoints, p.etcdTLS.ClientTLS())
			select {
			case <-done:
				return // registered while the probe ran
			default:
			}
			p.log.Warn("still waiting for etcd at start", "for", time.Since(since).Round(time.Second).String(),
				"endpoints", strings.Join(endpoints, ","), "seen", seen)
			wait = every
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// probeEtcd says what a connection to each etcd endpoint meets: refused,
// a TLS handshake error (a certificate of another CA, one the server
// refuses), or nothing wrong at this level.
func probeEtcd(endpoints []string, cfg *tls.Config) string {
	var out []string
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			out = append(out, e+": "+err.Error())
			continue
		}
		d := &net.Dialer{Timeout: 2 * time.Second}
		conn, err := d.Dial("tcp", u.Host)
		if err == nil && u.Scheme == "https" && cfg != nil {
			c := cfg.Clone()
			c.ServerName, c.NextProtos = u.Hostname(), []string{"h2"}
			tc := tls.Client(conn, c)
			conn = tc
			tc.SetDeadline(time.Now().Add(2 * time.Second))
			if err = tc.Handshake(); err == nil {
				// TLS 1.3 reports a refused client certificate after the
				// handshake, at the first read.
				tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				var b [1]byte
				if _, rerr := tc.Read(b[:]); rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
					err = rerr
				}
			}
		}
		if conn != nil {
			conn.Close()
		}
		if err != nil {
			out = append(out, e+": "+err.Error())
		} else {
			out = append(out, e+": connects (etcd itself does not answer yet)")
		}
	}
	return strings.Join(out, "; ")
}

// nodeInfo is what the node registers: ALIVE, or LEAVING once it drains.
func (p *Peer) nodeInfo() *galev1.NodeInfo {
	state := galev1.NodeState_NODE_STATE_ALIVE
	if p.leaving.Load() {
		state = galev1.NodeState_NODE_STATE_LEAVING
	}
	return &galev1.NodeInfo{
		Name: p.cfg.Name, GrpcAddr: p.Addr(), GossipAddr: p.gossip.Addr(), Slots: int32(p.cfg.Slots),
		Version: p.cfg.Version, State: state,
	}
}

// register registers the node under a new lease.
func (p *Peer) register(ctx context.Context) error {
	sent := router.Nanotime()
	l, err := p.client.Grant(ctx, int64(p.cfg.LeaseTTL/time.Second))
	if err != nil {
		return fmt.Errorf("grant node lease: %w", err)
	}
	p.lease.Store(int64(l.ID))
	p.leaseUntil.Store(sent + l.TTL*int64(time.Second))
	return p.store.RegisterNode(ctx, p.nodeInfo(), l.ID, p.incarnation)
}

// renewLease renews lease id once and moves leaseUntil on: etcd answered
// a renewal sent at sent, so it expires the lease no sooner than sent and
// the TTL it answered.
func (p *Peer) renewLease(ctx context.Context, id clientv3.LeaseID) error {
	sent := router.Nanotime()
	resp, err := p.client.KeepAliveOnce(ctx, id)
	if err != nil {
		return err
	}
	if resp.TTL <= 0 {
		return rpctypes.ErrLeaseNotFound
	}
	if id != clientv3.LeaseID(p.lease.Load()) {
		return nil // a renewal of a lease the node has since replaced
	}
	until := sent + resp.TTL*int64(time.Second)
	for {
		// Renewals of one lease may answer out of order (keepAlive's and
		// confirmLease's): keep the latest bound.
		old := p.leaseUntil.Load()
		if until <= old || p.leaseUntil.CompareAndSwap(old, until) {
			return nil
		}
	}
}

// regain gets the node's registration back after it lost its lease (no
// renewal answered for the TTL). etcd restores the leases it had when it
// restarts, with their TTL renewed, and a lease the node could not renew
// may be alive in etcd still: so the node first renews the lease it had,
// and its key, with everything under that lease, stays as it was (kept
// reports it). Only a lease etcd no longer has is replaced, by a new one
// under which the node takes its own key over at once
// (Store.RegisterNode compares the incarnation).
func (p *Peer) regain(ctx context.Context) (kept bool, err error) {
	if id := clientv3.LeaseID(p.lease.Load()); id != 0 {
		err := p.renewLease(ctx, id)
		switch {
		case err == nil:
			// Written again in case the key went (deleted by hand): a
			// no-op otherwise.
			return true, p.store.RegisterNode(ctx, p.nodeInfo(), id, p.incarnation)
		case !errors.Is(err, rpctypes.ErrLeaseNotFound):
			return false, err
		}
	}
	return false, p.register(ctx)
}

// renewEvery is how often keepAlive renews the node's lease: a quarter of
// its TTL, so that one slow or failed renewal leaves the lease well
// ahead of the cut-off fence.
func (p *Peer) renewEvery() time.Duration { return p.cfg.LeaseTTL / 4 }

// maxRenewals is how many renewals keepAlive has under way at once: a
// TTL's worth (each is given up after the TTL).
const maxRenewals = 4

// keepAlive keeps the liveness lease. It renews the lease itself, once
// every renewEvery, rather than through the client's KeepAlive stream,
// whose answers do not say when their requests were sent: leaseUntil
// needs that. A renewal does not wait for the one before to be answered,
// so that leaseUntil trails the clock by an etcd round trip and a renewal
// interval, not by two round trips (one at a time, a live etcd answering
// in 1.4 s, with a TTL of 3 s, left the lease within the cut-off fence's
// margin before every answer, and the node held its tasks while etcd
// renewed its lease: a helper's review). When no renewal has been
// answered for two intervals the node says by gossip that its renewals
// fail (MemberMeta.EtcdLost, with the time of the last answer), which
// tells the others' fences an etcd outage from a node cut off alone; it
// looks at the answers, not at each request, so that a slow etcd whose
// answers keep coming is not taken for a failing one. Once no renewal
// has been answered for the TTL (leaseUntil passed) the lease may be
// gone: the node gets its registration back once etcd answers (regain),
// keeping its lease when etcd still has it.
func (p *Peer) keepAlive(ctx context.Context) {
	type renewal struct {
		id  clientv3.LeaseID
		err error
	}
	done := make(chan renewal, maxRenewals) // never full: at most maxRenewals under way
	inflight := 0
	warned := false // of failing renewals, since the last that succeeded
	lastAnswer := time.Now()
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for ctx.Err() == nil {
		now := time.Now()
		if inflight < maxRenewals && !now.Before(next) {
			id := clientv3.LeaseID(p.lease.Load())
			inflight++
			next = now.Add(p.renewEvery())
			p.wg.Add(1) // keepAlive is counted: Shutdown waits for these too
			go func() {
				defer p.wg.Done()
				rctx, cancel := context.WithTimeout(ctx, p.cfg.LeaseTTL)
				err := p.renewLease(rctx, id)
				cancel()
				done <- renewal{id, err}
			}()
		}
		failAt := lastAnswer.Add(2 * p.renewEvery())
		if !now.Before(failAt) {
			p.noteRenewals(lastAnswer)
		}
		// Wake for the next renewal, when renewals count as failing, or
		// when the lease may be gone.
		wake := time.Duration(p.leaseUntil.Load() - router.Nanotime())
		if inflight < maxRenewals {
			wake = min(wake, next.Sub(now))
		}
		if now.Before(failAt) {
			wake = min(wake, failAt.Sub(now))
		}
		timer.Reset(max(wake, time.Millisecond))
		var r renewal
		answered := false
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case r = <-done:
			inflight--
			// An answer about a lease since replaced says nothing.
			answered = r.id == clientv3.LeaseID(p.lease.Load())
		}
		timer.Stop()
		if answered {
			if r.err == nil {
				lastAnswer = time.Now()
				p.noteRenewals(time.Time{})
				if warned {
					warned = false
					p.log.Info("node lease renewed again")
				}
			} else {
				if !warned {
					warned = true
					p.log.Warn("cannot renew the node's lease in etcd; trying again", "err", r.err,
						"lease_left", time.Duration(p.leaseUntil.Load()-router.Nanotime()).Round(time.Millisecond).String())
				}
				if soon := time.Now().Add(250 * time.Millisecond); soon.Before(next) {
					next = soon
				}
			}
		}
		if answered && errors.Is(r.err, rpctypes.ErrLeaseNotFound) || router.Nanotime() >= p.leaseUntil.Load() {
			// Renewals still under way are of the lost lease: their
			// answers are ignored once it is replaced.
			p.recoverLease(ctx)
			warned = false
			lastAnswer, next = time.Now(), time.Now()
		}
	}
}

// noteRenewals records that no renewal of the node's lease has been
// answered since failing, or that they are (failing is zero), and has
// gossipRenewals gossip it (MemberMeta.EtcdLost) when that changed. A
// failure already noted keeps its time.
func (p *Peer) noteRenewals(failing time.Time) {
	p.renewMu.Lock()
	defer p.renewMu.Unlock()
	if p.renewFailing.IsZero() == failing.IsZero() {
		return
	}
	p.renewFailing = failing
	select {
	case p.renewChanged <- struct{}{}:
	default: // gossipRenewals has yet to take the last change: it reads this one
	}
}

// gossipRenewals gossips what noteRenewals records. Apart from keepAlive,
// whose renewals must not wait for gossip: an update waits up to a second
// for its broadcast.
func (p *Peer) gossipRenewals(ctx context.Context) {
	sent := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.renewChanged:
		}
		p.renewMu.Lock()
		var ms int64
		if !p.renewFailing.IsZero() {
			ms = p.renewFailing.UnixMilli()
		}
		p.renewMu.Unlock()
		if ms == sent {
			continue
		}
		sent = ms
		if err := p.gossip.UpdateMeta(func(m *MemberMeta) { m.EtcdLost = ms }); err != nil {
			p.log.Warn("gossip whether this node reaches etcd", "err", err)
		}
	}
}

// recoverLease gets the node's registration back after it lost its
// lease: etcd may have expired it, and the leader moved its tasks (the
// cut-off fence held them meanwhile, unless every node lost etcd).
func (p *Peer) recoverLease(ctx context.Context) {
	p.log.Warn("node lease lost; registering again")
	p.etcdLostAt.Store(time.Now().UnixNano())
	p.health.SetServingStatus(galev1.CoordinatorService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		kept, err := p.regain(rctx)
		cancel()
		if err == nil {
			p.etcdLostAt.Store(0)
			p.noteRenewals(time.Time{})
			p.log.Info("node registered again", "lease_kept", kept)
			p.health.SetServingStatus(galev1.CoordinatorService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
			return
		}
		p.log.Warn("register node", "err", err)
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// watch keeps the local runs in line with the assignments.
func (p *Peer) watch(ctx context.Context) {
	p.incarnations, p.restarted = map[string]string{}, map[string]bool{}
	for ctx.Err() == nil {
		wch := p.store.Watch(ctx)
		// The processes registered now, so that the watch can tell one
		// registered again by another (noteIncarnations).
		if incs, err := p.store.Incarnations(ctx); err == nil {
			for node, inc := range incs {
				if was := p.incarnations[node]; was != "" && was != inc && node != p.cfg.Name {
					p.restarted[node] = true
				}
				p.incarnations[node] = inc
			}
		}
		if err := p.sync(ctx); err != nil && ctx.Err() == nil { // a stopping node's sync just ends
			p.log.Warn("sync with assignments", "err", err)
		}
		// Failed runs restart after a backoff: look for due ones every
		// second too, not only when etcd changes.
		tick := time.NewTicker(time.Second)
	events:
		for {
			select {
			case wr, ok := <-wch:
				if !ok || wr.Err() != nil {
					break events
				}
				p.noteIncarnations(wr.Events)
			case <-tick.C:
				if !p.restartsDue() {
					continue
				}
			case <-p.fence.engage:
				p.confirmAfterStall(ctx)
				continue
			}
			if err := p.sync(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("sync with assignments", "err", err)
			}
		}
		tick.Stop()
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// sync starts the topologies that have tasks assigned to this node, stops
// those that have none any more, moves tasks in and out of those whose set
// of local tasks changed, restarts failed runs whose backoff is over, and
// applies activation and routing changes.
func (p *Peer) sync(ctx context.Context) error {
	recs, _, err := p.store.Topologies(ctx)
	if err != nil {
		return err
	}
	as, _, err := p.store.Assignments(ctx)
	if err != nil {
		return err
	}
	type wanted struct {
		rec    *galev1.TopologyRecord
		mine   map[int32]bool
		nodeOf map[int32]string
	}
	want := map[string]wanted{}
	finished := map[string]string{} // name -> id of finished runs
	for _, rec := range recs {
		name := rec.GetSpec().GetName()
		if rec.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			finished[name] = rec.GetId()
			continue
		}
		a := as[name]
		if a.GetTopologyId() != rec.GetId() || rec.GetState() == galev1.TopologyState_TOPOLOGY_STATE_KILLED {
			continue
		}
		mine := map[int32]bool{}
		for task, n := range a.GetTasks() {
			if n == p.cfg.Name {
				mine[task] = true
			}
		}
		if len(mine) > 0 {
			want[name] = wanted{rec: rec, mine: mine, nodeOf: a.GetTasks()}
		}
	}
	// Tasks that ran to their end on some node are not run again where
	// they land next. The reports are read from etcd only when a run here
	// starts, changes or may restart, and before the lock is taken: only
	// this goroutine changes p.runs, and Shutdown, the one other writer,
	// only stops runs.
	p.mu.Lock()
	changed, ackerMoved := false, false
	for name, w := range want {
		run := p.runs[name]
		if run == nil || run.id != w.rec.GetId() || !maps.Equal(w.mine, run.mine) || run.failure() != nil {
			changed = true
		}
		if run != nil && run.id == w.rec.GetId() && ackersMoved(run, w.nodeOf) {
			ackerMoved = true
		}
	}
	p.mu.Unlock()
	var reports map[string][]*galev1.FinishedTasks
	if changed {
		if reports, err = p.store.FinishedReports(ctx); err != nil {
			p.log.Warn("read finished tasks", "err", err)
		}
	}
	// An acker that moved off a node no longer registered lost its trees
	// with it (a live node hands them over): the spouts here fail them.
	var registered map[string]bool
	if ackerMoved {
		if nodes, _, err := p.store.Nodes(ctx); err != nil {
			p.log.Warn("read nodes to tell lost ackers", "err", err)
		} else {
			registered = map[string]bool{}
			for _, n := range nodes {
				registered[n.GetName()] = true
			}
		}
	}
	loseAckers := func(name string, run *localRun, nodeOf map[int32]string) {
		if run.rt == nil || run.routes == nil {
			return
		}
		lostWith := func(node string) bool {
			if registered != nil {
				return p.lostWithItsNode(node, registered)
			}
			// The nodes could not be read: gossip's word that the node
			// is gone (and did not drain) rather than a two-minute wait.
			return p.gossip != nil && p.gossip.Gone(node) && !p.gossip.Drained(node)
		}
		lost := lostAckerTasks(run.rt.ackers, *run.routes.nodeOf.Load(), nodeOf, lostWith, p.restarted)
		if len(lost) > 0 {
			p.log.Info("ackers lost with their node's process; the spouts here replay their trees", "topology", name, "id", run.id, "acker_tasks", lost)
			run.rt.AckersLost(lost)
		}
	}
	ended := func(name, id string) map[int32]bool {
		out := map[int32]bool{}
		for _, r := range reports[name] {
			if r.GetTopologyId() == id {
				for _, t := range r.GetTasks() {
					out[t] = true
				}
			}
		}
		return out
	}
	// Markers go over the network: sent once the lock is released, so that
	// a slow peer cannot hold the node's lock (Shutdown needs it).
	var resend []*Runtime
	defer func() {
		for _, rt := range resend {
			rt.ResendEndOfInput()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return nil
	}
	for name, run := range p.runs {
		w, ok := want[name]
		if ok && w.rec.GetId() == run.id {
			loseAckers(name, run, w.nodeOf) // before the routes follow nodeOf
		}
		switch {
		case ok && w.rec.GetId() == run.id && run.failure() != nil && run.rt != nil:
			if !run.restartDue(time.Now()) {
				break
			}
			p.stopRun(name, run)
			restarts := run.restarts + 1
			if run.endedAt.Sub(run.started) > time.Minute {
				restarts = 1 // it ran for a while: not a crash loop
			}
			p.startRun(name, w.rec, w.mine, w.nodeOf, ended(name, run.id), restarts, run.err, run.endedAt)
			p.log.Warn("restarted a failed run", "topology", name, "id", run.id, "restarts", restarts, "err", run.err)
		case ok && w.rec.GetId() == run.id && maps.Equal(w.mine, run.mine):
		case ok && w.rec.GetId() == run.id && run.rt != nil:
			// The same run with other tasks here: move only those.
			nodeOf := w.nodeOf
			run.routes.nodeOf.Store(&nodeOf)
			if err := run.rt.Reassign(w.mine, ended(name, run.id)); err != nil {
				p.log.Error("reassign tasks", "topology", name, "err", err)
			}
			resend = append(resend, run.rt)
			p.log.Info("tasks reassigned", "topology", name, "id", run.id, "tasks_here", len(w.mine), "tasks", len(w.nodeOf))
			run.mine = w.mine
		default:
			failed := run.restarts > 0 || run.failure() != nil
			p.stopRun(name, run)
			if failed {
				p.reportFailing(name, nil) // stopped here: not failing here any more
			}
			if finished[name] == run.id {
				// Every task of the run ended: the leader marked it
				// FINISHED, and it never runs again. Keep its counters.
				run.finished.Store(true)
				p.retired[name] = run
			}
		}
	}
	clear(p.restarted) // told to every run that had ackers there
	for name, run := range p.retired {
		if finished[name] != run.id {
			delete(p.retired, name)
		}
	}
	for name, w := range want {
		run := p.runs[name]
		if run == nil {
			p.startRun(name, w.rec, w.mine, w.nodeOf, ended(name, w.rec.GetId()), 0, nil, time.Time{})
			continue
		}
		if run.routes != nil && !maps.Equal(*run.routes.nodeOf.Load(), w.nodeOf) {
			nodeOf := w.nodeOf
			run.routes.nodeOf.Store(&nodeOf)
			if run.rt != nil {
				// Tasks moved between other nodes: those downstream of
				// tasks that ended here need their markers again.
				resend = append(resend, run.rt)
			}
		}
		if run.rt != nil {
			run.rt.SetActive(w.rec.GetState() == galev1.TopologyState_TOPOLOGY_STATE_ACTIVE)
		}
	}
	return nil
}

// lostWithItsNode reports whether an acker task that moved off node from
// lost its trees with it: from is not registered (it died, or was cut
// off), and did not say by gossip that its drain moved all its tasks. A
// drained node hands its ackers' trees over and only then stops, leaves
// gossip and revokes its lease: a sync here that reads the nodes after
// that (it ran late, behind a slow etcd or on a busy machine) found it
// unregistered, and its spouts replayed trees that went on at the
// acker's new node. A drain that ran out of time, or that had no other
// node to move the tasks to, says nothing: those ackers' trees were lost.
func (p *Peer) lostWithItsNode(from string, registered map[string]bool) bool {
	if registered[from] {
		return false
	}
	return p.gossip == nil || !p.gossip.Drained(from)
}

// lostAckerTasks returns, sorted, the acker tasks whose trees were lost
// when the assignment went from before to after: those that moved off a
// node that lostWith says died with them (a live node hands its ackers'
// trees over), and those that were on a node registered again by another
// process since (restarted; the process before took their tables with
// it), whether they stay there or move.
func lostAckerTasks(ackers []int32, before, after map[int32]string, lostWith func(node string) bool, restarted map[string]bool) []int32 {
	var lost []int32
	for _, task := range ackers {
		from, to := before[task], after[task]
		switch {
		case from == "":
		case restarted[from]:
			lost = append(lost, task)
		case from != to && lostWith(from):
			lost = append(lost, task)
		}
	}
	slices.Sort(lost)
	return lost
}

// noteIncarnations notes, from watch events, the process registered under
// each node name (coordinator.IncarnationPut), and the names registered
// again by another process (p.restarted): a node killed and started again
// under its name, whose tasks the leader may leave where they were. Owned
// by the watch goroutine, as sync is.
func (p *Peer) noteIncarnations(events []*clientv3.Event) {
	for _, ev := range events {
		node, inc, ok := coordinator.IncarnationPut(ev)
		if !ok || node == p.cfg.Name || inc == "" {
			continue
		}
		if was := p.incarnations[node]; was != "" && was != inc {
			p.restarted[node] = true
			p.log.Info("a node registered again by another process", "node", node)
		}
		p.incarnations[node] = inc
	}
}

// ackersMoved reports whether nodeOf places an acker task of run on another
// node than the run's routes do.
func ackersMoved(run *localRun, nodeOf map[int32]string) bool {
	if run.rt == nil || run.routes == nil {
		return false
	}
	before := *run.routes.nodeOf.Load()
	for _, task := range run.rt.ackers {
		if from := before[task]; from != "" && from != nodeOf[task] {
			return true
		}
	}
	return false
}

// attachCandidates lists connections to the other nodes that host tasks
// of a component, for attached processes that connected here (the hub
// relays them).
func (p *Peer) attachCandidates(ctx context.Context, topology, component string) []*grpc.ClientConn {
	rec, err := p.store.Topology(ctx, topology)
	if err != nil {
		return nil
	}
	as, _, err := p.store.Assignments(ctx)
	if err != nil || as[topology].GetTopologyId() != rec.GetId() {
		return nil
	}
	tasks, err := spec.Tasks(rec.GetSpec())
	if err != nil {
		return nil
	}
	seen := map[string]bool{p.cfg.Name: true}
	var conns []*grpc.ClientConn
	for _, t := range tasks {
		n := as[topology].GetTasks()[t.ID]
		if t.Component != component || seen[n] || n == "" {
			continue
		}
		seen[n] = true
		if c, err := p.connTo(n); err == nil {
			conns = append(conns, c)
		}
	}
	return conns
}

// startRun starts a local run of the tasks in mine; called with p.mu held.
func (p *Peer) startRun(name string, rec *galev1.TopologyRecord, mine map[int32]bool, nodeOf map[int32]string, ended map[int32]bool, restarts int, lastErr error, lastErrAt time.Time) *localRun {
	run := &localRun{id: rec.GetId(), mine: mine, done: make(chan struct{}), started: time.Now(), restarts: restarts, lastErr: lastErr, lastErrAt: lastErrAt}
	opts := Options{Logger: p.log.With("topology", name), ID: rec.GetId(), Attach: p.hub, AttachAddr: LoopbackAddr(p.Addr()), AttachTLS: p.cfg.TLS, fence: p.fence}
	// Every run on a node is distributed, even one that has all its
	// tasks here for now: later assignments may move some of them.
	run.routes = newRemoteRoutes(p.cfg.Name, p.connTo, rec.GetId(), nodeOf)
	run.routes.redial = p.freshConnTo
	opts.Local = func(t int32) bool { return mine[t] }
	opts.Remote = run.routes
	opts.Done = func(t int32) bool { return ended[t] }
	rt, err := New(rec.GetSpec(), opts)
	if err != nil {
		p.log.Error("cannot run topology", "topology", name, "err", err)
		run.err = err
		run.endedAt = time.Now()
		close(run.done)
		p.runs[name] = run
		p.reportFailing(name, &galev1.NodeRun{Node: p.cfg.Name, TopologyId: run.id, State: galev1.NodeRunState_NODE_RUN_STATE_FAILED,
			Restarts: uint32(restarts), Error: err.Error(), ErrorUnixMillis: run.endedAt.UnixMilli()})
		return run
	}
	rt.SetActive(rec.GetState() == galev1.TopologyState_TOPOLOGY_STATE_ACTIVE)
	run.rt = rt
	if run.routes != nil {
		run.routes.rt = rt
	}
	p.transfer.Register(run.id, rt)
	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	p.runs[name] = run
	p.log.Info("topology started", "topology", name, "id", rec.GetId(), "tasks_here", len(mine), "tasks", len(nodeOf))
	run.reporter.Add(1)
	go func() {
		defer run.reporter.Done()
		p.reportFinished(ctx, name, run)
	}()
	if restarts > 0 {
		run.healthy = time.AfterFunc(time.Minute, func() {
			if run.failure() == nil {
				p.reportFailing(name, nil)
			}
		})
	}
	go func() {
		defer close(run.done)
		err := rt.Run(ctx)
		switch {
		case err == nil:
			run.finished.Store(true)
			p.log.Info("this node's part of the topology ran to its end", "topology", name, "id", run.id)
		case errors.Is(err, ErrStopped):
		default:
			run.err = err
			p.log.Error("topology failed", "topology", name, "err", err, "restart_in", restartBackoff(run.restarts))
		}
		run.endedAt = time.Now()
		if run.err != nil {
			p.reportFailing(name, &galev1.NodeRun{Node: p.cfg.Name, TopologyId: run.id, State: galev1.NodeRunState_NODE_RUN_STATE_RESTARTING,
				Restarts: uint32(run.restarts), Error: run.err.Error(), ErrorUnixMillis: run.endedAt.UnixMilli()})
		}
	}()
	return run
}

// failingRunOp changes this node's failing-run key of a topology in etcd:
// run nil clears it.
type failingRunOp struct {
	name string
	run  *galev1.NodeRun
}

// reportFailing queues a change of the topology's failing-run key for
// failingReporter. It never blocks a run: a full queue drops the change
// (and says so); the next failure or clear writes the key again.
func (p *Peer) reportFailing(name string, run *galev1.NodeRun) {
	select {
	case p.failingOps <- failingRunOp{name: name, run: run}:
	default:
		p.log.Warn("failing-run report dropped: too many at once", "topology", name)
	}
}

// failingReporter writes the failing-run keys in the order they changed,
// so that a clear never overtakes the failure it clears.
func (p *Peer) failingReporter(ctx context.Context) {
	for {
		var op failingRunOp
		select {
		case <-ctx.Done():
			return
		case op = <-p.failingOps:
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		if op.run != nil {
			err = p.store.ReportFailingRun(cctx, op.name, op.run, clientv3.LeaseID(p.lease.Load()))
		} else {
			err = p.store.ClearFailingRun(cctx, op.name, p.cfg.Name)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			p.log.Warn("failing-run report", "topology", op.name, "err", err)
		}
	}
}

// reportFinished records in etcd each local spout and bolt of the run that
// ran to its end of input, as they end, retrying until it succeeds or the
// run stops. The leader marks the topology FINISHED once every task of it
// ended; a node that is given a task that ended elsewhere does not run it
// again (finishedTasks).
func (p *Peer) reportFinished(ctx context.Context, name string, run *localRun) {
	reported := map[int32]bool{}
	for {
		select {
		case <-run.rt.Progress():
		case <-ctx.Done():
			return
		}
		var fresh []int32
		for _, t := range run.rt.FinishedTasks() {
			if !reported[t] {
				fresh = append(fresh, t)
			}
		}
		for len(fresh) > 0 {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := p.store.ReportFinished(rctx, name, p.cfg.Name, run.id, fresh)
			cancel()
			if err == nil {
				for _, t := range fresh {
					reported[t] = true
				}
				p.log.Info("tasks finished", "topology", name, "id", run.id, "tasks", fresh)
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("report finished tasks", "topology", name, "err", err)
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

// stopRun stops a local run and waits for it; called with p.mu held.
func (p *Peer) stopRun(name string, run *localRun) {
	if run.healthy != nil {
		run.healthy.Stop()
	}
	p.transfer.Unregister(run.id)
	if run.cancel != nil {
		run.cancel()
	}
	if run.routes != nil {
		// Executors blocked sending to a node that does not read must not
		// keep the run from stopping.
		run.routes.abort()
	}
	<-run.done
	run.reporter.Wait()
	if run.routes != nil {
		run.routes.close()
	}
	delete(p.runs, name)
	p.log.Info("topology stopped here", "topology", name, "id", run.id)
}

// restartsDue reports whether a failed run is due to start again.
func (p *Peer) restartsDue() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, r := range p.runs {
		if r.restartDue(now) {
			return true
		}
	}
	return false
}

// stopRuns stops every local run for good: no later sync starts one.
func (p *Peer) stopRuns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	for name, run := range p.runs {
		p.stopRun(name, run)
	}
}

func (p *Peer) runByID(id string) *localRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.runs {
		if r.id == id {
			return r
		}
	}
	for _, r := range p.retired {
		if r.id == id {
			return r
		}
	}
	return nil
}

// TaskStatuses implements coordinator.StatsSource: one snapshot of the
// run's tasks for counters and queues alike.
func (p *Peer) TaskStatuses(id string) map[int32]*galev1.TaskStatus {
	run := p.runByID(id)
	if run == nil || run.rt == nil {
		return nil
	}
	p.mu.Lock()
	mine := run.mine // replaced, never changed in place, under p.mu
	p.mu.Unlock()
	out := map[int32]*galev1.TaskStatus{}
	for tid, st := range run.rt.TaskStats() {
		if mine != nil && !mine[tid] {
			continue // another node's task: not counted here
		}
		c := &galev1.Counters{
			Emitted: st.Counters.Emitted, Transferred: st.Counters.Transferred,
			Executed: st.Counters.Executed, Acked: st.Counters.Acked, Failed: st.Counters.Failed,
			Errors: st.Errors,
		}
		if st.Latency.Count() > 0 {
			c.CompleteLatency = st.Latency.Proto()
		}
		if st.Process.Count() > 0 {
			c.ProcessLatency = st.Process.Proto()
		}
		ts := &galev1.TaskStatus{Counters: c}
		if q := st.Queue; q != nil {
			ts.Queue = &galev1.QueueState{
				Batches: uint32(q.Batches), CapacityBatches: uint32(q.CapBatches),
				Bytes: uint64(q.Bytes), CapacityBytes: uint64(q.CapBytes),
				OverflowBatches: uint32(q.Overflow), HeadAgeMicros: q.HeadAge.Microseconds(),
			}
		}
		out[tid] = ts
	}
	return out
}

// TaskErrors implements coordinator.StatsSource: the errors the run's
// tasks reported, oldest first. The run's own failure is in RunState.
func (p *Peer) TaskErrors(id string) []*galev1.ComponentError {
	run := p.runByID(id)
	if run == nil || run.rt == nil {
		return nil
	}
	var out []*galev1.ComponentError
	for _, e := range run.rt.Errors() {
		out = append(out, &galev1.ComponentError{TaskId: e.Task, Message: e.Err.Error(), UnixMillis: e.At.UnixMilli()})
	}
	return out
}

// RunState implements coordinator.StatsSource: what this node's run of
// the topology is doing, nil when it has none.
func (p *Peer) RunState(id string) *galev1.NodeRun {
	run := p.runByID(id)
	if run == nil {
		return nil
	}
	now := time.Now()
	out := &galev1.NodeRun{Node: p.cfg.Name, TopologyId: run.id, Restarts: uint32(run.restarts)}
	if run.lastErr != nil {
		// The failure that caused this run's start.
		out.Error, out.ErrorUnixMillis = run.lastErr.Error(), run.lastErrAt.UnixMilli()
	}
	err := run.failure()
	switch {
	case run.finished.Load():
		// Finished (a retired run is never restarted, whatever its
		// stop returned): up for as long as it ran.
		out.State = galev1.NodeRunState_NODE_RUN_STATE_FINISHED
		end := now
		if run.ended() {
			end = run.endedAt
		}
		out.UpMillis = end.Sub(run.started).Milliseconds()
	case err != nil && run.rt == nil:
		// New failed: the same spec fails the same way every time.
		out.State = galev1.NodeRunState_NODE_RUN_STATE_FAILED
		out.Error, out.ErrorUnixMillis = err.Error(), run.endedAt.UnixMilli()
	case err != nil:
		out.State = galev1.NodeRunState_NODE_RUN_STATE_RESTARTING
		out.Error, out.ErrorUnixMillis = err.Error(), run.endedAt.UnixMilli()
		out.RestartInMillis = max(restartBackoff(run.restarts)-now.Sub(run.endedAt), 0).Milliseconds()
	default:
		out.State = galev1.NodeRunState_NODE_RUN_STATE_RUNNING
		out.UpMillis = now.Sub(run.started).Milliseconds()
		out.Held = p.fence.why()
	}
	return out
}

// Finished implements coordinator.StatsSource.
func (p *Peer) Finished(id string) bool {
	run := p.runByID(id)
	return run != nil && run.finished.Load()
}

// Drain prepares a graceful exit (SIGTERM): the node marks itself leaving
// in etcd, so the leader moves its tasks to other nodes, and waits until it
// runs none (or only finished ones), or until ctx ends. In-flight trees
// through this node replay from their spouts. Shutdown follows.
func (p *Peer) Drain(ctx context.Context) error {
	p.leaving.Store(true)
	// Without etcd nothing can move the tasks: say so within seconds
	// rather than wait out the whole drain. They replay elsewhere once
	// the node's lease expires.
	ectx, cancel := context.WithTimeout(ctx, drainEtcdTimeout)
	defer cancel()
	if err := p.store.RegisterNode(ectx, p.nodeInfo(), clientv3.LeaseID(p.lease.Load()), p.incarnation); err != nil {
		return fmt.Errorf("mark node leaving (is etcd reachable?): %w", err)
	}
	nodes, _, err := p.store.Nodes(ectx)
	if err != nil {
		return fmt.Errorf("drain: list nodes (is etcd reachable?): %w", err)
	}
	others := 0
	for _, n := range nodes {
		if n.GetName() != p.cfg.Name && n.GetState() != galev1.NodeState_NODE_STATE_LEAVING {
			others++
		}
	}
	if others == 0 {
		p.log.Info("draining: no other node can take the tasks; stopping them here")
		return nil
	}
	p.log.Info("draining: waiting for the leader to move this node's tasks")
	for {
		if p.idle() {
			// Its ackers handed their trees over: the spouts elsewhere
			// need not replay them when this node is gone
			// (lostWithItsNode).
			if p.gossip != nil {
				if err := p.gossip.UpdateMeta(func(m *MemberMeta) { m.Drained = true }); err != nil {
					p.log.Warn("gossip that the drain ended", "err", err)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: tasks still here: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// drainEtcdTimeout bounds each etcd call of Drain.
const drainEtcdTimeout = 5 * time.Second

// idle reports whether the node runs no unfinished topology.
func (p *Peer) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.runs {
		if !r.finished.Load() && r.failure() == nil {
			return false
		}
	}
	return true
}

// shutdownGrace bounds each wait of Shutdown on others: calls under way
// on the gRPC port, and the node's goroutines' last calls to etcd.
const shutdownGrace = 2 * time.Second

// StopServer stops srv gracefully, letting the calls under way end, and
// at once after grace or when ctx ends.
func StopServer(ctx context.Context, srv *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		srv.Stop()
	case <-ctx.Done():
		srv.Stop()
	}
}

// Shutdown stops the node: its runs, the gRPC server (gracefully for
// shutdownGrace, forced then or when ctx ends), the election and the
// lease, and the embedded etcd. Safe to call twice.
func (p *Peer) Shutdown(ctx context.Context) error {
	p.stopped.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		p.stopRuns()
		if p.server != nil {
			// Calls under way get shutdownGrace to finish. Other nodes'
			// Transfer streams to this one stay open, idle, until they
			// end (its runs are stopped): waiting for them held every
			// drained node for the whole shutdown limit (10 s).
			StopServer(ctx, p.server, shutdownGrace)
		} else if p.lis != nil {
			p.lis.Close()
		}
		if p.gossip != nil {
			_ = p.gossip.Leave(time.Second)
		}
		if id := clientv3.LeaseID(p.lease.Load()); p.client != nil && id != 0 {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, _ = p.client.Revoke(rctx, id) // leave at once instead of after the TTL
			cancel()
		}
		waited := make(chan struct{})
		go func() {
			p.wg.Wait()
			close(waited)
		}()
		grace := time.NewTimer(shutdownGrace)
		select {
		case <-waited:
		case <-grace.C:
			// A goroutine waits on an etcd that does not answer (etcd's
			// election resigns with no deadline when its campaign is
			// cancelled): closing the client ends its calls. The node
			// never exited while its etcd was down.
			p.log.Warn("the node's goroutines did not stop (is etcd answering?): closing the etcd client", "after", shutdownGrace)
			if p.client != nil {
				p.client.Close()
			}
			<-waited
		}
		grace.Stop()
		p.connMu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.connMu.Unlock()
		if p.client != nil {
			p.client.Close()
		}
		if p.etcd != nil {
			p.etcd.Close()
		}
	})
	return nil
}

var _ coordinator.StatsSource = (*Peer)(nil)

// warnUnnamedEtcdMembers says so when --etcd names fewer members of the
// etcd cluster than it has: the node's client talks to the members it was
// given only, so it loses etcd with them while the cluster is up (a
// helper's node, given one member of three, lost its lease with that
// member and ran its tasks beside their new copies).
func (p *Peer) warnUnnamedEtcdMembers(ctx context.Context) {
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := p.client.MemberList(mctx)
	if err != nil {
		return // the cluster's members are its business; nothing is lost
	}
	var all [][]string
	for _, m := range resp.Members {
		all = append(all, m.GetClientURLs())
	}
	if missing := unnamedMembers(p.cfg.Etcd, all); len(missing) > 0 {
		p.log.Warn("--etcd names some of the etcd cluster's members only: this node loses etcd with them while the others are up; name them all",
			"named", strings.Join(p.cfg.Etcd, ","), "unnamed", strings.Join(missing, ","))
	}
}

// unnamedMembers returns the first client URL of each member (given by its
// client URLs) that none of the named endpoints is, when fewer endpoints
// are named than the cluster has members (endpoints may name members by
// other names than those they advertise: as many of them say nothing).
func unnamedMembers(named []string, members [][]string) []string {
	if len(named) >= len(members) {
		return nil
	}
	given := map[string]bool{}
	for _, u := range named {
		given[strings.TrimSuffix(u, "/")] = true
	}
	var missing []string
	for _, urls := range members {
		if len(urls) == 0 {
			continue // a member not started yet
		}
		if !slices.ContainsFunc(urls, func(u string) bool { return given[strings.TrimSuffix(u, "/")] }) {
			missing = append(missing, urls[0])
		}
	}
	return missing
}
