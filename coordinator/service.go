package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/spec"
)

// StatsSource gives the live state of the tasks this node runs. The node
// implements it; it is called from gRPC handlers concurrently, so it must
// be safe for concurrent use.
type StatsSource interface {
	// TaskStatuses returns the counters and input queues (bolts and
	// ackers) of the local tasks of a topology run, by task id; their
	// TaskId and Node are left to the caller.
	TaskStatuses(topologyID string) map[int32]*galev1.TaskStatus
	// TaskErrors returns the recent errors of the local tasks of a run,
	// oldest first.
	TaskErrors(topologyID string) []*galev1.ComponentError
	// RunState returns what this node's run of a topology is doing (its
	// Node set), nil when the node has none.
	RunState(topologyID string) *galev1.NodeRun
	// Finished reports whether the run ended here (end of input).
	Finished(topologyID string) bool
}

// Service implements the Coordinator gRPC API on top of the store. Every
// node serves it; calls that change desired state write to etcd, and the
// elected leader does the rest.
type Service struct {
	galev1.UnimplementedCoordinatorServiceServer
	store    *Store
	leader   *Leader
	stats    StatsSource
	resolver spec.Resolver
	now      func() time.Time
	sec      *security.Security // of the connections to other nodes (status)
}

// ServiceOption is an optional setting of NewService.
type ServiceOption func(*Service)

// WithSecurity makes the service dial other nodes (for their tasks'
// status) with sec, the node's own security.
func WithSecurity(sec *security.Security) ServiceOption { return func(s *Service) { s.sec = sec } }

// NewService makes the API. resolver checks component classes at submit
// time (every node runs the same binary, so the receiving node's registry
// speaks for all); stats may be nil.
func NewService(store *Store, leader *Leader, stats StatsSource, resolver spec.Resolver, opts ...ServiceOption) *Service {
	s := &Service{store: store, leader: leader, stats: stats, resolver: resolver, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// storeErr maps store errors to gRPC status codes.
func storeErr(err error, name string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return status.Errorf(codes.NotFound, "topology %s not found", name)
	case errors.Is(err, ErrExists):
		return status.Errorf(codes.AlreadyExists, "a topology named %s already exists", name)
	case errors.Is(err, ErrFinished):
		return status.Errorf(codes.FailedPrecondition, "topology %s has finished; rebalance it to run it again", name)
	case errors.Is(err, ErrBeingKilled):
		return status.Errorf(codes.FailedPrecondition, "topology %s is being killed", name)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "cluster state: %v", err)
}

// SubmitTopology implements the API.
func (s *Service) SubmitTopology(ctx context.Context, req *galev1.SubmitTopologyRequest) (*galev1.SubmitTopologyResponse, error) {
	if req.GetSpec() == nil {
		return nil, status.Error(codes.InvalidArgument, "submit: spec is missing: the request must hold the topology's TopologySpec")
	}
	ts := proto.Clone(req.GetSpec()).(*galev1.TopologySpec)
	if ts.Config == nil {
		ts.Config = map[string]*galev1.Value{}
	}
	for k, v := range req.GetConfig() {
		ts.Config[k] = v
	}
	if errs := spec.Check(ts, s.resolver); len(errs) > 0 {
		return nil, status.Error(codes.InvalidArgument, errs.Error())
	}
	if ts.Config[spec.KeyAckers].GetKind() == nil { // absent, or null as the runtime reads it
		n, err := s.ackersByDefault(ctx)
		if err != nil {
			return nil, storeErr(err, ts.GetName())
		}
		ts.Config[spec.KeyAckers] = &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: int64(n)}}
	}
	if _, err := spec.Tasks(ts); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	now := s.now()
	rec := &galev1.TopologyRecord{
		Spec:                ts,
		Id:                  ts.GetName() + "-" + strconv.FormatInt(now.UnixNano(), 36),
		State:               galev1.TopologyState_TOPOLOGY_STATE_ACTIVE,
		SubmittedUnixMillis: now.UnixMilli(),
	}
	if req.GetStartInactive() {
		rec.State = galev1.TopologyState_TOPOLOGY_STATE_INACTIVE
	}
	if err := s.store.CreateTopology(ctx, rec); err != nil {
		if errors.Is(err, ErrExists) {
			// The name is taken by a run on its way out: say so, rather than
			// send the caller to kill what is being killed.
			if old, rerr := s.store.Topology(ctx, ts.GetName()); rerr == nil && (old.GetKillAtUnixMillis() != 0 || old.GetState() == galev1.TopologyState_TOPOLOGY_STATE_KILLED) {
				return nil, status.Errorf(codes.FailedPrecondition, "topology %s is being killed; submit it again once it is gone (gale list)", ts.GetName())
			}
		}
		return nil, storeErr(err, ts.GetName())
	}
	return &galev1.SubmitTopologyResponse{Id: rec.GetId()}, nil
}

