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
// long as this node ran: a cluster whose nodes came and went under new
// names or addresses gathered one per node that left.
func TestConnectionsToANodeThatLeftAreClosed(t *testing.T) {
	t.Cleanup(func(d time.Duration) func() { return func() { gossipMendEvery = d } }(gossipMendEvery))
	gossipMendEvery = 200 * time.Millisecond
	a, b, client := twoNodes(t)
	const n = 3000
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
	// The run that sent to b goes on, on a alone, to its end.
	waitCompleted(t, acked, n, 60*time.Second)
}
