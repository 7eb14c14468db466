package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/gale-stream/gale/node/transfer"
	"github.com/gale-stream/gale/router"
)

// TestMarkersSentBeforeATaskArrivesAreKept: an end-of-input marker for a
// task that does not run here yet (it is on its way from another node) is
// kept, and the task gets it when Reassign brings it here, so it can end.
// The node that sent the marker does not send it again.
func TestMarkersSentBeforeATaskArrivesAreKept(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyAckers: 0}).
		spout("seq", "test.Seq", 1, "id").                           // task 1, on another node
		bolt("pass", "test.Pass", 1, []string{"id"}, "seq:shuffle"). // task 2, arrives later
		bolt("sink", "test.Sink", 1, nil, "pass:shuffle")            // task 3, here
	rt, routes := runOnNode(t, tp, map[int32]string{1: "there", 2: "there", 3: "here"})

	// The spout ended on the other node; its marker for pass arrives
	// before pass does.
	if err := rt.EndOfInput(1, []int32{2}); err != nil {
		t.Fatal(err)
	}
	routes.nodeOf.Store(&map[int32]string{1: "there", 2: "here", 3: "here"})
	if err := rt.Reassign(map[int32]bool{2: true, 3: true}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if got := rt.FinishedTasks(); !slices.Contains(got, 2) || !slices.Contains(got, 3) {
			return fmt.Errorf("finished tasks %v, want 2 and 3", got)
		}
		return nil
	})
}

// TestLocalOrShuffleFollowsReassign: a local-or-shuffle grouping sends to
// the tasks that run here now, not to those that ran here when the emitter
// started.
func TestLocalOrShuffleFollowsReassign(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyAckers: 0, "test.count": 1 << 40}).
		spout("seq", "test.Seq", 1, "id").             // task 1
		bolt("sink", "test.Sink", 2, nil, "seq:local") // tasks 2 and 3
	rt, routes := runOnNode(t, tp, map[int32]string{1: "here", 2: "here", 3: "there"})
	executed := func(task int32) uint64 { return rt.TaskStats()[task].Counters.Executed }
	waitFor(t, 10*time.Second, func() error {
		if executed(2) == 0 {
			return errors.New("task 2 executed nothing yet")
		}
		return nil
	})
	// Task 2 leaves and task 3 comes: the spout's tuples must follow.
	routes.nodeOf.Store(&map[int32]string{1: "here", 2: "there", 3: "here"})
	if err := rt.Reassign(map[int32]bool{1: true, 3: true}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if executed(3) == 0 {
			return errors.New("task 3 executed nothing since it came here")
		}
		return nil
	})
}

// runOnNode runs tp as node "here" of a distributed run with the tasks
// nodeOf gives it, until the test ends. The other node is unreachable:
// nothing the tests check needs it.
func runOnNode(t *testing.T, tp *topo, nodeOf map[int32]string) (*Runtime, *remoteRoutes) {
	t.Helper()
	noNet := func(string) (*grpc.ClientConn, error) { return nil, errors.New("no network in this test") }
	routes := newRemoteRoutes("here", noNet, "run", nodeOf)
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return nodeOf[id] == "here" },
		Remote: routes,
	})
	if err != nil {
		t.Fatal(err)
	}
	routes.rt = rt
	runUntilTestEnds(t, rt)
	return rt, routes
}

// runUntilTestEnds runs rt until the test ends, and returns once its tasks
// were started (a Reassign before that would only mark tasks).
func runUntilTestEnds(t *testing.T, rt *Runtime) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, 10*time.Second, func() error {
		rt.ctl.mu.Lock()
		defer rt.ctl.mu.Unlock()
		if !rt.ctl.running {
			return errors.New("the run has not started")
		}
		return nil
	})
}

// sentAcks records the acker operations a run sends to other nodes; the
// rest of Remote goes nowhere (these tests check what leaves this node).
type sentAcks struct {
	mu   sync.Mutex
	sent []router.AckOp
}

func (s *sentAcks) SendTuples(int32, *router.Batch) error {
	return errors.New("no network in this test")
}
func (s *sentAcks) SendAcks(_ int32, ops []router.AckOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, ops...)
	return nil
}
func (s *sentAcks) ForwardAcks(int32, []router.AckOp) error {
	return errors.New("no network in this test")
}
func (s *sentAcks) SendEndOfInput(int32, []int32) error { return nil }

func (s *sentAcks) results(root uint64) []router.AckKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	var kinds []router.AckKind
	for _, op := range s.sent {
		if op.Root == root {
			kinds = append(kinds, op.Kind)
		}
	}
	return kinds
}