// ackersByDefault is the acker count of a topology that sets none: one per
// live node at submit time, as Storm gives one per worker. A spout uses
// the ackers on its own node (executor.nextRoot), so a tree's start and
// completion stay there and the acking spreads with the spouts. The
// number is written into the stored spec, so it stays fixed as nodes come
// and go; gale rebalance NAME --parallelism __acker=N changes it.
func (s *Service) ackersByDefault(ctx context.Context) (int, error) {
	nodes, _, err := s.store.Nodes(ctx)
	if err != nil {
		return 0, fmt.Errorf("count the live nodes for the default number of ackers: %w", err)
	}
	n := 0
	for _, node := range nodes {
		if schedulable(node) {
			n++
		}
	}
	return max(n, spec.DefaultAckers), nil
}

func (s *Service) setState(ctx context.Context, name string, st galev1.TopologyState) error {
	verb := "activate"
	if st == galev1.TopologyState_TOPOLOGY_STATE_INACTIVE {
		verb = "deactivate"
	}
	if err := nameGiven(verb, name); err != nil {
		return err
	}
	return s.setStateOf(ctx, name, 0, st)
}

// nameGiven refuses a request that names no topology: "topology  not
// found" would blame a topology rather than the request.
func nameGiven(verb, name string) error {
	if name == "" {
		return status.Errorf(codes.InvalidArgument, "%s: name is missing: say which topology", verb)
	}
	return nil
}

// setStateOf is setState for the run of name submitted at submitted (Unix
// ms; 0: whichever): a topology killed and submitted again meanwhile is
// another one, and is left alone (NOT_FOUND).
func (s *Service) setStateOf(ctx context.Context, name string, submitted int64, st galev1.TopologyState) error {
	err := s.store.UpdateTopology(ctx, name, func(r *galev1.TopologyRecord) error {
		if err := sameRun(r, name, submitted); err != nil {
			return err
		}
		switch {
		case r.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED && st != galev1.TopologyState_TOPOLOGY_STATE_KILLED:
			// Activating it would schedule its tasks again.
			return fmt.Errorf("topology %s: %w", name, ErrFinished)
		case r.GetKillAtUnixMillis() != 0 && st != galev1.TopologyState_TOPOLOGY_STATE_KILLED:
			return fmt.Errorf("topology %s: %w", name, ErrBeingKilled)
		}
		r.State = st
		return nil
	})
	if err != nil {
		return storeErr(err, name)
	}
	return nil
}

// MaxKillWaitSeconds bounds a kill's wait_seconds: a day, the longest
// message timeout. A longer wait holds the topology in KILLING, refusing
// every other command, for no tree's sake.
const MaxKillWaitSeconds = 86400

