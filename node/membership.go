package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberMeta is what a node tells the others through gossip. It has to fit
// memberlist's 512-byte metadata limit, so it holds addresses only.
type MemberMeta struct {
	// GRPCAddr is where the node serves gRPC.
	GRPCAddr string `json:"g"`
	// Slots is the node's scheduling weight.
	Slots int `json:"s"`
	// Version is the gale version.
	Version string `json:"v"`
	// Etcd lists the etcd client URLs the node uses, so that a node that
	// joins with --join and no --etcd can find the cluster's etcd.
	Etcd []string `json:"e,omitempty"`
	// EtcdLost is since when (Unix ms) the node has not renewed its lease
	// in etcd (its renewals fail, or it has not registered yet), 0 while
	// it renews it: a node cut off from etcd alone learns from the others
	// that it is (fence.go).
	EtcdLost int64 `json:"l,omitempty"`
	// Drained is set by a node whose drain (SIGTERM) ended with its tasks
	// moved elsewhere: its acker tasks handed their trees over, so when it
	// leaves, unregistered, its trees were not lost with it.
	Drained bool `json:"d,omitempty"`
}

// Member is a node as gossip sees it.
type Member struct {
	Name       string
	GossipAddr string
	Meta       MemberMeta
}

// MembershipConfig configures gossip.
type MembershipConfig struct {
	// Name is the node name (unique).
	Name string
	// BindAddr is HOST:PORT for gossip (UDP and TCP); port 0 picks one.
	BindAddr string
	// Meta is this node's metadata.
	Meta MemberMeta
	// Key, if set, encrypts and authenticates every gossip message
	// (memberlist's AES-GCM; 16, 24 or 32 bytes): nodes without the same
	// key cannot join, read the metadata (which names the etcd
	// endpoints) or forge it.
	Key []byte
	// Log receives membership events; nil means slog.Default().
	Log *slog.Logger
}

// Membership is this node's view of the cluster through
// hashicorp/memberlist (SWIM gossip). Gossip gives fast suspicion of a
// failed node and carries node metadata; the authoritative liveness is the
// node's leased key in etcd, which the scheduler uses.
//
// Settings (tuned from memberlist's LAN defaults for failover well within
// 5 seconds on a LAN): probe every 500 ms with a 250 ms timeout, suspicion
// multiplier 3 (a failed node in a cluster of 3 to 10 is declared dead
// after about 1.5-2 s), gossip every 100 ms to 3 nodes, full state push
// every 10 s.
type Membership struct {
	ml   *memberlist.Memberlist
	name string
	log  *slog.Logger
	// setMeta orders the changes of this node's metadata (SetMeta,
	// UpdateMeta): each reads what the one before wrote.
	setMeta sync.Mutex

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every membership change
	// members are copies made in the event callbacks, by name: the nodes
	// memberlist.Members returns are its own state, which it changes
	// under its lock while a reader would look at them (a data race).
	members map[string]Member
	// gone are the nodes gossip declared dead or that left, by name,
	// until they are seen again.
	gone map[string]bool
	// drained are those of gone whose last metadata said Drained.
	drained map[string]bool
	stop    sync.Once
	meta    *metaDelegate
}

