package node

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/gale-stream/gale/coordinator"
	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
)

// remoteRoutes is a run's Remote on a node: it finds the node of a task in
// the current assignment and sends over that node's Transfer stream. The
// task-to-node map is swapped atomically when the assignment changes
// without changing this node's own tasks.
type remoteRoutes struct {
	local  string // this node's name
	dial   func(node string) (*grpc.ClientConn, error)
	runID  string
	rt     *Runtime
	nodeOf atomic.Pointer[map[int32]string]

	// redial, when set, finds a node's current address afresh (etcd
	// first): a node that came back at another address is reached there
	// (nodeSender.recheck).
	redial func(node string) (*grpc.ClientConn, error)

	mu      sync.Mutex
	senders map[string]*transfer.Sender // by node name
	conns   map[string]*grpc.ClientConn // the connection of each sender
	checked map[string]int64            // Nanotime of each node's last recheck
	closed  bool                        // no new senders once the run stops
}

// recheckEvery bounds how often sends that fail make a run look a node's
// address up afresh.
const recheckEvery = int64(time.Second)

// newRemoteRoutes makes the routes of run runID on node local; dial
// returns a (shared) connection to a node by name.
func newRemoteRoutes(local string, dial func(node string) (*grpc.ClientConn, error), runID string, nodeOf map[int32]string) *remoteRoutes {
	r := &remoteRoutes{local: local, dial: dial, runID: runID, senders: map[string]*transfer.Sender{},
		conns: map[string]*grpc.ClientConn{}, checked: map[string]int64{}}
	r.nodeOf.Store(&nodeOf)
	return r
}

func (r *remoteRoutes) senderFor(task int32) (*transfer.Sender, error) {
	node := (*r.nodeOf.Load())[task]
	if node == "" {
		return nil, fmt.Errorf("%w: task %d is not assigned", transfer.ErrUnavailable, task)
	}
	r.mu.Lock()
	s, closed := r.senders[node], r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("%w: the run is stopping", transfer.ErrUnavailable)
	case s != nil:
		return s, nil
	}
	// Finding a node's address may ask etcd: not under the lock, which
	// every task's sends take.
	conn, err := r.dial(node)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("%w: the run is stopping", transfer.ErrUnavailable)
	}
	if s := r.senders[node]; s != nil {
		return s, nil
	}
	s = transfer.NewSender(conn, r.local, r.runID, r.window(), r.rejected)
	r.senders[node], r.conns[node] = s, conn
	return s, nil
}

// recheck runs after a send to task's node failed as unavailable: at most
// once a second per node, it looks the node's address up afresh, and if
// the node is now elsewhere (it came back at another address), it replaces
// the node's sender with one on the new connection, which owes the old
// one's end-of-input markers. Without it a run kept dialling the address
// the node had when the run first sent to it, for as long as the run
// lasted, and every tuple for the node's tasks failed. The look-up (etcd,
// up to 2 s) runs on a goroutine of its own: not on the sending task's.
func (r *remoteRoutes) recheck(task int32, sendErr error) {
	if r.redial == nil || !errors.Is(sendErr, transfer.ErrUnavailable) {
		return
	}
	node := (*r.nodeOf.Load())[task]
	if node == "" {
		return
	}
	now := router.Nanotime()
	r.mu.Lock()
	if now-r.checked[node] < recheckEvery || r.closed {
		r.mu.Unlock()
		return
	}
	r.checked[node] = now
	r.mu.Unlock()
	go r.moveSender(node)
}

// moveSender is recheck's look-up and swap.
func (r *remoteRoutes) moveSender(node string) {
	conn, err := r.redial(node)
	if err != nil {
		return
	}
	r.mu.Lock()
	old := r.senders[node]
	if r.closed || old == nil || r.conns[node] == conn {
		r.mu.Unlock()
		return
	}
	s := transfer.NewSender(conn, r.local, r.runID, r.window(), r.rejected)
	r.senders[node] = s
	r.conns[node] = conn
	r.mu.Unlock()
	old.Abort() // its frames in flight fail, and their trees replay
	s.AdoptMarkers(old.Markers())
}

// window is the credit per destination task (Settings.CreditWindow and
// CreditWindowBytes).
func (r *remoteRoutes) window() transfer.Window {
	s := DefaultSettings()
	if r.rt != nil {
		s = r.rt.settings
	}
	return transfer.Window{Tuples: s.CreditWindow(), Bytes: s.CreditWindowBytes()}
}

// SendTuples implements Remote.
func (r *remoteRoutes) SendTuples(dest int32, b *router.Batch) error {
	s, err := r.senderFor(dest)
	if err == nil {
		err = s.SendTuples(dest, b)
	}
	if err != nil {
		r.recheck(dest, err)
	}
	return err
}

// SendAcks implements Remote.
func (r *remoteRoutes) SendAcks(dest int32, ops []router.AckOp) error {
	s, err := r.senderFor(dest)
	if err != nil {
		return err
	}
	var backlog time.Duration
	if rt := r.rt; rt != nil {
		backlog = time.Duration(rt.localBacklog(router.Nanotime()))
	}
	if err := s.SendAcks(ops, transfer.AckMeta{Backlog: backlog}); err != nil {
		r.recheck(dest, err)
		return err
	}
	return nil
}

// SendBacklog tells every other node of the run the age of the oldest
// work waiting on this one (an acks frame with no operations), for the
// timeouts of its ackers and the sweeps of its spouts (backlogReporter).
func (r *remoteRoutes) SendBacklog(backlog time.Duration) {
	sent := map[string]bool{r.local: true}
	for task, node := range *r.nodeOf.Load() {
		if sent[node] {
			continue
		}
		sent[node] = true
		if s, err := r.senderFor(task); err == nil {
			_ = s.SendAcks(nil, transfer.AckMeta{Backlog: backlog})
		}
	}
}

