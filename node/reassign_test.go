package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return rt, routes
}
