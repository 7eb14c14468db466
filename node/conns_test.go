package node

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestConnectionsToANodeThatLeftAreClosed: a node that sent tuples to
// another keeps a connection to it only while that node is in the
// cluster. Before, every node that ever exchanged tuples with this one
// kept a gRPC connection here (three goroutines and its buffers) for as
// long as this node ran, and each run that lasted a sender to it: a
// cluster whose nodes came and went under new names or addresses gathered
// one per node that left.
func TestConnectionsToANodeThatLeftAreClosed(t *testing.T) {
	t.Cleanup(func(d time.Duration) func() { return func() { gossipMendEvery = d } }(gossipMendEvery))
	gossipMendEvery = 200 * time.Millisecond
	a, b, client := twoNodes(t)
	const n = 100_000 // the run outlasts the test
	acked := slowSpread(t, client, "conns", n)
	addr := b.Addr()
	connTo := func(addr string) bool {
		a.connMu.Lock()
		defer a.connMu.Unlock()
		return a.conns[addr] != nil
	}
	waitFor(t, 10*time.Second, func() error {
		if !connTo(addr) {
			return fmt.Errorf("a has no connection to b at %s", addr)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() error {
		if connTo(addr) {
			return fmt.Errorf("a still holds its connection to b (%s), which left", addr)
		}
		a.connMu.Lock()
		defer a.connMu.Unlock()
		if _, ok := a.addrOf["b"]; ok {
			return fmt.Errorf("a still remembers b's address")
		}
		return nil
	})
	// Nor does the run that sent to b keep a sender to it.
	waitFor(t, 10*time.Second, func() error {
		a.mu.Lock()
		run := a.runs["conns"]
		a.mu.Unlock()
		if run == nil || run.routes == nil {
			return fmt.Errorf("no run of conns on a")
		}
		run.routes.mu.Lock()
		defer run.routes.mu.Unlock()
		if run.routes.senders["b"] != nil {
			return fmt.Errorf("the run on a still holds a sender to b")
		}
		return nil
	})
	// The run that sent to b goes on, on a alone.
	before := acked()
	waitFor(t, 20*time.Second, func() error {
		if done := acked() - before; done < 500 {
			return fmt.Errorf("%d more messages completed", done)
		}
		return nil
	})
}
