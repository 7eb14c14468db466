package node

import (
	"math/rand/v2"
	"testing"

	"github.com/gale-stream/gale/router"
)

// ackerWorkload is a stream of acker operations shaped like a topology at
// max spout pending: trees keep arriving (an INIT with the xor of two
// edges), and each completes with two ACKs that come inflight/2 and
// inflight trees later, so that about inflight trees are open at any
// time, at random roots as spouts draw them.
func ackerWorkload(trees, inflight int) []router.AckOp {
	rng := rand.New(rand.NewPCG(1, 2))
	roots := make([]uint64, trees)
	a := make([]uint64, trees)
	b := make([]uint64, trees)
	for i := range roots {
		roots[i] = rng.Uint64() | 1
		a[i], b[i] = rng.Uint64()|1, rng.Uint64()|1
	}
	ops := make([]router.AckOp, 0, 3*trees)
	for k := 0; k < trees+inflight; k++ {
		if k < trees {
			ops = append(ops, router.AckOp{Kind: router.AckInit, Root: roots[k], Value: a[k] ^ b[k], Task: 1})
		}
		if j := k - inflight/2; j >= 0 && j < trees {
			ops = append(ops, router.AckOp{Kind: router.AckAck, Root: roots[j], Value: a[j]})
		}
		if j := k - inflight + 1; j >= 0 && j < trees {
			ops = append(ops, router.AckOp{Kind: router.AckAck, Root: roots[j], Value: b[j]})
		}
	}
	return ops
}

// runAcker feeds ops to a in batches of batch operations, as its task
// does, and returns the results it sends per spout task.
func runAcker(a *acker, ops []router.AckOp, batch int, stats *taskStats) map[int32]int {
	sent := map[int32]int{}
	for len(ops) > 0 {
		n := min(batch, len(ops))
		a.process(ops[:n], 1, stats)
		ops = ops[n:]
		a.takeResults(func(task int32, ops []router.AckOp) { sent[task] += len(ops) })
	}
	return sent
}

func TestAckerCompletesEveryTreeOfAWorkload(t *testing.T) {
	const trees, inflight = 50000, 8192
	a := &acker{table: newAckerTable(2 * inflight), results: map[int32]*[]router.AckOp{}}
	var stats taskStats
	sent := runAcker(a, ackerWorkload(trees, inflight), 512, &stats)
	if a.complete != trees || a.failed != 0 || a.table.len() != 0 {
		t.Fatalf("complete %d failed %d left %d, want %d 0 0", a.complete, a.failed, a.table.len(), trees)
	}
	if len(sent) != 1 || sent[1] != trees {
		t.Fatalf("results sent per spout task %v, want %d to task 1", sent, trees)
	}
}

// BenchmarkAckerProcess measures the acker at max spout pending (8,192
// trees in flight, the table newAcker makes for it), in batches of 512
// operations: ns per operation.
func BenchmarkAckerProcess(b *testing.B) {
	const trees, inflight = 1 << 18, 8192
	ops := ackerWorkload(trees, inflight)
	a := &acker{table: newAckerTable(2 * inflight), results: map[int32]*[]router.AckOp{}}
	var stats taskStats
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(b.N-done, len(ops))
		runAcker(a, ops[:n], 512, &stats)
		done += n
		b.StopTimer()
		a.table.alloc(2 * inflight) // a cut-off workload leaves trees open
		b.StartTimer()
	}
}
