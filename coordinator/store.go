package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Key layout in etcd.
const (
	keyPrefix         = "/gale/v1/"
	topologiesPrefix  = keyPrefix + "topologies/"
	assignmentsPrefix = keyPrefix + "assignments/"
	nodesPrefix       = keyPrefix + "nodes/"
	// incarnationsPrefix holds, beside each node key and under the same
	// lease, the incarnation id of the process that registered it.
	incarnationsPrefix = keyPrefix + "incarnations/"
	finishedPrefix     = keyPrefix + "finished/"
	failingPrefix      = keyPrefix + "failing/"
	electionPrefix     = keyPrefix + "leader"
)

// Errors of the coordinator: store, leader and scheduler.
var (
	// ErrNotFound means the topology or node does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a topology of that name exists already.
	ErrExists = errors.New("already exists")
	// ErrNotLeader means a fenced write failed: this node is no longer the
	// leader it campaigned as.
	ErrNotLeader = errors.New("not the leader")
	// ErrConflict means a record changed under a read-modify-write too
	// many times in a row.
	ErrConflict = errors.New("concurrent update")
	// ErrNameTaken means another live node uses that node name.
	ErrNameTaken = errors.New("already used by another live node")
	// ErrFinished means the topology ran to its end; it cannot be
	// activated or deactivated (a rebalance runs it again).
	ErrFinished = errors.New("topology finished")
	// ErrBeingKilled means a kill of the topology is under way (its
	// spouts deactivated, its removal due): it cannot be activated,
	// deactivated or rebalanced any more.
	ErrBeingKilled = errors.New("topology is being killed")
	// ErrNoNodes means there is no live node to assign tasks to.
	ErrNoNodes = errors.New("no live nodes to schedule on")
	// ErrBadSlots means a node cannot be scheduled on: its Slots is below
	// 1, its name is empty or repeated, or the slots of all nodes add up
	// to 2^64 or more. The error names the node.
	ErrBadSlots = errors.New("invalid node slots")
)

// Store reads and writes Gale's state in etcd. It is safe for concurrent
// use.
type Store struct {
	c *clientv3.Client
}

// NewStore wraps an etcd client.
func NewStore(c *clientv3.Client) *Store { return &Store{c: c} }

// Client returns the etcd client.
func (s *Store) Client() *clientv3.Client { return s.c }

func marshal(m proto.Message) string {
	b, err := proto.Marshal(m)
	if err != nil {
		// Marshalling our own well-formed messages cannot fail; a failure
		// here is a programming error in this package.
		panic(fmt.Sprintf("coordinator: marshal %T: %v", m, err))
	}
	return string(b)
}

// CreateTopology stores a new topology record; ErrExists if the name is
// taken.
func (s *Store) CreateTopology(ctx context.Context, rec *galev1.TopologyRecord) error {
	name := rec.GetSpec().GetName()
	key := topologiesPrefix + name
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, marshal(rec))).
		Commit()
	if err != nil {
		return fmt.Errorf("store topology %s: %w", name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("topology %s: %w", name, ErrExists)
	}
	return nil
}

// Topology reads one topology record.
func (s *Store) Topology(ctx context.Context, name string) (*galev1.TopologyRecord, error) {
	rec, _, err := s.topology(ctx, name)
	return rec, err
}

func (s *Store) topology(ctx context.Context, name string) (*galev1.TopologyRecord, int64, error) {
	resp, err := s.c.Get(ctx, topologiesPrefix+name)
	if err != nil {
		return nil, 0, fmt.Errorf("read topology %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("topology %s: %w", name, ErrNotFound)
	}
	rec := &galev1.TopologyRecord{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, rec); err != nil {
		return nil, 0, fmt.Errorf("decode topology %s: %w", name, err)
	}
	return rec, resp.Kvs[0].ModRevision, nil
}

// Topologies reads every topology record, sorted by name, and the etcd
// revision they were read at.
func (s *Store) Topologies(ctx context.Context) ([]*galev1.TopologyRecord, int64, error) {
	resp, err := s.c.Get(ctx, topologiesPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("list topologies: %w", err)
	}
	out := make([]*galev1.TopologyRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec := &galev1.TopologyRecord{}
		if err := proto.Unmarshal(kv.Value, rec); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, rec)
	}
	return out, resp.Header.Revision, nil
}