// KillTopology implements the API, as Storm's kill: the spouts are
// deactivated and the trees in flight get wait_seconds (absent: the
// topology's message timeout) to complete; then the topology is marked
// killed, and the leader removes its assignment (the nodes stop its tasks)
// and its record. The wait runs in this call, cut short to answer within
// the caller's deadline; a caller that stops waiting does not stop the
// kill, which goes on at once. The record holds when the wait ends
// (kill_at_unix_millis), so that the leader finishes the kill if this node
// dies during the wait. The kill applies to the run that was there when it
// was asked for: one submitted again under the name meanwhile is left
// alone.
func (s *Service) KillTopology(ctx context.Context, req *galev1.KillTopologyRequest) (*galev1.KillTopologyResponse, error) {
	name := req.GetName()
	if err := nameGiven("kill", name); err != nil {
		return nil, err
	}
	if req.WaitSeconds != nil && (req.GetWaitSeconds() < 0 || req.GetWaitSeconds() > MaxKillWaitSeconds) {
		return nil, status.Errorf(codes.InvalidArgument, "kill %s: wait_seconds %d: want 0 to %d (a day, the longest message timeout)", name, req.GetWaitSeconds(), MaxKillWaitSeconds)
	}
	rec, err := s.store.Topology(ctx, name)
	if err != nil {
		return nil, storeErr(err, name)
	}
	submitted := rec.GetSubmittedUnixMillis()
	wait := messageTimeout(rec.GetSpec())
	if req.WaitSeconds != nil {
		wait = time.Duration(req.GetWaitSeconds()) * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		// Answer before the caller gives up, or it would report a
		// timeout for a kill that went through.
		wait = min(wait, time.Until(dl)-killTimeout/4)
	}
	switch rec.GetState() {
	case galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, galev1.TopologyState_TOPOLOGY_STATE_INACTIVE:
		if wait <= 0 {
			break
		}
		killAt, err := s.startKill(ctx, name, submitted, s.now().Add(wait))
		if status.Code(err) == codes.FailedPrecondition {
			break // it finished meanwhile: nothing left to wait for
		}
		if status.Code(err) == codes.NotFound {
			return &galev1.KillTopologyResponse{}, nil // another kill got there first
		}
		if err != nil {
			return nil, err
		}
		t := time.NewTimer(killAt.Sub(s.now()))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	// Kill even when the caller gave up on the wait: it asked for it.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
	defer cancel()
	err = s.setStateOf(kctx, name, submitted, galev1.TopologyState_TOPOLOGY_STATE_KILLED)
	if err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	// NotFound: the run this call found was killed meanwhile (by another
	// kill, waiting with it or not) or is already removed. Either way it
	// is killed, which is what was asked.
	return &galev1.KillTopologyResponse{}, nil
}

// sameRun refuses to change r unless it is the live run of name submitted
// at submitted (Unix ms; 0: whichever): NOT_FOUND for one being removed or
// submitted again meanwhile.
func sameRun(r *galev1.TopologyRecord, name string, submitted int64) error {
	switch {
	case r.GetState() == galev1.TopologyState_TOPOLOGY_STATE_KILLED:
		return fmt.Errorf("topology %s: %w", name, ErrNotFound) // being removed
	case submitted != 0 && r.GetSubmittedUnixMillis() != submitted:
		return fmt.Errorf("topology %s (submitted again): %w", name, ErrNotFound)
	}
	return nil
}

// startKill deactivates the run of name submitted at submitted and records
// that it is to be killed at at (or earlier, if a kill under way already
// ends sooner). It returns when the kill is due.
func (s *Service) startKill(ctx context.Context, name string, submitted int64, at time.Time) (time.Time, error) {
	err := s.store.UpdateTopology(ctx, name, func(r *galev1.TopologyRecord) error {
		if err := sameRun(r, name, submitted); err != nil {
			return err
		}
		if r.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			return fmt.Errorf("topology %s: %w", name, ErrFinished)
		}
		if ms := r.GetKillAtUnixMillis(); ms != 0 && ms < at.UnixMilli() {
			at = time.UnixMilli(ms)
		}
		r.State = galev1.TopologyState_TOPOLOGY_STATE_INACTIVE
		r.KillAtUnixMillis = at.UnixMilli()
		return nil
	})
	if err != nil {
		return at, storeErr(err, name)
	}
	return at, nil
}

// killTimeout bounds the write that marks a topology killed.
const killTimeout = 10 * time.Second

// messageTimeout is a topology's topology.message.timeout.secs (default
// 30 s), the default wait of a kill.
func messageTimeout(ts *galev1.TopologySpec) time.Duration {
	d, err := spec.MustRuntimeKey(spec.KeyMessageTimeout).Duration(ts.GetConfig()[spec.KeyMessageTimeout], 30*time.Second)
	if err != nil || d < 0 {
		return 30 * time.Second // submit validated it; a record is not the place to fail
	}
	return d
}

