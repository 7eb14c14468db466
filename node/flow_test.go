package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// wiredRun is one topology run split over in-process "nodes" that talk
// through the real data plane: a gRPC server with a transfer.Server per
// node on a 127.0.0.1 socket, and remoteRoutes with transfer.Senders
// between them. Unlike the Peer tests, the placement of every task is
// chosen by the test, so that flows can be arranged to cross.
type wiredRun struct {
	rts    map[string]*Runtime
	routes map[string]*remoteRoutes
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	errs   map[string]error
}

// wireRun starts spec as one run over the nodes named in place (task id
// -> node name; every task must be placed).
func wireRun(t *testing.T, spec *galev1.TopologySpec, place map[int32]string) *wiredRun {
	t.Helper()
	const runID = "wired-1"
	nodes := map[string]bool{}
	for _, n := range place {
		nodes[n] = true
	}
	addrs := map[string]string{}
	servers := map[string]*transfer.Server{}
	var grpcServers []*grpc.Server
	for n := range nodes {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(transfer.ServerOptions()...) // as a Peer's port
		ts := transfer.NewServer()
		galev1.RegisterTransferServiceServer(srv, ts)
		go srv.Serve(lis)
		grpcServers = append(grpcServers, srv)
		addrs[n], servers[n] = lis.Addr().String(), ts
	}
	var connMu sync.Mutex
	var conns []*grpc.ClientConn
	dial := func(node string) (*grpc.ClientConn, error) {
		addr := addrs[node]
		if addr == "" {
			return nil, fmt.Errorf("%w: no node %s", transfer.ErrUnavailable, node)
		}
		c, err := grpc.NewClient(addr, append(transfer.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			return nil, err
		}
		connMu.Lock()
		conns = append(conns, c)
		connMu.Unlock()
		return c, nil
	}
	w := &wiredRun{rts: map[string]*Runtime{}, routes: map[string]*remoteRoutes{}, done: make(chan struct{}), errs: map[string]error{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for n := range nodes {
		routes := newRemoteRoutes(n, dial, runID, place)
		rt, err := New(spec, Options{ID: runID, Logger: log, Local: func(id int32) bool { return place[id] == n }, Remote: routes})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rt.tasks) - 1; got != len(place) {
			t.Fatalf("the topology has %d tasks, %d placed", got, len(place))
		}
		routes.rt = rt
		servers[n].Register(runID, rt)
		w.rts[n], w.routes[n] = rt, routes
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	var wg sync.WaitGroup
	for n, rt := range w.rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := rt.Run(ctx)
			w.mu.Lock()
			w.errs[n] = err
			w.mu.Unlock()
		}()
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		cancel()
		for _, r := range w.routes {
			r.abort() // senders blocked on a stalled peer must not hold the stop
		}
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			t.Error("the runs did not stop")
		}
		for n, r := range w.routes {
			servers[n].Unregister(runID)
			r.close()
		}
		for _, s := range grpcServers {
			s.Stop()
		}
		connMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connMu.Unlock()
	})
	return w
}

// TestCrossingFlowsDoNotDeadlock arranges the flows of one topology to
// cross between two nodes in both directions, with the smallest queues
// and batches: spouts on b -> pass bolts on a -> sinks on b, with the
// acker on a, so b sends a both tuples (to the pass bolts) and acks (from
// the sinks), and a sends b tuples (to the sinks) and acker results (to
// the spouts). With one Transfer stream per pair of nodes that stops
// being read while one destination queue is full, the pass bolts wait
// for the sinks, the sinks for their acks to a, and those acks queue
// behind tuples for the pass bolts: nothing moves. Flow control per
// destination task and acks that never wait behind tuples let it finish.
func TestCrossingFlowsDoNotDeadlock(t *testing.T) {
	const n = 10000
	tp := newTopo(t, map[string]any{
		"test.count": n, KeyQueueSize: 1, KeyBatchSize: 1, KeyRemoteBatch: 1, KeyAckers: 1,
		KeyMaxSpoutPend: n, KeyMessageTimeout: 60,
	}).
		spout("seq", "test.Seq", 2, "id").                           // tasks 1, 2
		bolt("pass", "test.Pass", 2, []string{"id"}, "seq:shuffle"). // tasks 3, 4
		bolt("sink", "test.Sink", 2, nil, "pass:shuffle")            // tasks 5, 6
	place := map[int32]string{1: "b", 2: "b", 3: "a", 4: "a", 5: "b", 6: "b", 7: "a"} // 7: the acker
	w := wireRun(t, tp.s, place)
	st := stateFor(t)
	last, stalled := -1, 0
	waitFor(t, 60*time.Second, func() error {
		st.mu.Lock()
		acked, failed := len(st.acked), len(st.failed)
		st.mu.Unlock()
		if acked == n {
			return nil
		}
		// Report a stall as what it is when the deadline comes.
		if acked == last {
			stalled++
		} else {
			last, stalled = acked, 0
		}
		if stalled > 0 {
			return fmt.Errorf("stalled at %d of %d messages acked (%d failed) for %d polls", acked, n, failed, stalled)
		}
		return errors.New("still running")
	})
	// Every spout and bolt ran to its end on both nodes.
	waitFor(t, 10*time.Second, func() error {
		for name, rt := range w.rts {
			if !rt.Finished() {
				return fmt.Errorf("node %s: tasks have not finished", name)
			}
		}
		return nil
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := int64(0); i < n; i++ {
		if st.sunk[i] < 1 {
			t.Fatalf("id %d never reached a sink", i)
		}
	}
}

// noCredit is a transfer.Credits for tests that inject batches.
type noCredit struct{}

func (noCredit) Return(int32, int, int) {}

// TestRepeatedMarkersCountOnce: markers from other nodes are sent again
// on every new stream, so a task may see one twice; it must still wait
// for the marker of every upstream task before it ends.
func TestRepeatedMarkersCountOnce(t *testing.T) {
	tp := newTopo(t, map[string]any{"test.count": 1 << 40}).
		spout("seq", "test.Seq", 3, "id"). // tasks 1-3, kept inactive
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rt.SetActive(false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	const sink = 4
	for _, from := range []int32{1, 1, 2} {
		if err := rt.EndOfInput(from, []int32{sink}); err != nil {
			t.Fatal(err)
		}
	}
	// A tuple behind the markers: the sink executes it only if it did not
	// take the repeated marker for task 3's.
	b := router.NewBatch()
	b.AddTuple(rt.tasks[1].comp.streams["default"].src, 1, []sdk.Value{sdk.Int(42)}, 0)
	if err := rt.Deliver(sink, b, noCredit{}); err != nil {
		t.Fatal(err)
	}
	st := stateFor(t)
	waitFor(t, 10*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.sunk[42] != 1 {
			return errors.New("the sink ended before the tuple behind the markers")
		}
		return nil
	})
	if rt.tasks[sink].done.Load() {
		t.Fatal("the sink ended with task 3's marker missing")
	}
	if err := rt.EndOfInput(3, []int32{sink}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if !rt.tasks[sink].done.Load() {
			return errors.New("the sink has not ended after every marker came")
		}
		return nil
	})
}
