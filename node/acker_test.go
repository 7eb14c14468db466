package node

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gale-stream/gale/router"
)

// ackerWorkload is a stream of acker operations shaped like a topology at
// max spout pending: trees keep arriving (an INIT with the xor of two
// edges), and each completes with two ACKs that come inflight/2 and
// inflight trees later, so that about inflight trees are open at any
// time. With spouts > 0 the roots are drawn as that many spout tasks
// (ids 1..spouts, taking turns) draw them, ring slots and all
// (nextRoot); with spouts == 0 they are random 53-bit numbers, as roots
// outside a ring are, and task 1 owns every tree.
func ackerWorkload(trees, inflight, spouts int) []router.AckOp {
	rng := rand.New(rand.NewPCG(1, 2))
	es := make([]*executor, spouts)
	for i := range es {
		es[i] = &executor{pending: newPendingTable(inflight), nAck: 1, rng: uint64(i) + 1, rootTask: uint64(i+1) << rootTaskShift}
	}
	owner := func(k int) int32 {
		if spouts == 0 {
			return 1
		}
		return int32(k%spouts + 1)
	}
	roots := make([]uint64, trees)
	a := make([]uint64, trees)
	b := make([]uint64, trees)
	ops := make([]router.AckOp, 0, 3*trees)
	for k := 0; k < trees+inflight; k++ {
		if k < trees {
			if spouts == 0 {
				roots[k] = rng.Uint64()>>11 | 1
			} else {
				e := es[k%spouts]
				roots[k] = e.nextRoot()
				e.pending.put(roots[k], pendingMsg{})
			}
			a[k], b[k] = rng.Uint64()|1, rng.Uint64()|1
			ops = append(ops, router.AckOp{Kind: router.AckInit, Root: roots[k], Value: a[k] ^ b[k], Task: owner(k)})
		}
		if j := k - inflight/2; j >= 0 && j < trees {
			ops = append(ops, router.AckOp{Kind: router.AckAck, Root: roots[j], Value: a[j]})
		}
		if j := k - inflight + 1; j >= 0 && j < trees {
			ops = append(ops, router.AckOp{Kind: router.AckAck, Root: roots[j], Value: b[j]})
			if spouts > 0 {
				es[j%spouts].pending.take(roots[j]) // the spout hears of it
			}
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
	for _, spouts := range []int{0, 1, 3, 16} {
		t.Run(fmt.Sprintf("spouts=%d", spouts), func(t *testing.T) {
			a := &acker{table: newAckerTable(2 * inflight), results: map[int32]*[]router.AckOp{}}
			var stats taskStats
			sent := runAcker(a, ackerWorkload(trees, inflight, spouts), 512, &stats)
			if a.complete != trees || a.failed != 0 || a.table.len() != 0 {
				t.Fatalf("complete %d failed %d left %d, want %d 0 0", a.complete, a.failed, a.table.len(), trees)
			}
			want := map[int32]int{1: trees}
			if spouts > 0 {
				want = map[int32]int{}
				for k := range trees {
					want[int32(k%spouts+1)]++
				}
			}
			if !maps.Equal(sent, want) {
				t.Fatalf("results sent per spout task %v, want %v", sent, want)
			}
		})
	}
}

// TestAckerTableGroupsConsecutiveRingSlots: the trees a spout task has in
// flight, consecutive slots of its ring, share cache lines of the acker's
// table (four to half a line of keys), and other tasks' trees at the same
// ring slots do not pile onto the same lines.
func TestAckerTableGroupsConsecutiveRingSlots(t *testing.T) {
	tb := newAckerTable(16384)
	root := func(task, slot uint64) uint64 { return task<<rootTaskShift | slot<<rootSlotShift | 12345 }
	for task := uint64(1); task <= 3; task++ {
		for g := uint64(1); g < 100; g++ {
			home := tb.slot(root(task, 4*g))
			for i := uint64(0); i < 4; i++ {
				if s := tb.slot(root(task, 4*g+i)); s != home+int(i) || home%4 != 0 {
					t.Fatalf("task %d slot %d: table slot %d, want %d (group at %d)", task, 4*g+i, s, home+int(i), home)
				}
			}
		}
	}
	same := 0
	for g := uint64(1); g < 1000; g++ {
		if tb.slot(root(1, 4*g)) == tb.slot(root(2, 4*g)) {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("%d of 999 ring groups of two tasks share a home", same)
	}
}

// BenchmarkAckerProcess measures the acker at max spout pending (8,192
// trees in flight, the table newAcker makes for it), in batches of 512
// operations: ns per operation, with roots drawn by one spout task and by
// four (ring slots, nextRoot), and random roots.
func BenchmarkAckerProcess(b *testing.B) {
	for _, bc := range []struct {
		name   string
		spouts int
	}{{"one-spout", 1}, {"four-spouts", 4}, {"random-roots", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			const trees, inflight = 1 << 18, 8192
			ops := ackerWorkload(trees, inflight, bc.spouts)
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
		})
	}
}

// TestAckerTouch: a TOUCH restarts a tracked tree's clock and tells its
// spout (ALIVE), and is dropped for a tree the acker does not track, whose
// entry it must not create (it would linger until the sweep).
func TestAckerTouch(t *testing.T) {
	a := &acker{table: newAckerTable(16), results: map[int32]*[]router.AckOp{}}
	var stats taskStats
	const tracked, unknown, failed = 11, 22, 33
	a.process([]router.AckOp{
		{Kind: router.AckInit, Root: tracked, Value: 5, Task: 7},
		{Kind: router.AckInit, Root: failed, Value: 5, Task: 7},
	}, 1, &stats)
	a.process([]router.AckOp{{Kind: router.AckFail, Root: failed}}, 1, &stats)
	a.takeResults(func(int32, []router.AckOp) {})
	a.process([]router.AckOp{
		{Kind: router.AckTouch, Root: tracked},
		{Kind: router.AckTouch, Root: unknown},
		{Kind: router.AckTouch, Root: failed},
	}, 9, &stats)
	if s := a.table.lookup(tracked); s < 0 || metaEpoch(a.table.metas[s]) != 9 || a.table.xors[s] != 5 {
		t.Fatalf("touched tree: slot %d, want its clock at epoch 9 and its xor unchanged", s)
	}
	if a.table.lookup(unknown) >= 0 || a.table.lookup(failed) >= 0 || a.table.len() != 1 {
		t.Fatalf("a touch created an entry: %d trees tracked, want 1", a.table.len())
	}
	var got []router.AckOp
	a.takeResults(func(task int32, ops []router.AckOp) { got = append(got, ops...) })
	if want := []router.AckOp{{Kind: router.AckAlive, Root: tracked, Task: 7}}; !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	// The tree still completes by its xor.
	a.process([]router.AckOp{{Kind: router.AckAck, Root: tracked, Value: 5}}, 10, &stats)
	if a.complete != 1 || a.table.len() != 0 {
		t.Fatalf("complete %d, %d tracked: want the touched tree complete", a.complete, a.table.len())
	}
}