// ActivateTopology implements the API.
func (s *Service) ActivateTopology(ctx context.Context, req *galev1.ActivateTopologyRequest) (*galev1.ActivateTopologyResponse, error) {
	if err := s.setState(ctx, req.GetName(), galev1.TopologyState_TOPOLOGY_STATE_ACTIVE); err != nil {
		return nil, err
	}
	return &galev1.ActivateTopologyResponse{}, nil
}

// DeactivateTopology implements the API.
func (s *Service) DeactivateTopology(ctx context.Context, req *galev1.DeactivateTopologyRequest) (*galev1.DeactivateTopologyResponse, error) {
	if err := s.setState(ctx, req.GetName(), galev1.TopologyState_TOPOLOGY_STATE_INACTIVE); err != nil {
		return nil, err
	}
	return &galev1.DeactivateTopologyResponse{}, nil
}

// RebalanceTopology implements the API. A topology's parts cannot change
// their number of tasks in place, so a rebalance starts a new run of the
// topology with the new parallelism, and the leader schedules it afresh over
// the current nodes (with no change of parallelism, that just spreads the
// tasks anew). Like Storm's rebalance, it restarts every task: the new run
// starts its spouts from their beginning and its bolts with empty state.
func (s *Service) RebalanceTopology(ctx context.Context, req *galev1.RebalanceTopologyRequest) (*galev1.RebalanceTopologyResponse, error) {
	name := req.GetName()
	if err := nameGiven("rebalance", name); err != nil {
		return nil, err
	}
	var invalid error
	err := s.store.UpdateTopology(ctx, name, func(r *galev1.TopologyRecord) error {
		if r.GetState() == galev1.TopologyState_TOPOLOGY_STATE_KILLED {
			return fmt.Errorf("topology %s: %w", name, ErrNotFound)
		}
		if r.GetKillAtUnixMillis() != 0 {
			return fmt.Errorf("topology %s: %w", name, ErrBeingKilled)
		}
		ts := proto.Clone(r.GetSpec()).(*galev1.TopologySpec)
		for comp, n := range req.GetParallelism() {
			if comp == spec.AckerComponent && n == 0 {
				// No ackers: the new run is at-most-once, as a topology
				// submitted with topology.acker.executors: 0.
			} else if n < 1 || n > spec.MaxParallelism {
				low := 1
				if comp == spec.AckerComponent {
					low = 0
				}
				invalid = fmt.Errorf("parallelism of %s must be between %d and %d, got %d", comp, low, spec.MaxParallelism, n)
				return invalid
			}
			if comp == spec.AckerComponent {
				if ts.Config == nil {
					ts.Config = map[string]*galev1.Value{}
				}
				ts.Config[spec.KeyAckers] = &galev1.Value{Kind: &galev1.Value_IntValue{IntValue: int64(n)}}
				continue
			}
			found := false
			for _, c := range ts.GetComponents() {
				if c.GetId() == comp {
					c.Parallelism = n
					found = true
				}
			}
			if !found {
				invalid = fmt.Errorf("topology %s has no component %q", name, comp)
				return invalid
			}
		}
		if errs := spec.Validate(ts); len(errs) > 0 {
			invalid = errs
			return invalid
		}
		r.Spec = ts
		r.Id = name + "-" + strconv.FormatInt(s.now().UnixNano(), 36)
		if r.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			r.State = galev1.TopologyState_TOPOLOGY_STATE_ACTIVE // a new run
			r.FinishedUnixMillis = 0
		}
		return nil
	})
	if invalid != nil {
		return nil, status.Error(codes.InvalidArgument, invalid.Error())
	}
	if err != nil {
		return nil, storeErr(err, name)
	}
	return &galev1.RebalanceTopologyResponse{}, nil
}

