package external

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// HelloTimeout is how long a new stream may take to send its hello.
const HelloTimeout = 10 * time.Second

// Hub is the AttachService of a node (or of `gale local`): it matches
// attaching processes with the external tasks registered here.
type Hub struct {
	galev1.UnimplementedAttachServiceServer

	mu    sync.Mutex
	slots map[slotKey]*Slot

	// Candidates, when set (a cluster node), lets processes that ask for a
	// component this node has no free task of be relayed to a node that
	// has (forward.go). Set it before serving.
	Candidates Candidates
}

type slotKey struct {
	topology, component string
	task                int32
}

// NewHub makes a hub with no slots.
func NewHub() *Hub { return &Hub{slots: map[slotKey]*Slot{}} }

// Slot is one external task waiting for, or served by, a process.
type Slot struct {
	hub     *Hub
	key     slotKey
	welcome *galev1.TaskContext
	// token is the component's token (attached) or the token of the
	// process the node started (managed); SetToken changes it.
	token     string
	attached  bool // any process with the token may take it (task_id 0)
	heartbeat time.Duration
	// hookTimeout bounds one call of the component (SlotOptions).
	hookTimeout time.Duration

	sessions chan Session // capacity 1: the executor takes sessions from here
	busy     bool         // a session is being handed over or runs; guarded by hub.mu
	claims   uint64       // processes that took the slot so far; guarded by hub.mu
}

// SlotOptions describe an external task to the hub.
type SlotOptions struct {
	// Welcome is sent to the process; its TaskId, Component and Topology
	// name the slot.
	Welcome *galev1.TaskContext
	// Token, when set, must be presented in the hello.
	Token string
	// Attached lets processes that name only the component (task_id 0)
	// take the task.
	Attached bool
	// HookTimeout ends the session of a process whose heartbeats say that
	// one call of its component has run longer (0: no bound).
	HookTimeout time.Duration
}

// Register adds an external task. It fails if the task is registered
// already (a previous run must unregister first).
func (h *Hub) Register(o SlotOptions) (*Slot, error) {
	w := o.Welcome
	k := slotKey{w.GetTopology(), w.GetComponent(), w.GetTaskId()}
	hb := time.Duration(w.GetHeartbeatMillis()) * time.Millisecond
	if hb <= 0 {
		return nil, fmt.Errorf("register task %d of %s/%s: heartbeat interval must be positive", k.task, k.topology, k.component)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.slots[k]; ok {
		return nil, fmt.Errorf("register task %d of %s/%s: already registered", k.task, k.topology, k.component)
	}
	s := &Slot{hub: h, key: k, welcome: w, token: o.Token, attached: o.Attached, heartbeat: hb, hookTimeout: o.HookTimeout, sessions: make(chan Session, 1)}
	h.slots[k] = s
	return s, nil
}

// Registered is how many tasks of a topology's component are registered
// here.
func (h *Hub) Registered(topology, component string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k := range h.slots {
		if k.topology == topology && k.component == component {
			n++
		}
	}
	return n
}

// Unregister removes the slot; a process attaching for it from now on is
// told NOT_FOUND. A session it runs is not ended: the executor does that.
func (s *Slot) Unregister() {
	s.hub.mu.Lock()
	if s.hub.slots[s.key] == s {
		delete(s.hub.slots, s.key)
	}
	s.hub.mu.Unlock()
}

// SetToken sets the token a process must present (a managed process gets a
// fresh one each start).
func (s *Slot) SetToken(token string) {
	s.hub.mu.Lock()
	s.token = token
	s.hub.mu.Unlock()
}

// Claims is how many processes have taken the slot so far: a managed
// process that exits with the count unchanged never attached. It is 0
// for a nil slot.
func (s *Slot) Claims() uint64 {
	if s == nil {
		return 0
	}
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.claims
}

// Sessions delivers each process that attached for this task.
func (s *Slot) Sessions() <-chan Session { return s.sessions }

// Offer hands a session that did not come through the hub's gRPC service
// (a Storm multilang process) to the slot's executor.
func (s *Slot) Offer(sess Session) error {
	s.hub.mu.Lock()
	if s.busy {
		s.hub.mu.Unlock()
		return fmt.Errorf("task %d of %s already has a process", s.key.task, s.key.component)
	}
	s.busy = true
	s.claims++
	s.hub.mu.Unlock()
	s.sessions <- sess
	return nil
}

// Release marks the slot free again after its session ended, so that
// another process may attach.
func (s *Slot) Release() {
	s.hub.mu.Lock()
	s.busy = false
	s.hub.mu.Unlock()
}

// Attach implements galev1.AttachServiceServer.
func (h *Hub) Attach(stream galev1.AttachService_AttachServer) error {
	hello, err := recvHello(stream)
	if err != nil {
		return err
	}
	slot, err := h.claim(hello)
	if err != nil {
		if c := status.Code(err); h.Candidates != nil && hello.GetTaskId() == 0 && (c == codes.NotFound || c == codes.ResourceExhausted) {
			if ferr := h.forward(stream, hello); !errors.Is(ferr, errNoCandidate) {
				return ferr
			}
		}
		return err
	}
	sess := newStreamSession(hello, stream, slot.heartbeat, slot.hookTimeout)
	welcome := proto.Clone(slot.welcome).(*galev1.TaskContext)
	if err := stream.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Welcome{Welcome: welcome}}); err != nil {
		slot.Release()
		return err
	}
	select {
	case slot.sessions <- sess:
	default:
		// Cannot happen: busy guards the channel. Refuse rather than block.
		slot.Release()
		return status.Errorf(codes.AlreadyExists, "task %d of %s already has a process", slot.key.task, slot.key.component)
	}
	err = sess.serve()
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !errors.Is(err, ErrNoHeartbeat) && !errors.Is(err, ErrProcessEnded) {
		return err
	}
	return status.Error(codes.Aborted, err.Error())
}