// TestAHandoverThatArrivesBeforeTheAckerIsKept: the node an acker task
// leaves hands its trees over to the acker's new node, and that may arrive
// before the new node has seen the assignment. The operations are kept
// until the acker comes, so its trees complete instead of failing.
func TestAHandoverThatArrivesBeforeTheAckerIsKept(t *testing.T) {
	rt, remote := runWithNothingHere(t)
	const root, edge = 42, 0x5eed
	// The handover: the tree of root 42, owned by spout task 1.
	if err := rt.Acks([]router.AckOp{{Kind: router.AckInit, Root: root, Value: edge, Task: 1}}, transfer.AckMeta{Forwarded: true}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Reassign(map[int32]bool{3: true}, nil); err != nil {
		t.Fatal(err)
	}
	// The sink acks the last edge of the tree.
	if err := rt.Acks([]router.AckOp{{Kind: router.AckAck, Root: root, Value: edge}}, transfer.AckMeta{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		got := remote.results(root)
		if !slices.Equal(got, []router.AckKind{router.AckCompleted}) {
			return fmt.Errorf("spout task 1 was sent %v for the tree, want it completed", got)
		}
		return nil
	})
	// Nothing held for the acker fails later either.
	time.Sleep(earlyGrace + 500*time.Millisecond)
	if got := remote.results(root); !slices.Equal(got, []router.AckKind{router.AckCompleted}) {
		t.Fatalf("spout task 1 was sent %v for the tree, want it completed only", got)
	}
}

// TestHeldOperationsForAnAckerThatCameAndWentAreNotLost: an acker task
// that comes and leaves again within the grace period does not strand the
// operations held for it: they go on to its next node, or fail.
func TestHeldOperationsForAnAckerThatCameAndWentAreNotLost(t *testing.T) {
	rt, remote := runWithNothingHere(t)
	const root = 44
	if err := rt.Acks([]router.AckOp{{Kind: router.AckInit, Root: root, Value: 9, Task: 1}}, transfer.AckMeta{Forwarded: true}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Reassign(map[int32]bool{3: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := rt.Reassign(map[int32]bool{}, nil); err != nil {
		t.Fatal(err)
	}
	// Its new node cannot be reached here: the tree fails at its spout.
	waitFor(t, 10*time.Second, func() error {
		if got := remote.results(root); !slices.Equal(got, []router.AckKind{router.AckFailed}) {
			return fmt.Errorf("spout task 1 was sent %v for the tree, want it failed", got)
		}
		return nil
	})
}

// TestHeldOperationsFailWhenTheAckerDoesNotCome: operations kept for an
// acker task that does not come here after all fail their trees after
// earlyGrace, so that they replay instead of waiting for a timeout.
func TestHeldOperationsFailWhenTheAckerDoesNotCome(t *testing.T) {
	rt, remote := runWithNothingHere(t)
	const root = 43
	if err := rt.Acks([]router.AckOp{{Kind: router.AckInit, Root: root, Value: 7, Task: 1}}, transfer.AckMeta{Forwarded: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, earlyGrace+10*time.Second, func() error {
		got := remote.results(root)
		if !slices.Equal(got, []router.AckKind{router.AckFailed}) {
			return fmt.Errorf("spout task 1 was sent %v for the tree, want it failed", got)
		}
		return nil
	})
}

// runWithNothingHere runs a spout (task 1), a sink (task 2) and an acker
// (task 3), none of them on this node yet, until the test ends.
func runWithNothingHere(t *testing.T) (*Runtime, *sentAcks) {
	t.Helper()
	tp := newTopo(t, map[string]any{KeyAckers: 1}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	remote := &sentAcks{}
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(int32) bool { return false },
		Remote: remote,
	})
	if err != nil {
		t.Fatal(err)
	}
	runUntilTestEnds(t, rt)
	return rt, remote
}

// sentBatches records the size of every batch of tuples a run sends to
// other nodes.
type sentBatches struct {
	mu    sync.Mutex
	sizes []int
}

func (s *sentBatches) SendTuples(_ int32, b *router.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(b.Tuples))
	return nil
}

// waitSent waits until the batches sent hold count tuples in all, and
// returns their sizes.
func (s *sentBatches) waitSent(t *testing.T, count int) []int {
	t.Helper()
	var sizes []int
	waitFor(t, 10*time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		sum := 0
		for _, n := range s.sizes {
			sum += n
		}
		if sum < count {
			return fmt.Errorf("%d of %d tuples sent", sum, count)
		}
		sizes = slices.Clone(s.sizes)
		return nil
	})
	return sizes
}

func (s *sentBatches) SendAcks(int32, []router.AckOp) error    { return nil }
func (s *sentBatches) ForwardAcks(int32, []router.AckOp) error { return nil }
func (s *sentBatches) SendEndOfInput(int32, []int32) error     { return nil }

// TestBatchesToOtherNodesHaveTheirOwnSizeBound: batches to a task on
// another node (one network frame each) fill up to
// topology.remote.batch.size, not topology.batch.size. Linger and idle
// flushes are pushed out of the way, so only the size bound sends.
func TestBatchesToOtherNodesHaveTheirOwnSizeBound(t *testing.T) {
	const count, remoteSize = 320, 32
	tp := newTopo(t, map[string]any{
		KeyAckers: 0, KeyBatchSize: 4, KeyRemoteBatch: remoteSize,
		KeyBatchLinger: 60000, KeyIdleFlushGap: 60000,
		"test.count": count, "test.per_call": 64,
	}).
		spout("seq", "test.Seq", 1, "id").
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	remote := &sentBatches{}
	rt, err := New(tp.s, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local:  func(id int32) bool { return id == 1 }, // the spout here, the sink elsewhere
		Remote: remote,
	})
	if err != nil {
		t.Fatal(err)
	}
	runUntilTestEnds(t, rt)
	if sizes := remote.waitSent(t, count); slices.Max(sizes) != remoteSize {
		t.Fatalf("batches to the other node held %v tuples, want up to %d each, and some full", sizes, remoteSize)
	}
}