// summary is the topology's line of gale list; failing are the failing
// runs reported for its name (of this run or an earlier one).
func (s *Service) summary(rec *galev1.TopologyRecord, a *galev1.Assignment, failing []*galev1.NodeRun) *galev1.TopologySummary {
	nodes := map[string]bool{}
	for _, n := range a.GetTasks() {
		nodes[n] = true
	}
	st := rec.GetState()
	if st == galev1.TopologyState_TOPOLOGY_STATE_ACTIVE && s.stats != nil && s.stats.Finished(rec.GetId()) {
		st = galev1.TopologyState_TOPOLOGY_STATE_FINISHED
	}
	if rec.GetKillAtUnixMillis() != 0 && st != galev1.TopologyState_TOPOLOGY_STATE_KILLED {
		st = galev1.TopologyState_TOPOLOGY_STATE_KILLING
	}
	tasks, _ := spec.Tasks(rec.GetSpec())
	end := s.now()
	if ms := rec.GetFinishedUnixMillis(); ms != 0 && rec.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
		end = time.UnixMilli(ms) // it ran until then
	}
	return &galev1.TopologySummary{
		Name:          rec.GetSpec().GetName(),
		Id:            rec.GetId(),
		State:         st,
		Tasks:         int32(len(tasks)),
		Nodes:         int32(len(nodes)),
		UptimeSeconds: int64(end.Sub(time.UnixMilli(rec.GetSubmittedUnixMillis())).Seconds()),
		FailingNodes:  failingNodes(rec, failing),
	}
}

// failingNodes are the nodes with a failing run of rec's run, sorted:
// none once it finished or is being removed.
func failingNodes(rec *galev1.TopologyRecord, failing []*galev1.NodeRun) []string {
	switch rec.GetState() {
	case galev1.TopologyState_TOPOLOGY_STATE_FINISHED, galev1.TopologyState_TOPOLOGY_STATE_KILLED:
		return nil
	}
	var out []string
	for _, r := range failing {
		if r.GetTopologyId() == rec.GetId() {
			out = append(out, r.GetNode())
		}
	}
	slices.Sort(out)
	return out
}

// ListTopologies implements the API.
func (s *Service) ListTopologies(ctx context.Context, _ *galev1.ListTopologiesRequest) (*galev1.ListTopologiesResponse, error) {
	recs, _, err := s.store.Topologies(ctx)
	if err != nil {
		return nil, storeErr(err, "")
	}
	as, _, err := s.store.Assignments(ctx)
	if err != nil {
		return nil, storeErr(err, "")
	}
	failing, err := s.store.FailingRuns(ctx)
	if err != nil {
		return nil, storeErr(err, "")
	}
	out := &galev1.ListTopologiesResponse{}
	for _, r := range recs {
		name := r.GetSpec().GetName()
		out.Topologies = append(out.Topologies, s.summary(r, as[name], failing[name]))
	}
	return out, nil
}

