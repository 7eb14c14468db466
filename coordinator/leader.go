package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/spec"
)

// LeaderConfig configures a node's part in leader election.
type LeaderConfig struct {
	// Name is this node's name, the election's value.
	Name string
	// SessionTTL is the election session's lease TTL: how long a dead
	// leader keeps the leadership. Whole seconds, at least 1.
	SessionTTL time.Duration
	// Resync is how often the leader reconciles even without a change
	// (a safety net against missed watch events).
	Resync time.Duration
	// RegisterGrace is how long after its election the leader waits for
	// a node that holds tasks and is not registered to register (again)
	// before it moves the node's tasks: right after an election, which
	// follows any etcd outage or restart, nodes may be re-registering
	// (their leases lost while etcd was away), and the assignment it
	// would compute from a part of the cluster would move every task of
	// the others. Meanwhile it changes no assignment. A node that Gone
	// reports gone is not waited for. 0 waits for none.
	RegisterGrace time.Duration
	// Gone, if set, reports whether a faster, non-authoritative signal
	// (gossip) has declared the node failed or gone, so that the tasks of
	// a node that really died move at once, even within RegisterGrace.
	// It is called from the leader's goroutine and must be safe for
	// concurrent use. nil: no node is known to be gone, and every
	// unregistered node with tasks is waited for during the grace.
	Gone func(node string) bool
	// Log receives the leader's log; nil means slog.Default().
	Log *slog.Logger
}

// DefaultLeaderConfig returns settings tuned for failover within a few
// seconds: a 2 s session TTL (etcd's lease granularity is a second), a
// 10 s resync, and a 5 s grace after an election for nodes to register
// again (a node whose lease was lost registers as soon as etcd answers;
// one restarted at once waits out its old key, a lease TTL of 3 s).
func DefaultLeaderConfig(name string) LeaderConfig {
	return LeaderConfig{Name: name, SessionTTL: 2 * time.Second, Resync: 10 * time.Second, RegisterGrace: 5 * time.Second}
}

// Validate names the first bad field.
func (c LeaderConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("leader config: Name is empty")
	case c.SessionTTL < time.Second:
		return fmt.Errorf("leader config: SessionTTL %v is below etcd's 1s lease granularity", c.SessionTTL)
	case c.Resync <= 0:
		return fmt.Errorf("leader config: Resync %v must be positive", c.Resync)
	case c.RegisterGrace < 0:
		return fmt.Errorf("leader config: RegisterGrace %v is negative", c.RegisterGrace)
	}
	return nil
}

// Leader campaigns for leadership and, while elected, reconciles desired
// state (topologies, live nodes) into assignments.
type Leader struct {
	cfg    LeaderConfig
	store  *Store
	log    *slog.Logger
	leader atomic.Bool
	// reconciles counts completed reconciliations (tests, status).
	reconciles atomic.Int64
	// nextKill is when the earliest kill under way is due (Unix ns; 0:
	// none), for the leader to finish it if its node does not.
	nextKill atomic.Int64
	// electedAt is when this node last won the election (Unix ns; 0:
	// never), the start of its RegisterGrace.
	electedAt atomic.Int64
	// recheck is when a reconcile that waits for nodes to register looks
	// again (Unix ns; 0: none).
	recheck atomic.Int64
	// waitingFor names the nodes the last reconcile waited for, so that
	// a wait is logged once.
	waitingFor string
}

// NewLeader makes a Leader; Run starts it.
func NewLeader(store *Store, cfg LeaderConfig) (*Leader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Leader{cfg: cfg, store: store, log: cfg.Log}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("node", cfg.Name)
	return l, nil
}

// IsLeader reports whether this node leads right now.
func (l *Leader) IsLeader() bool { return l.leader.Load() }

// Reconciles returns how many reconciliations this node completed as
// leader.
func (l *Leader) Reconciles() int64 { return l.reconciles.Load() }