// UpdateTopology applies f to the stored record and writes it back if it
// did not change meanwhile, retrying a few times on conflict.
func (s *Store) UpdateTopology(ctx context.Context, name string, f func(*galev1.TopologyRecord) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		rec, rev, err := s.topology(ctx, name)
		if err != nil {
			return err
		}
		if err := f(rec); err != nil {
			return err
		}
		key := topologiesPrefix + name
		resp, err := s.c.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, marshal(rec))).
			Commit()
		if err != nil {
			return fmt.Errorf("update topology %s: %w", name, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("update topology %s: %w", name, ErrConflict)
}

// DeleteTopology removes a topology record, its assignment, its
// finished-task reports and its failing runs.
func (s *Store) DeleteTopology(ctx context.Context, name string) error {
	resp, err := s.c.Txn(ctx).Then(
		clientv3.OpDelete(topologiesPrefix+name),
		clientv3.OpDelete(assignmentsPrefix+name),
		clientv3.OpDelete(finishedPrefix+name+"/", clientv3.WithPrefix()),
		clientv3.OpDelete(failingPrefix+name+"/", clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("delete topology %s: %w", name, err)
	}
	if resp.Responses[0].GetResponseDeleteRange().GetDeleted() == 0 {
		return fmt.Errorf("topology %s: %w", name, ErrNotFound)
	}
	return nil
}

// Assignments reads every assignment, by topology name.
func (s *Store) Assignments(ctx context.Context) (map[string]*galev1.Assignment, int64, error) {
	resp, err := s.c.Get(ctx, assignmentsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list assignments: %w", err)
	}
	out := make(map[string]*galev1.Assignment, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		a := &galev1.Assignment{}
		if err := proto.Unmarshal(kv.Value, a); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(string(kv.Key), assignmentsPrefix)] = a
	}
	return out, resp.Header.Revision, nil
}

// ReportFinished records that tasks of run topologyID of topology name
// finished on node, adding them to what the node reported for that run
// before (a report for another run is replaced). Only the node writes its
// report, so a plain read-modify-write is enough. The report outlives the
// node (no lease): a finished task has finished, wherever it ran.
func (s *Store) ReportFinished(ctx context.Context, name, node, topologyID string, tasks []int32) error {
	key := finishedPrefix + name + "/" + node
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read finished tasks of %s on %s: %w", name, node, err)
	}
	rep := &galev1.FinishedTasks{TopologyId: topologyID, Node: node}
	seen := map[int32]bool{}
	if len(resp.Kvs) > 0 {
		old := &galev1.FinishedTasks{}
		if err := proto.Unmarshal(resp.Kvs[0].Value, old); err == nil && old.GetTopologyId() == topologyID {
			for _, t := range old.GetTasks() {
				seen[t] = true
			}
			rep.Tasks = old.GetTasks()
		}
	}
	for _, t := range tasks {
		if !seen[t] {
			seen[t] = true
			rep.Tasks = append(rep.Tasks, t)
		}
	}
	if _, err := s.c.Put(ctx, key, marshal(rep)); err != nil {
		return fmt.Errorf("report finished tasks of %s on %s: %w", name, node, err)
	}
	return nil
}

// FinishedReports reads every node's finished-task reports, by topology
// name.
func (s *Store) FinishedReports(ctx context.Context) (map[string][]*galev1.FinishedTasks, error) {
	resp, err := s.c.Get(ctx, finishedPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list finished tasks: %w", err)
	}
	out := map[string][]*galev1.FinishedTasks{}
	for _, kv := range resp.Kvs {
		rep := &galev1.FinishedTasks{}
		if err := proto.Unmarshal(kv.Value, rep); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), finishedPrefix), "/")
		out[name] = append(out[name], rep)
	}
	return out, nil
}

// ReportFailingRun records that a node's run of topology name failed (run
// says how, with its topology_id and node), under the node's lease: it
// goes when the node does. gale list shows the topology as failing on that
// node until ClearFailingRun.
func (s *Store) ReportFailingRun(ctx context.Context, name string, run *galev1.NodeRun, lease clientv3.LeaseID) error {
	if _, err := s.c.Put(ctx, failingPrefix+name+"/"+run.GetNode(), marshal(run), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("report the failing run of %s on %s: %w", name, run.GetNode(), err)
	}
	return nil
}