// GetTopologyStatus implements the API. Counters cover the tasks this node
// runs; tasks on other nodes show their node and no counters until the
// nodes report to each other.
func (s *Service) GetTopologyStatus(ctx context.Context, req *galev1.GetTopologyStatusRequest) (*galev1.GetTopologyStatusResponse, error) {
	if err := nameGiven("status", req.GetName()); err != nil {
		return nil, err
	}
	rec, err := s.store.Topology(ctx, req.GetName())
	if err != nil {
		return nil, storeErr(err, req.GetName())
	}
	as, _, err := s.store.Assignments(ctx)
	if err != nil {
		return nil, storeErr(err, req.GetName())
	}
	a := as[req.GetName()]
	if a.GetTopologyId() != rec.GetId() {
		a = nil
	}
	tasks, err := spec.Tasks(rec.GetSpec())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "topology %s: its stored spec: %v", req.GetName(), err)
	}
	live := map[int32]*galev1.TaskStatus{} // counters and queues, by task
	var (
		taskErrs []*galev1.ComponentError
		runs     []*galev1.NodeRun
	)
	if s.stats != nil {
		for id, st := range s.stats.TaskStatuses(rec.GetId()) {
			live[id] = st
		}
		taskErrs = s.stats.TaskErrors(rec.GetId())
		if r := s.stats.RunState(rec.GetId()); r != nil {
			runs = append(runs, r)
		}
	}
	if !req.GetLocalOnly() {
		errs, others := s.gather(ctx, req.GetName(), a, live)
		taskErrs = append(taskErrs, errs...)
		runs = append(runs, others...)
	}
	slices.SortFunc(runs, func(x, y *galev1.NodeRun) int { return strings.Compare(x.GetNode(), y.GetNode()) })
	// Each node's errors come oldest first; merged, they are sorted again
	// (stable: one node's errors of the same millisecond keep their order).
	slices.SortStableFunc(taskErrs, func(x, y *galev1.ComponentError) int { return cmp.Compare(x.GetUnixMillis(), y.GetUnixMillis()) })
	kinds := map[string]galev1.ComponentKind{spec.AckerComponent: galev1.ComponentKind_COMPONENT_KIND_BOLT}
	for _, c := range rec.GetSpec().GetComponents() {
		kinds[c.GetId()] = c.GetKind()
	}
	var failing map[string][]*galev1.NodeRun
	if !req.GetLocalOnly() { // a node gathering statuses uses only the runs
		if failing, err = s.store.FailingRuns(ctx); err != nil {
			return nil, storeErr(err, req.GetName())
		}
	}
	resp := &galev1.GetTopologyStatusResponse{Summary: s.summary(rec, a, failing[req.GetName()]), Runs: runs}
	byComp := map[string]*galev1.ComponentStatus{}
	compOf := map[int32]string{}
	for _, t := range tasks {
		cs := byComp[t.Component]
		if cs == nil {
			cs = &galev1.ComponentStatus{Id: t.Component, Kind: kinds[t.Component], Counters: &galev1.Counters{}}
			byComp[t.Component] = cs
			resp.Components = append(resp.Components, cs)
		}
		compOf[t.ID] = t.Component
		ts := &galev1.TaskStatus{TaskId: t.ID, Node: a.GetTasks()[t.ID], Counters: live[t.ID].GetCounters(), Queue: live[t.ID].GetQueue()}
		cs.Tasks = append(cs.Tasks, ts)
		addCounters(cs.Counters, ts.GetCounters())
	}
	for _, e := range taskErrs {
		if cs := byComp[compOf[e.GetTaskId()]]; cs != nil {
			cs.Errors = append(cs.Errors, e)
		}
	}
	return resp, nil
}

// gather asks the other nodes that run tasks of the topology for their
// tasks' counters, queues and errors and their runs (local_only), and adds
// the statuses of the tasks each runs to live. A node that does not answer
// in time leaves its tasks without counters, and a run in state
// unspecified whose error says so (unansweredRun).
func (s *Service) gather(ctx context.Context, name string, a *galev1.Assignment, live map[int32]*galev1.TaskStatus) ([]*galev1.ComponentError, []*galev1.NodeRun) {
	if s.leader == nil {
		return nil, nil
	}
	self := s.leader.cfg.Name
	others := map[string]bool{}
	for _, n := range a.GetTasks() {
		if n != self {
			others[n] = true
		}
	}
	if len(others) == 0 {
		return nil, nil
	}
	nodes, _, err := s.store.Nodes(ctx)
	if err != nil {
		return nil, nil
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []*galev1.ComponentError
		runs []*galev1.NodeRun
	)
	for _, n := range nodes {
		if !others[n.GetName()] {
			continue
		}
		wg.Add(1)
		go func(node, addr string) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			conn, err := grpc.NewClient(addr, DialOptions(s.sec)...)
			if err != nil {
				mu.Lock()
				runs = append(runs, unansweredRun(node, err, s.now()))
				mu.Unlock()
				return
			}
			defer conn.Close()
			resp, err := galev1.NewCoordinatorServiceClient(conn).GetTopologyStatus(cctx, &galev1.GetTopologyStatusRequest{Name: name, LocalOnly: true})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				runs = append(runs, unansweredRun(node, err, s.now()))
				return
			}
			for _, c := range resp.GetComponents() {
				for _, t := range c.GetTasks() {
					// Only the tasks that node runs: it reports zeros for
					// the others.
					if a.GetTasks()[t.GetTaskId()] == node {
						live[t.GetTaskId()] = t
					}
				}
				errs = append(errs, c.GetErrors()...)
			}
			for _, r := range resp.GetRuns() {
				if r.GetNode() == node {
					runs = append(runs, r)
				}
			}
		}(n.GetName(), n.GetGrpcAddr())
	}
	wg.Wait()
	return errs, runs
}