// ForwardAcks implements Remote.
func (r *remoteRoutes) ForwardAcks(dest int32, ops []router.AckOp) error {
	s, err := r.senderFor(dest)
	if err == nil {
		err = s.SendAcks(ops, transfer.AckMeta{Forwarded: true})
	}
	if err != nil {
		r.recheck(dest, err)
	}
	return err
}

// SendEndOfInput implements Remote: one frame per node.
func (r *remoteRoutes) SendEndOfInput(from int32, to []int32) error {
	byNode := map[string][]int32{}
	nodes := *r.nodeOf.Load()
	for _, t := range to {
		byNode[nodes[t]] = append(byNode[nodes[t]], t)
	}
	var first error
	for _, tasks := range byNode {
		s, err := r.senderFor(tasks[0])
		if err == nil {
			err = s.SendEndOfInput(from, tasks)
		}
		if err != nil {
			r.recheck(tasks[0], err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// rejected fails the trees of tuples a node refused because it does not
// run their task (the assignment moved it): they replay at once instead of
// timing out.
func (r *remoteRoutes) rejected(m *galev1.TaskMoved) {
	if rt := r.rt; rt != nil {
		rt.failTrees(m.GetRoots())
	}
}

// forget closes and drops the senders to nodes not in keep (nodes that
// left the cluster: Peer.pruneConns keeps every node that runs some of
// the run's tasks).
func (r *remoteRoutes) forget(keep map[string]bool) {
	var gone []*transfer.Sender
	r.mu.Lock()
	for node, s := range r.senders {
		if !keep[node] {
			gone = append(gone, s)
			delete(r.senders, node)
			delete(r.conns, node)
			delete(r.checked, node)
		}
	}
	r.mu.Unlock()
	for _, s := range gone {
		go s.Close()
	}
}

// abort breaks every stream at once, without waiting for blocked sends.
func (r *remoteRoutes) abort() {
	r.mu.Lock()
	r.closed = true
	senders := make([]*transfer.Sender, 0, len(r.senders))
	for _, s := range r.senders {
		senders = append(senders, s)
	}
	r.mu.Unlock()
	for _, s := range senders {
		s.Abort()
	}
}

func (r *remoteRoutes) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, s := range r.senders {
		s.Close()
	}
}

// nodeAddr is the address a node's connections use, and when etcd last
// confirmed it in a fresh look-up (0: gossip's word, or etcd's at an
// ordinary look-up).
type nodeAddr struct {
	addr      string
	confirmed int64
}

// addrConfirmedFor is how long etcd's answer beats gossip's: by then a
// node that moved has gossiped its new address.
const addrConfirmedFor = 30 * time.Second

// connTo returns a shared connection to a node's gRPC address, found
// through gossip (or etcd when gossip does not know it yet).
func (p *Peer) connTo(node string) (*grpc.ClientConn, error) { return p.connToNode(node, false) }

// freshConnTo is connTo with the address looked up in etcd first, where a
// node that came back at another address registered it (gossip may still
// hold the old one, or not know the node at all after a split).
func (p *Peer) freshConnTo(node string) (*grpc.ClientConn, error) { return p.connToNode(node, true) }

func (p *Peer) connToNode(node string, fresh bool) (*grpc.ClientConn, error) {
	fromGossip := func() string {
		addr := ""
		for _, m := range p.gossip.Members() {
			if m.Name == node {
				addr = m.Meta.GRPCAddr
			}
		}
		return addr
	}
	addr, fromEtcd := "", false
	if !fresh {
		// etcd's answer to a recent fresh look-up beats gossip, which
		// may still hold the address a node had before it moved.
		p.connMu.Lock()
		if a := p.addrOf[node]; a.confirmed != 0 && time.Since(time.Unix(0, a.confirmed)) < addrConfirmedFor {
			addr = a.addr
		}
		p.connMu.Unlock()
		if addr == "" {
			addr = fromGossip()
		}
	}
	if addr == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		nodes, _, err := p.store.Nodes(ctx)
		cancel()
		if err != nil && !fresh {
			return nil, fmt.Errorf("%w: find node %s: %v", transfer.ErrUnavailable, node, err)
		}
		for _, n := range nodes {
			if n.GetName() == node {
				addr, fromEtcd = n.GetGrpcAddr(), true
			}
		}
		if addr == "" && fresh {
			addr = fromGossip()
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("%w: node %s is not known", transfer.ErrUnavailable, node)
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
	old := p.addrOf[node]
	if old.addr != "" && old.addr != addr {
		// The node moved: nothing should dial its old address again
		// (each run's senders there fail, recheck and move too).
		if c := p.conns[old.addr]; c != nil {
			delete(p.conns, old.addr)
			go c.Close()
		}
	}
	next := nodeAddr{addr: addr}
	if fresh && fromEtcd {
		next.confirmed = time.Now().UnixNano()
	} else if old.addr == addr {
		next.confirmed = old.confirmed
	}
	p.addrOf[node] = next
	if c := p.conns[addr]; c != nil {
		return c, nil
	}
	var (
		c    *grpc.ClientConn
		err  error
		made = make(chan struct{})
	)
	go func() {
		defer close(made)
		// The connection's goroutines inherit the profiler labels of the
		// goroutine that makes and first uses it: not those of the task
		// that happened to send first, since they carry every run's
		// traffic to that node.
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("transfer-to", node)))
		if c, err = grpc.NewClient(addr, coordinator.DialOptions(p.sec)...); err == nil {
			c.Connect()
		}
	}()
	<-made
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s at %s: %v", transfer.ErrUnavailable, node, addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

var _ Remote = (*remoteRoutes)(nil)