// StartMembership starts gossip on cfg.BindAddr.
func StartMembership(cfg MembershipConfig) (*Membership, error) {
	host, portStr, err := net.SplitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.BindAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: bad port", cfg.BindAddr)
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("gossip metadata: %w", err)
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip metadata is %d bytes, memberlist allows %d", len(meta), memberlist.MetaMaxSize)
	}
	m := &Membership{name: cfg.Name, log: cfg.Log, changed: make(chan struct{}), members: map[string]Member{}, gone: map[string]bool{}, drained: map[string]bool{}}
	if m.log == nil {
		m.log = slog.Default()
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertisePort = port
	mc.ProbeInterval = 500 * time.Millisecond
	mc.ProbeTimeout = 250 * time.Millisecond
	mc.SuspicionMult = 3
	// A suspicion lasts SuspicionMult x ProbeInterval (1.5 s here) only
	// once enough other members confirm it; otherwise memberlist's default
	// waits up to six times that, 9 s, which in a cluster of two or three
	// is every time: a new leader then waited out its grace for a dead
	// leader (LeaderConfig.Gone), and the dead leader's tasks moved after
	// 7 s instead of 3. Liveness is etcd's lease anyway.
	mc.SuspicionMaxTimeoutMult = 2
	mc.GossipInterval = 100 * time.Millisecond
	mc.GossipNodes = 3
	mc.PushPullInterval = 10 * time.Second
	// A node that dies and comes back under its name at another address
	// (a new port, a new pod IP) was refused for good ("conflicting
	// address"): memberlist lets a dead member's name go to a new address
	// only after this. Names are unique among live nodes through etcd
	// (a second live node of a name cannot register), so a dead one's
	// name may go at once, nearly.
	mc.DeadNodeReclaimTime = 2 * time.Second
	if len(cfg.Key) > 0 {
		// memberlist verifies incoming and encrypts outgoing messages by
		// default once a key is set (GossipVerifyIncoming/Outgoing).
		mc.SecretKey = cfg.Key
	}
	m.meta = &metaDelegate{b: meta, cur: cfg.Meta}
	mc.Delegate = m.meta
	mc.Events = &eventDelegate{m: m}
	mc.Logger = log.New(io.Discard, "", 0) // memberlist's chatter; events are logged below
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	m.ml = ml
	return m, nil
}

// Addr returns the gossip address others join.
func (m *Membership) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.members[m.name].GossipAddr // recorded at Create, when it joined itself
}

// ErrGossipKey is a join refused for a gossip key that differs from the
// other side's (or one side has none): retrying cannot help.
var ErrGossipKey = errors.New("the gossip keys differ")

// Join contacts the given gossip addresses; it succeeds if any answers.
func (m *Membership) Join(addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	n, err := m.ml.Join(addrs)
	if n == 0 {
		if err != nil && (strings.Contains(err.Error(), "decrypt") || strings.Contains(err.Error(), "encryption")) {
			// memberlist says it in its own terms, in a list of errors.
			return fmt.Errorf("join gossip via %v: %w (--gossip-key-file must be the same file on every node, or absent on all): %v", addrs, ErrGossipKey, err)
		}
		return fmt.Errorf("join gossip via %v: %w", addrs, err)
	}
	return nil
}