func recvHello(stream galev1.AttachService_AttachServer) (*galev1.AttachHello, error) {
	type result struct {
		f   *galev1.AttachRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := stream.Recv()
		ch <- result{f, err}
	}()
	timer := time.NewTimer(HelloTimeout)
	defer timer.Stop()
	var r result
	select {
	case r = <-ch:
	case <-timer.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "no hello within %v: the first frame of an Attach stream must be hello", HelloTimeout)
	case <-stream.Context().Done():
		return nil, stream.Context().Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	hello := r.f.GetHello()
	if hello == nil {
		return nil, status.Errorf(codes.InvalidArgument, "the first frame of an Attach stream must be hello, got %s", frameName(r.f))
	}
	switch {
	case hello.GetTopology() == "":
		return nil, status.Error(codes.InvalidArgument, "hello: topology is empty")
	case hello.GetComponent() == "":
		return nil, status.Error(codes.InvalidArgument, "hello: component is empty")
	case hello.GetTaskId() < 0:
		return nil, status.Errorf(codes.InvalidArgument, "hello: task_id %d is negative", hello.GetTaskId())
	case hello.GetMaxBatch() < 0:
		return nil, status.Errorf(codes.InvalidArgument, "hello: max_batch %d is negative", hello.GetMaxBatch())
	}
	return hello, nil
}

// claim finds the slot a hello asks for and marks it busy.
func (h *Hub) claim(hello *galev1.AttachHello) (*Slot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	topo, comp := hello.GetTopology(), hello.GetComponent()
	var slot *Slot
	if id := hello.GetTaskId(); id != 0 {
		slot = h.slots[slotKey{topo, comp, id}]
		if slot == nil {
			return nil, status.Errorf(codes.NotFound, "task %d of %s/%s does not run on this node", id, topo, comp)
		}
		if !tokenOK(slot.token, hello.GetToken()) {
			return nil, status.Errorf(codes.PermissionDenied, "task %d of %s/%s: wrong token", id, topo, comp)
		}
		if slot.busy {
			return nil, status.Errorf(codes.AlreadyExists, "task %d of %s/%s already has a process", id, topo, comp)
		}
	} else {
		var candidates []*Slot
		known := false
		for k, s := range h.slots {
			if k.topology == topo && k.component == comp {
				known = true
				if s.attached && !s.busy {
					candidates = append(candidates, s)
				}
			}
		}
		if !known {
			return nil, status.Error(codes.NotFound, h.unknownLocked(topo, comp))
		}
		if len(candidates) == 0 {
			return nil, status.Errorf(codes.ResourceExhausted, "every task of %s/%s on this node already has a process (or the component is not attached)", topo, comp)
		}
		sort.Slice(candidates, func(i, j int) bool { return candidates[i].key.task < candidates[j].key.task })
		slot = candidates[0]
		if !tokenOK(slot.token, hello.GetToken()) {
			return nil, status.Errorf(codes.PermissionDenied, "component %s/%s: wrong token", topo, comp)
		}
	}
	slot.busy = true
	slot.claims++
	return slot, nil
}

// unknownLocked says what a hello names that has no slot here: the
// topology, or its component, with what there is (a misspelt name, or a
// topology that finished, read alike). h.mu is held.
func (h *Hub) unknownLocked(topo, comp string) string {
	topos, comps := map[string]bool{}, map[string]bool{}
	for k := range h.slots {
		topos[k.topology] = true
		if k.topology == topo {
			comps[k.component] = true
		}
	}
	if len(comps) > 0 {
		return fmt.Sprintf("topology %s has no external component %s on this node (its external components here: %s)", topo, comp, strings.Join(slices.Sorted(maps.Keys(comps)), ", "))
	}
	if len(topos) == 0 {
		return fmt.Sprintf("no topology with external components runs on this node (asked for %s/%s; gale list shows what runs, and a finished one takes no process)", topo, comp)
	}
	return fmt.Sprintf("topology %s has no external components on this node (those that have: %s; gale list shows what runs)", topo, strings.Join(slices.Sorted(maps.Keys(topos)), ", "))
}

func tokenOK(want, got string) bool {
	if want == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled && errors.Is(err, context.Canceled)
}

// frameName names the frame a request carries, for errors.
func frameName(f *galev1.AttachRequest) string {
	switch f.GetFrame().(type) {
	case *galev1.AttachRequest_Hello:
		return "hello"
	case *galev1.AttachRequest_Emits:
		return "emits"
	case *galev1.AttachRequest_Acks:
		return "acks"
	case *galev1.AttachRequest_Log:
		return "log"
	case *galev1.AttachRequest_Heartbeat:
		return "heartbeat"
	case *galev1.AttachRequest_NextDone:
		return "next_done"
	case *galev1.AttachRequest_Error:
		return "error"
	case *galev1.AttachRequest_Finished:
		return "finished"
	default:
		return "an empty frame"
	}
}

// FrameName names the frame a request carries, for errors.
func FrameName(f *galev1.AttachRequest) string { return frameName(f) }