// ClearFailingRun says that node's run of name is not failing any more
// (it ran a minute, or stopped).
func (s *Store) ClearFailingRun(ctx context.Context, name, node string) error {
	if _, err := s.c.Delete(ctx, failingPrefix+name+"/"+node); err != nil {
		return fmt.Errorf("clear the failing run of %s on %s: %w", name, node, err)
	}
	return nil
}

// FailingRuns reads the failing runs the nodes reported, by topology name.
// A value it cannot decode is left out: the report is a hint for gale
// list, not state anything depends on.
func (s *Store) FailingRuns(ctx context.Context) (map[string][]*galev1.NodeRun, error) {
	resp, err := s.c.Get(ctx, failingPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list failing runs: %w", err)
	}
	out := map[string][]*galev1.NodeRun{}
	for _, kv := range resp.Kvs {
		run := &galev1.NodeRun{}
		if err := proto.Unmarshal(kv.Value, run); err != nil {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), failingPrefix), "/")
		out[name] = append(out[name], run)
	}
	return out, nil
}

// RegisterNode writes a node's info under its lease: the key disappears
// when the lease expires, which is how the cluster learns a node is gone.
//
// incarnation identifies the process (a random id it makes when it
// starts) and is written beside the node key, under the same lease, in
// the same transaction. The key is written when the name is free, when it
// is held under lease already, or when it is held under another lease by
// the same incarnation: a process that lost its lease (its etcd was
// unreachable for longer than the TTL, or restarted) takes its own key
// over under a new lease at once, in one transaction, instead of waiting
// for its old lease to expire. A name held by another process (another
// incarnation, or none) under a live lease is refused with ErrNameTaken,
// so two processes cannot run as one node. An empty incarnation is never
// matched.
func (s *Store) RegisterNode(ctx context.Context, info *galev1.NodeInfo, lease clientv3.LeaseID, incarnation string) error {
	key := nodesPrefix + info.GetName()
	incKey := incarnationsPrefix + info.GetName()
	puts := []clientv3.Op{clientv3.OpPut(key, marshal(info), clientv3.WithLease(lease))}
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(key), "=", 0), // a new name
		clientv3.Compare(clientv3.LeaseValue(key), "=", lease), // our own key
	}
	if incarnation != "" {
		puts = append(puts, clientv3.OpPut(incKey, incarnation, clientv3.WithLease(lease)))
		// Our own key under a lease we lost. A missing incarnation key
		// (a node of an older Gale) never compares equal.
		cmps = append(cmps, clientv3.Compare(clientv3.Value(incKey), "=", incarnation))
	}
	for _, cmp := range cmps {
		resp, err := s.c.Txn(ctx).If(cmp).Then(puts...).Commit()
		if err != nil {
			return fmt.Errorf("register node %s: %w", info.GetName(), err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("node name %s: %w", info.GetName(), ErrNameTaken)
}

// IncarnationPut reports whether ev (from Watch) writes the incarnation of
// a node that registers, and which node and incarnation. A node name
// whose incarnation changes was registered again by another process: the
// one before is gone, with whatever its tasks held in memory.
func IncarnationPut(ev *clientv3.Event) (node, incarnation string, ok bool) {
	if ev == nil || ev.Type != clientv3.EventTypePut || ev.Kv == nil {
		return "", "", false
	}
	node, ok = strings.CutPrefix(string(ev.Kv.Key), incarnationsPrefix)
	if !ok || node == "" {
		return "", "", false
	}
	return node, string(ev.Kv.Value), true
}

// Incarnations reads the incarnation of every registered node's process,
// by node name (see RegisterNode).
func (s *Store) Incarnations(ctx context.Context) (map[string]string, error) {
	resp, err := s.c.Get(ctx, incarnationsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list node incarnations: %w", err)
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), incarnationsPrefix)] = string(kv.Value)
	}
	return out, nil
}

// Nodes reads the live nodes, sorted by name.
func (s *Store) Nodes(ctx context.Context) ([]*galev1.NodeInfo, int64, error) {
	resp, err := s.c.Get(ctx, nodesPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("list nodes: %w", err)
	}
	out := make([]*galev1.NodeInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n := &galev1.NodeInfo{}
		if err := proto.Unmarshal(kv.Value, n); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	return out, resp.Header.Revision, nil
}

// Watch watches every key of Gale's state (topologies, assignments, nodes)
// from the current revision on.
func (s *Store) Watch(ctx context.Context) clientv3.WatchChan {
	return s.c.Watch(ctx, keyPrefix, clientv3.WithPrefix())
}