// CurrentLeader returns the name of the elected leader, if any.
func (l *Leader) CurrentLeader(ctx context.Context) (string, error) {
	resp, err := l.store.c.Get(ctx, electionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("read leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Run campaigns until ctx ends. While elected it reconciles on every change
// of topologies or nodes and every Resync; when its session is lost (the
// node stalled past the TTL, or etcd was unreachable) it stops acting as
// leader at once and campaigns again.
func (l *Leader) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		led, err := l.term(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil && led:
			l.log.Warn("leadership term ended", "err", err)
		case err != nil:
			// A follower's campaign that ended (its session lapsed in a
			// stall or an etcd outage) is no lost leadership.
			l.log.Info("campaign ended; campaigning again", "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	return nil
}

// term is one campaign and, if won (led), one period of leadership.
func (l *Leader) term(ctx context.Context) (led bool, _ error) {
	sess, err := concurrency.NewSession(l.store.c, concurrency.WithTTL(int(l.cfg.SessionTTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("open election session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, electionPrefix)
	// A campaign waits for the candidates before it to go; if this
	// session's lease expires meanwhile (the node stalled past the TTL on
	// a loaded machine, or etcd was away), its candidacy key is gone and
	// the wait would go on for ever: this node would never lead again,
	// and say nothing. The campaign ends with the session, and Run starts
	// another with a new one.
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-sess.Done():
			stop()
		case <-cctx.Done():
		}
	}()
	if err := el.Campaign(cctx, l.cfg.Name); err != nil {
		select {
		case <-sess.Done():
			return false, errors.New("campaign: the election session's lease expired (the node stalled past its TTL, or etcd was unreachable)")
		default:
		}
		return false, fmt.Errorf("campaign: %w", err)
	}
	select {
	case <-sess.Done(): // elected by a key that is gone: not the leader
		return false, errors.New("campaign: the election session's lease expired as the campaign ended")
	default:
	}
	l.electedAt.Store(time.Now().UnixNano())
	l.leader.Store(true)
	defer l.leader.Store(false)
	l.log.Info("elected leader")
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = el.Resign(rctx) // best effort: the lease expiry resigns anyway
	}()
	return true, l.lead(ctx, sess, el)
}

func (l *Leader) lead(ctx context.Context, sess *concurrency.Session, el *concurrency.Election) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Reconciles end with the session: etcd's client retries a read that
	// etcd cannot serve (its cluster lost its quorum, or etcd is down)
	// for as long as its context lasts, and a leader caught in one went on
	// leading in its own eyes for the whole outage (its session expired
	// unseen, until etcd came back).
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() {
		select {
		case <-sess.Done():
			rcancel()
		case <-rctx.Done():
		}
	}()
	watch := l.store.c.Watch(wctx, keyPrefix, clientv3.WithPrefix())
	resync := time.NewTicker(l.cfg.Resync)
	defer resync.Stop()
	killDue := time.NewTimer(time.Hour)
	defer killDue.Stop()
	// A failed reconcile is retried after a backoff: the change that
	// caused it has been consumed, and the kill deadline it did not
	// refresh may already be past.
	var retry time.Duration
	for {
		if err := l.Reconcile(rctx, el); err != nil {
			if errors.Is(err, ErrNotLeader) {
				return err
			}
			if ctx.Err() != nil {
				return nil // stopping: the reconcile was cut short, not failed
			}
			select {
			case <-sess.Done():
				return errors.New("election session expired")
			default:
			}
			retry = min(max(2*retry, reconcileRetryMin), reconcileRetryMax)
			l.log.Warn("reconcile failed; will retry", "err", err, "in", retry)
		} else {
			retry = 0
		}
		if err := l.waitForChange(ctx, sess, watch, resync.C, killDue, retry); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// The backoff of a failed reconcile's retries.
const (
	reconcileRetryMin = 100 * time.Millisecond
	reconcileRetryMax = 2 * time.Second
)

// waitForChange returns when the leader has something to reconcile: a
// change of desired state, membership or finished tasks, a resync tick,
// a kill under way falling due, or, after a failed reconcile (retry > 0),
// its retry. Watch events of nothing but assignments or the election (the
// leader's own writes) are consumed without waking it, so an idle leader
// stays idle.
func (l *Leader) waitForChange(ctx context.Context, sess *concurrency.Session, watch clientv3.WatchChan, resync <-chan time.Time, killDue *time.Timer, retry time.Duration) error {
	killDue.Stop()
	next := l.nextKill.Load()
	if r := l.recheck.Load(); r != 0 && (next == 0 || r < next) {
		next = r
	}
	switch {
	case retry > 0:
		// The retry comes first; it reconciles any kill due meanwhile.
		killDue.Reset(retry)
	case next != 0:
		// Wake when a kill under way is due, in case its node is gone,
		// or when a wait for nodes to register looks again.
		killDue.Reset(time.Until(time.Unix(0, next)))
	}
	for {
		select {
		case <-killDue.C:
			return nil
		case <-sess.Done():
			return errors.New("election session expired")
		case <-ctx.Done():
			return nil
		case <-resync:
			return nil
		case wr, ok := <-watch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			if relevant(wr) {
				return nil
			}
		}
	}
}

// schedulable reports whether a registered node takes tasks: not one that
// is leaving (draining: its tasks move elsewhere).
func schedulable(n *galev1.NodeInfo) bool {
	return n.GetState() != galev1.NodeState_NODE_STATE_LEAVING
}

// relevant reports whether a watch response touches desired state,
// membership or the finished tasks (not just assignments or the
// election).
func relevant(wr clientv3.WatchResponse) bool {
	for _, ev := range wr.Events {
		k := string(ev.Kv.Key)
		if strings.HasPrefix(k, topologiesPrefix) || strings.HasPrefix(k, nodesPrefix) || strings.HasPrefix(k, finishedPrefix) {
			return true
		}
	}
	return false
}

// Reconcile computes assignments for every live topology over the live
// nodes and writes those that changed, fenced by el. It returns
// ErrNotLeader when el no longer holds the leadership.
func (l *Leader) Reconcile(ctx context.Context, el *concurrency.Election) error {
	topos, _, err := l.store.Topologies(ctx)
	if err != nil {
		return err
	}
	nodes, _, err := l.store.Nodes(ctx)
	if err != nil {
		return err
	}
	current, _, err := l.store.Assignments(ctx)
	if err != nil {
		return err
	}
	reports, err := l.store.FinishedReports(ctx)
	if err != nil {
		return err
	}
	var slots []NodeSlots
	for _, n := range nodes {
		if schedulable(n) {
			slots = append(slots, NodeSlots{Name: n.GetName(), Slots: max(int(n.GetSlots()), 1)})
		}
	}
	live := map[string]*galev1.TopologyRecord{}
	var tasks []TaskRef
	prev := map[TaskRef]string{}
	var ops []clientv3.Op
	recorded := map[string]bool{}
	finished := map[string]bool{}
	now := time.Now()
	var nextKill time.Time
	for _, rec := range topos {
		name := rec.GetSpec().GetName()
		recorded[name] = true
		state := rec.GetState()
		if ms := rec.GetKillAtUnixMillis(); ms != 0 && state != galev1.TopologyState_TOPOLOGY_STATE_KILLED {
			// A kill under way: the node that took it marks the topology
			// killed when its wait ends; if that node died meanwhile, the
			// leader does it.
			if due := time.UnixMilli(ms).Add(killGrace); !now.Before(due) {
				l.log.Info("finishing a kill whose node did not", "topology", name)
				state = galev1.TopologyState_TOPOLOGY_STATE_KILLED
			} else if nextKill.IsZero() || due.Before(nextKill) {
				nextKill = due
			}
		}
		switch state {
		case galev1.TopologyState_TOPOLOGY_STATE_KILLED:
			// Removing the assignment stops the tasks on every node;
			// removing the record frees the name.
			ops = append(ops, clientv3.OpDelete(topologiesPrefix+name),
				clientv3.OpDelete(finishedPrefix+name+"/", clientv3.WithPrefix()),
				clientv3.OpDelete(failingPrefix+name+"/", clientv3.WithPrefix()))
			continue
		case galev1.TopologyState_TOPOLOGY_STATE_FINISHED:
			// Nothing runs any more, wherever nodes come or go: nodes run
			// no task of a finished topology, and its last assignment
			// stays as it is, a record of where the tasks ran (status
			// shows it and gathers the final counters from those nodes).
			finished[name] = true
			continue
		}
		ts, err := spec.Tasks(rec.GetSpec())
		if err != nil {
			l.log.Error("topology cannot be scheduled", "topology", name, "err", err)
			continue
		}
		if allFinished(rec.GetId(), ts, reports[name]) {
			done, err := l.finish(ctx, el, name, rec.GetId())
			if err != nil {
				return err
			}
			if done {
				finished[name] = true
				continue
			}
		}
		live[name] = rec
		for _, t := range ts {
			tasks = append(tasks, TaskRef{Topology: name, Task: t.ID})
		}
		if a := current[name]; a.GetTopologyId() == rec.GetId() {
			for task, node := range a.GetTasks() {
				prev[TaskRef{Topology: name, Task: task}] = node
			}
		}
	}
	held, recheck := l.held(nodes, prev, now)
	l.recheck.Store(recheck)
	if len(held) > 0 {
		if w := strings.Join(held, ","); w != l.waitingFor {
			l.waitingFor = w
			l.log.Info("newly elected: waiting for nodes with tasks to register again before changing assignments",
				"nodes", w, "at_most", time.Until(time.Unix(0, l.electedAt.Load()).Add(l.cfg.RegisterGrace)).Round(time.Millisecond).String())
		}
	} else {
		l.waitingFor = ""
	}
	if len(slots) > 0 && len(held) == 0 {
		next, err := ScheduleKeeping(tasks, slots, prev, func(name string) bool { return !balancesOnJoin(live[name]) })
		if err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		byTopo := map[string]map[int32]string{}
		for ref, node := range next {
			m := byTopo[ref.Topology]
			if m == nil {
				m = map[int32]string{}
				byTopo[ref.Topology] = m
			}
			m[ref.Task] = node
		}
		for name, rec := range live {
			old := current[name]
			if old.GetTopologyId() == rec.GetId() && maps.Equal(old.GetTasks(), byTopo[name]) {
				continue
			}
			a := &galev1.Assignment{TopologyId: rec.GetId(), Tasks: byTopo[name], Leader: l.cfg.Name, Version: old.GetVersion() + 1}
			ops = append(ops, clientv3.OpPut(assignmentsPrefix+name, marshal(a)))
		}
	}
	for name := range current {
		if live[name] == nil && !finished[name] {
			ops = append(ops, clientv3.OpDelete(assignmentsPrefix+name))
		}
	}
	for name := range reports {
		if !recorded[name] {
			// Reports that came in after their topology was removed.
			ops = append(ops, clientv3.OpDelete(finishedPrefix+name+"/", clientv3.WithPrefix()))
		}
	}
	if len(ops) > 0 {
		if err := l.fencedWrite(ctx, el, ops...); err != nil {
			return err
		}
		l.log.Info("assignments written", "changes", len(ops))
	}
	// The zero time's UnixNano is not 0 (it is far in the past, so a timer
	// set to it fires at once): store 0 for "no kill under way".
	var nextKillNanos int64
	if !nextKill.IsZero() {
		nextKillNanos = nextKill.UnixNano()
	}
	l.nextKill.Store(nextKillNanos)
	l.reconciles.Add(1)
	return nil
}

// held returns the nodes that the current assignment gives tasks, that
// are not registered, and that the leader still waits for: it was elected
// less than RegisterGrace ago and Gone does not report them gone. While
// there are any, it changes no assignment (see LeaderConfig.RegisterGrace):
// a node re-registering keeps its tasks and their state, and a node that
// is gone for good loses them once the grace ends, or as soon as gossip
// declares it dead. recheck is when to look again (Unix ns; 0: no need):
// at the end of the grace, and every holdRecheck while Gone may change
// its mind.
func (l *Leader) held(nodes []*galev1.NodeInfo, prev map[TaskRef]string, now time.Time) (held []string, recheck int64) {
	elected := l.electedAt.Load()
	if l.cfg.RegisterGrace <= 0 || elected == 0 {
		return nil, 0
	}
	end := time.Unix(0, elected).Add(l.cfg.RegisterGrace)
	if !now.Before(end) {
		return nil, 0
	}
	registered := map[string]bool{}
	for _, n := range nodes {
		registered[n.GetName()] = true
	}
	seen := map[string]bool{}
	for _, node := range prev {
		if registered[node] || seen[node] {
			continue
		}
		seen[node] = true
		if l.cfg.Gone != nil && l.cfg.Gone(node) {
			continue
		}
		held = append(held, node)
	}
	if len(held) == 0 {
		return nil, 0
	}
	slices.Sort(held)
	at := end
	if l.cfg.Gone != nil && now.Add(holdRecheck).Before(at) {
		at = now.Add(holdRecheck)
	}
	return held, at.UnixNano()
}

// holdRecheck is how often a leader waiting for nodes to register asks
// Gone again.
const holdRecheck = 200 * time.Millisecond

// killGrace is how long after a kill's end of wait the leader leaves it to
// the node that took the request, which normally finishes it itself.
const killGrace = time.Second

// allFinished reports whether the nodes' reports for run id cover every
// spout and bolt task (ackers serve until the run is stopped and never
// end by themselves).
func allFinished(id string, tasks []spec.Task, reports []*galev1.FinishedTasks) bool {
	done := map[int32]bool{}
	for _, r := range reports {
		if r.GetTopologyId() != id {
			continue
		}
		for _, t := range r.GetTasks() {
			done[t] = true
		}
	}
	if len(done) == 0 {
		return false
	}
	for _, t := range tasks {
		if t.Component != spec.AckerComponent && !done[t.ID] {
			return false
		}
	}
	return true
}

// finish marks run id of topology name FINISHED, in a write fenced by el
// and by the record's revision, so that neither a deposed leader nor a
// kill or rebalance that came in meanwhile is overwritten. It reports
// whether it did. The nodes then stop the run's tasks (its ackers) and
// never start them again.
func (l *Leader) finish(ctx context.Context, el *concurrency.Election, name, id string) (bool, error) {
	rec, rev, err := l.store.topology(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch rec.GetState() {
	case galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, galev1.TopologyState_TOPOLOGY_STATE_INACTIVE:
	default:
		return false, nil
	}
	if rec.GetId() != id {
		return false, nil
	}
	rec.State = galev1.TopologyState_TOPOLOGY_STATE_FINISHED
	rec.FinishedUnixMillis = time.Now().UnixMilli()
	key := topologiesPrefix + name
	resp, err := l.store.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())).
		Then(clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)},
			[]clientv3.Op{clientv3.OpPut(key, marshal(rec))},
			nil,
		)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("mark %s finished: %w", name, err)
	}
	if !resp.Succeeded {
		return false, fmt.Errorf("mark %s finished as %s: %w", name, l.cfg.Name, ErrNotLeader)
	}
	if !resp.Responses[0].GetResponseTxn().GetSucceeded() {
		return false, nil // the record changed: look again next time
	}
	l.log.Info("topology finished", "topology", name, "id", id)
	return true, nil
}

// fencedWrite applies ops only if el's key still exists with the create
// revision it campaigned with (see the package doc, Fencing).
func (l *Leader) fencedWrite(ctx context.Context, el *concurrency.Election, ops ...clientv3.Op) error {
	resp, err := l.store.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())).
		Then(ops...).
		Commit()
	if err != nil {
		return fmt.Errorf("write assignments: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("write assignments as %s: %w", l.cfg.Name, ErrNotLeader)
	}
	return nil
}

// balancesOnJoin tells whether a topology lets a node that joins take its
// running tasks (spec.KeyBalanceOnJoin; validated at submit).
func balancesOnJoin(rec *galev1.TopologyRecord) bool {
	on, _ := spec.MustRuntimeKey(spec.KeyBalanceOnJoin).BoolOf(rec.GetSpec().GetConfig()[spec.KeyBalanceOnJoin], false)
	return on
}