// Members returns the members gossip has not declared dead (suspects
// included), sorted by name.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	out := make([]Member, 0, len(m.members))
	for _, mb := range m.members {
		out = append(out, mb)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Gone reports whether gossip declared the node dead, or saw it leave,
// and has not seen it since. A node this process's gossip never saw is
// not gone: a node restarted after the others joined it (a seed node)
// may not have heard of them yet. Safe for concurrent use.
func (m *Membership) Gone(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gone[name]
}

// Drained reports whether the node is gone from gossip after saying its
// drain moved all its tasks (MemberMeta.Drained), and has not been seen
// since. Safe for concurrent use.
func (m *Membership) Drained(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drained[name]
}

// record copies what Members reports of n. memberlist calls the event
// delegate with its lock held, so n is stable here.
func (m *Membership) record(n *memberlist.Node) {
	var meta MemberMeta
	_ = json.Unmarshal(n.Meta, &meta) // a bad peer's metadata reads as empty
	mb := Member{Name: n.Name, GossipAddr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Meta: meta}
	m.mu.Lock()
	m.members[n.Name] = mb
	delete(m.gone, n.Name)
	delete(m.drained, n.Name)
	m.mu.Unlock()
}

// Changed returns a channel closed at the next membership change.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *Membership) notify() {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// EtcdEndpoints returns the etcd endpoints the members advertise (see
// chooseEtcd).
func (m *Membership) EtcdEndpoints() []string {
	return chooseEtcd(m.Members())
}

// chooseEtcd picks, of the etcd endpoint lists members advertise, the one
// the most members use, then the longest, then that of the first member
// by name. The first member's list alone was taken before: one node
// started with a single endpoint (--etcd naming one member of three) gave
// that one endpoint to every node that joined without --etcd whenever its
// name sorted first, and all of them lost etcd with that one member while
// the etcd cluster was up. Lists are not merged: a node pointed at another
// etcd cluster by mistake would mix two clusters in one client.
func chooseEtcd(members []Member) []string {
	var best []string
	bestN := 0
	// The same endpoints in another order (--etcd e2,e1) are the same
	// list.
	key := func(eps []string) string { return strings.Join(slices.Sorted(slices.Values(eps)), ",") }
	count := map[string]int{}
	for _, mem := range members {
		if len(mem.Meta.Etcd) > 0 {
			count[key(mem.Meta.Etcd)]++
		}
	}
	for _, mem := range members {
		eps := mem.Meta.Etcd
		if len(eps) == 0 {
			continue
		}
		n := count[key(eps)]
		if best == nil || n > bestN || (n == bestN && len(eps) > len(best)) {
			best, bestN = eps, n
		}
	}
	return best
}

// Leave tells the others this node is leaving, then stops gossip. Safe to
// call twice, and after Shutdown.
func (m *Membership) Leave(timeout time.Duration) error {
	var err error
	m.stop.Do(func() {
		err = m.ml.Leave(timeout)
		if serr := m.ml.Shutdown(); serr != nil && err == nil {
			err = serr
		}
	})
	return err
}

// Shutdown stops gossip without telling anyone, as a crash would: the
// others detect the failure by probing.
func (m *Membership) Shutdown() error {
	var err error
	m.stop.Do(func() { err = m.ml.Shutdown() })
	return err
}

// metaDelegate serves this node's metadata to memberlist.
type metaDelegate struct {
	mu  sync.Mutex
	b   []byte
	cur MemberMeta // what b encodes
}

func (d *metaDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.b) > limit {
		return nil
	}
	return d.b
}
func (*metaDelegate) NotifyMsg([]byte)                {}
func (*metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (*metaDelegate) LocalState(bool) []byte          { return nil }
func (*metaDelegate) MergeRemoteState([]byte, bool)   {}

// UpdateMeta changes this node's metadata with change and gossips it.
func (m *Membership) UpdateMeta(change func(*MemberMeta)) error {
	m.setMeta.Lock()
	defer m.setMeta.Unlock()
	m.meta.mu.Lock()
	meta := m.meta.cur
	m.meta.mu.Unlock()
	meta.Etcd = slices.Clone(meta.Etcd)
	change(&meta)
	return m.setMetaLocked(meta)
}

// SetMeta changes this node's metadata and gossips it.
func (m *Membership) SetMeta(meta MemberMeta) error {
	m.setMeta.Lock()
	defer m.setMeta.Unlock()
	return m.setMetaLocked(meta)
}

// setMetaLocked is SetMeta with m.setMeta held.
func (m *Membership) setMetaLocked(meta MemberMeta) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("gossip metadata: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return fmt.Errorf("gossip metadata is %d bytes, memberlist allows %d", len(b), memberlist.MetaMaxSize)
	}
	m.meta.mu.Lock()
	m.meta.b, m.meta.cur = b, meta
	m.meta.mu.Unlock()
	// UpdateNode takes the new metadata at once and queues its broadcast;
	// it waits (here up to a second) only for the broadcast to go out. On a
	// busy machine it did not, and a node's Start failed on it ("timeout
	// waiting for update broadcast"), though the update goes out with the
	// next gossip round and every push-pull carries it.
	if err := m.ml.UpdateNode(time.Second); err != nil {
		m.log.Debug("gossip metadata not broadcast yet; it goes with the next rounds", "err", err)
	}
	return nil
}

type eventDelegate struct{ m *Membership }

func (e *eventDelegate) NotifyJoin(n *memberlist.Node) {
	e.m.log.Info("gossip: node joined", "member", n.Name, "addr", n.Address())
	e.m.record(n)
	e.m.notify()
}

func (e *eventDelegate) NotifyLeave(n *memberlist.Node) {
	e.m.log.Info("gossip: node left or failed", "member", n.Name, "addr", n.Address())
	e.m.mu.Lock()
	// (memberlist's event gives no way to tell a node that left from a
	// dead one: its Node.State is not kept up to date.)
	if e.m.members[n.Name].Meta.Drained {
		e.m.drained[n.Name] = true
	}
	delete(e.m.members, n.Name)
	e.m.gone[n.Name] = true
	e.m.mu.Unlock()
	e.m.notify()
}

func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) {
	e.m.record(n)
	e.m.notify()
}
