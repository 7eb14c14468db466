package node

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// checkLiveHeap samples the live heap (after a collection) every 100 ms
// for d and fails the test if it ever exceeds bound, or if executed (a
// count of tuples that got through) did not move meanwhile.
func checkLiveHeap(t *testing.T, d time.Duration, bound uint64, executed func() uint64) {
	t.Helper()
	before := executed()
	var ms runtime.MemStats
	var peak uint64
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	moved := executed() - before
	t.Logf("live heap peak %d MiB; %d tuples got through", peak>>20, moved)
	if peak > bound {
		t.Errorf("live heap reached %d MiB, want at most %d MiB", peak>>20, bound>>20)
	}
	if moved == 0 {
		t.Error("no tuple got through")
	}
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
	runUntilTestEnds(t, rt)
	checkLiveHeap(t, 2*time.Second, memoryBound, func() uint64 { return stats(rt, "slow").Counters.Executed })
}

// TestLargeTuplesAcrossNodesDoNotFillMemory: the same over a real Transfer
// stream, the slow bolt on the other node: the credit window is bounded
// by bytes too, so neither the receiver's overflow lane nor the sender
// holds more than that.
func TestLargeTuplesAcrossNodesDoNotFillMemory(t *testing.T) {
	tp := largeTupleTopology(t, 1<<20)
	w := wireRun(t, tp.s, map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "a"}) // 5: the acker
	checkLiveHeap(t, 2*time.Second, memoryBound, func() uint64 { return stats(w.rts["b"], "slow").Counters.Executed })
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
	rt := tp.newWithHub(t)
	runUntilTestEnds(t, rt)
	waitFor(t, 30*time.Second, func() error { // the process started
		if stats(rt, "sink").Counters.Executed == 0 {
			return fmt.Errorf("nothing reached the sink yet\n%s", errorsText(rt))
		}
		return nil
	})
	checkLiveHeap(t, 3*time.Second, 96<<20, func() uint64 { return stats(rt, "sink").Counters.Executed })
}
