package node

import (
	"context"
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

	mu      sync.Mutex
	senders map[string]*transfer.Sender // by node name
	closed  bool                        // no new senders once the run stops
}

// newRemoteRoutes makes the routes of run runID on node local; dial
// returns a (shared) connection to a node by name.
func newRemoteRoutes(local string, dial func(node string) (*grpc.ClientConn, error), runID string, nodeOf map[int32]string) *remoteRoutes {
	r := &remoteRoutes{local: local, dial: dial, runID: runID, senders: map[string]*transfer.Sender{}}
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
	r.senders[node] = s
	return s, nil
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
	if err != nil {
		return err
	}
	return s.SendTuples(dest, b)
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
	return s.SendAcks(ops, transfer.AckMeta{Backlog: backlog})
}

// ForwardAcks implements Remote.
func (r *remoteRoutes) ForwardAcks(dest int32, ops []router.AckOp) error {
	s, err := r.senderFor(dest)
	if err != nil {
		return err
	}
	return s.SendAcks(ops, transfer.AckMeta{Forwarded: true})
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
		if err != nil && first == nil {
			first = err
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

// connTo returns a shared connection to a node's gRPC address, found
// through gossip (or etcd when gossip does not know it yet).
func (p *Peer) connTo(node string) (*grpc.ClientConn, error) {
	addr := ""
	for _, m := range p.gossip.Members() {
		if m.Name == node {
			addr = m.Meta.GRPCAddr
		}
	}
	if addr == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		nodes, _, err := p.store.Nodes(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: find node %s: %v", transfer.ErrUnavailable, node, err)
		}
		for _, n := range nodes {
			if n.GetName() == node {
				addr = n.GetGrpcAddr()
			}
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("%w: node %s is not known", transfer.ErrUnavailable, node)
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
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