// unansweredRun is the run of a registered node that did not answer the
// status request (frozen, overloaded, cut off): state unspecified, and
// why in its error, so that status says the node did not answer instead
// of showing it like one that has not started its run (its tasks' counters
// are missing, not zero).
func unansweredRun(node string, err error, now time.Time) *galev1.NodeRun {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
		if st.Code() == codes.DeadlineExceeded {
			msg = "no answer within 2s"
		}
	}
	return &galev1.NodeRun{Node: node, Error: "did not answer the status request: " + msg, ErrorUnixMillis: now.UnixMilli()}
}

// addCounters adds b into a; latency histograms are merged bucket by bucket
// (all tasks use the same bucket bounds).
func addCounters(a, b *galev1.Counters) {
	if b == nil {
		return
	}
	a.Emitted += b.GetEmitted()
	a.Transferred += b.GetTransferred()
	a.Executed += b.GetExecuted()
	a.Acked += b.GetAcked()
	a.Failed += b.GetFailed()
	a.Errors += b.GetErrors()
	if h := b.GetCompleteLatency(); h != nil {
		a.CompleteLatency = mergeHist(a.GetCompleteLatency(), h)
	}
	if h := b.GetProcessLatency(); h != nil {
		a.ProcessLatency = mergeHist(a.GetProcessLatency(), h)
	}
}

func mergeHist(a, b *galev1.LatencyHistogram) *galev1.LatencyHistogram {
	if a == nil {
		return proto.Clone(b).(*galev1.LatencyHistogram)
	}
	if len(b.GetCounts()) > len(a.GetCounts()) {
		a, b = proto.Clone(b).(*galev1.LatencyHistogram), a
	}
	for i, c := range b.GetCounts() {
		a.Counts[i] += c
	}
	a.SumMicros += b.GetSumMicros()
	a.P50Micros = quantile(a, 0.5)
	a.P99Micros = quantile(a, 0.99)
	return a
}

func quantile(h *galev1.LatencyHistogram, q float64) float64 {
	var n uint64
	for _, c := range h.GetCounts() {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.GetCounts() {
		seen += c
		if seen >= rank {
			if i < len(h.GetUpperBoundsMicros()) {
				return h.GetUpperBoundsMicros()[i]
			}
			break
		}
	}
	if b := h.GetUpperBoundsMicros(); len(b) > 0 {
		return b[len(b)-1]
	}
	return 0
}

// ListNodes implements the API.
func (s *Service) ListNodes(ctx context.Context, _ *galev1.ListNodesRequest) (*galev1.ListNodesResponse, error) {
	nodes, _, err := s.store.Nodes(ctx)
	if err != nil {
		return nil, storeErr(err, "")
	}
	as, _, err := s.store.Assignments(ctx)
	if err != nil {
		return nil, storeErr(err, "")
	}
	recs, _, err := s.store.Topologies(ctx)
	if err != nil {
		return nil, storeErr(err, "")
	}
	for _, r := range recs {
		if r.GetState() == galev1.TopologyState_TOPOLOGY_STATE_FINISHED {
			delete(as, r.GetSpec().GetName()) // where it ran, not load
		}
	}
	load := map[string]int32{}
	for _, a := range as {
		for _, n := range a.GetTasks() {
			load[n]++
		}
	}
	leader := ""
	if s.leader != nil {
		leader, _ = s.leader.CurrentLeader(ctx)
	}
	out := &galev1.ListNodesResponse{}
	for _, n := range nodes {
		n.Tasks = load[n.GetName()]
		n.Leader = n.GetName() == leader
		out.Nodes = append(out.Nodes, n)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].GetName() < out.Nodes[j].GetName() })
	return out, nil
}
