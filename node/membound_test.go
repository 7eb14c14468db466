package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// liveHeapPeak samples the live heap (after a collection) every 100 ms for
// d and returns the largest, with how many tuples the slow bolt executed
// meanwhile (so a test can tell that the run was moving).
func liveHeapPeak(t *testing.T, d time.Duration, executed func() uint64) (peak uint64, moved uint64) {
	t.Helper()
	before := executed()
	var ms runtime.MemStats
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	return peak, executed() - before
}

// largeTupleTopology: a spout of ids -> a bolt that makes each a tuple of
// test.pad_bytes -> a slow bolt (1 ms a tuple) -> a sink. The pad bolt
// makes tuples hundreds of times faster than the slow bolt takes them, so
// the slow bolt's queue is full all the time.
func largeTupleTopology(t *testing.T, padBytes int) *topo {
	return newTopo(t, map[string]any{
		KeyAckers: 1, "test.count": 1 << 20, "test.pad_bytes": padBytes,
	}).
		spout("seq", "test.Seq", 1, "id").                                // task 1
		bolt("pad", "test.Pad", 1, []string{"id", "pad"}, "seq:shuffle"). // task 2
		bolt("slow", "test.Pass", 1, []string{"id"}, "pad:shuffle").      // task 3
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").                // task 4
		conf("slow", map[string]any{"test.sleep": 1})
}

// memoryBound is what the tests below allow the live heap: the byte
// bounds of the queues and credit windows (DefaultSettings) with room for
// the rest of the test process. Counted in tuples alone, a queue of 64
// batches of 128 tuples of 1 MiB holds 8 GiB.
const memoryBound = 192 << 20

// TestLargeTuplesDoNotFillMemory: a fast producer of 1 MiB tuples in front
// of a slow bolt, in one process. Its queue and the producer's spout are
// held back by bytes, not only by counts of tuples and batches, so the
// live heap stays within the bounds; before, it grew by about a gigabyte a
// second until the process ran out of memory.
func TestLargeTuplesDoNotFillMemory(t *testing.T) {
	tp := largeTupleTopology(t, 1<<20)
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("the run did not stop")
		}
	}()
	peak, moved := liveHeapPeak(t, 2*time.Second, func() uint64 { return stats(rt, "slow").Counters.Executed })
	t.Logf("live heap peak %d MiB; the slow bolt executed %d tuples", peak>>20, moved)
	if peak > memoryBound {
		t.Errorf("live heap reached %d MiB, want at most %d MiB", peak>>20, memoryBound>>20)
	}
	if moved == 0 {
		t.Error("the slow bolt executed nothing")
	}
}

// TestLargeTuplesAcrossNodesDoNotFillMemory: the same over a real Transfer
// stream, the slow bolt on the other node: the credit window is bounded
// by bytes too, so neither the receiver's overflow lane nor the sender
// holds more than that.
func TestLargeTuplesAcrossNodesDoNotFillMemory(t *testing.T) {
	tp := largeTupleTopology(t, 1<<20)
	w := wireRun(t, tp.s, map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "a"}) // 5: the acker
	peak, moved := liveHeapPeak(t, 2*time.Second, func() uint64 { return stats(w.rts["b"], "slow").Counters.Executed })
	t.Logf("live heap peak %d MiB (both nodes); the slow bolt executed %d tuples", peak>>20, moved)
	if peak > memoryBound {
		t.Errorf("live heap reached %d MiB, want at most %d MiB", peak>>20, memoryBound>>20)
	}
	if moved == 0 {
		t.Error("the slow bolt executed nothing")
	}
}

// TestLargeTuplesToASlowProcessDoNotFillMemory: 1 MiB tuples to an
// external bolt that takes 20 ms each. The node sends a process inputs
// while it holds fewer than topology.external.max.inflight of them and
// fewer bytes than topology.external.max.inflight.bytes (8 MiB here);
// counted alone, up to 2,048 inputs of 1 MiB waited in the node's send
// queue, which grew by about 80 MiB a second.
func TestLargeTuplesToASlowProcessDoNotFillMemory(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyAckers: 1, "test.count": 1 << 20, "test.pad_bytes": 1 << 20}).
		spout("seq", "test.Seq", 1, "id").
		bolt("pad", "test.Pad", 1, []string{"id", "pad"}, "seq:shuffle").
		ext("slow", galev1.ComponentKind_COMPONENT_KIND_BOLT, 1, "slow", nil, "pad").
		bolt("sink", "test.Sink", 1, nil, "slow:shuffle").
		conf("slow", map[string]any{KeyExternalMaxBytes: 8 << 20})
	hub, addr := attachServer(t)
	rt, err := New(tp.s, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Attach: hub, AttachAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the run did not stop")
		}
	}()
	waitFor(t, 30*time.Second, func() error { // the process started
		if stats(rt, "sink").Counters.Executed == 0 {
			return fmt.Errorf("nothing reached the sink yet\n%s", errorsText(rt))
		}
		return nil
	})
	const bound = 96 << 20
	peak, moved := liveHeapPeak(t, 3*time.Second, func() uint64 { return stats(rt, "sink").Counters.Executed })
	t.Logf("live heap peak %d MiB; the slow process passed on %d tuples", peak>>20, moved)
	if peak > bound {
		t.Errorf("live heap reached %d MiB, want at most %d MiB", peak>>20, bound>>20)
	}
	if moved == 0 {
		t.Error("the slow process passed nothing on")
	}
}
