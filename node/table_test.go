package node

import (
	"math/rand/v2"
	"testing"
)

// TestPendingTableMatchesAMap drives pending tables of several sizes with
// roots drawn as a spout draws them (nextRoot, which reserves ring slots)
// through puts and takes in random order, beyond the pending limit too
// (a spout may emit many tuples per NextTuple call), and checks every
// answer against a plain map.
func TestPendingTableMatchesAMap(t *testing.T) {
	cases := []struct {
		name       string
		maxPending int
		inFlight   int // how many trees the test keeps pending at most
		wantRing   bool
	}{
		{"small ring", 8, 8, true},
		{"small ring overfull", 8, 200, true},
		{"default ring", 8192, 8192, true},
		{"default ring overfull", 8192, 20000, true},
		{"largest ring", maxRingSlots / 2, 5000, true},
		{"no ring above the largest", maxRingSlots, 5000, false},
		{"no ring when unbounded", 0, 5000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := newPendingTable(tc.maxPending)
			if (tb.ring != nil) != tc.wantRing {
				t.Fatalf("ring %v, want %v", tb.ring != nil, tc.wantRing)
			}
			e := &executor{pending: tb, nAck: 3, localAckers: []uint64{1}, rng: 7}
			rng := rand.New(rand.NewPCG(1, 2))
			want := map[uint64]pendingMsg{}
			var roots []uint64
			inRing := 0
			for i := range 200000 {
				if len(roots) < tc.inFlight && (len(roots) == 0 || rng.IntN(2) == 0) {
					root := e.nextRoot()
					if root == 0 || root >= 1<<53 || root%3 != 1 {
						t.Fatalf("root %d: want in [1, 2^53) and acker 1 of 3", root)
					}
					if _, dup := want[root]; dup {
						t.Fatalf("root %d drawn twice while pending", root)
					}
					if tb.slotOf(root) != 0 {
						inRing++
					}
					m := pendingMsg{msgID: uint64(i), start: int64(i)}
					tb.put(root, m)
					want[root] = m
					roots = append(roots, root)
				} else {
					// Mostly in order, as trees complete, with some jumping ahead.
					j := 0
					if rng.IntN(4) == 0 {
						j = rng.IntN(len(roots))
					}
					root := roots[j]
					roots = append(roots[:j], roots[j+1:]...)
					got, ok := tb.take(root)
					if !ok || got != want[root] {
						t.Fatalf("take(%d) = %v, %v; want %v", root, got, ok, want[root])
					}
					delete(want, root)
					if _, ok := tb.take(root); ok {
						t.Fatalf("take(%d) twice succeeded", root)
					}
				}
				if rng.IntN(1000) == 0 {
					if _, ok := tb.take(e.nextID()); ok {
						t.Fatal("take of a root never put succeeded")
					}
				}
				if tb.len() != len(want) {
					t.Fatalf("len %d, want %d", tb.len(), len(want))
				}
			}
			seen := 0
			tb.each(func(k uint64, v pendingMsg) {
				if want[k] != v {
					t.Fatalf("each: %d -> %v, want %v", k, v, want[k])
				}
				seen++
			})
			if seen != len(want) {
				t.Fatalf("each saw %d entries, want %d", seen, len(want))
			}
			if tc.wantRing && tc.inFlight <= tc.maxPending && inRing == 0 {
				t.Fatal("no root went to the ring")
			}
			if !tc.wantRing && inRing != 0 {
				t.Fatalf("%d roots named ring slots in a table without a ring", inRing)
			}
		})
	}
}

// TestPendingRingTakesRootsInTheirSlot: within the pending limit, every
// root a spout draws names a free ring slot of its own, also when the
// cursor comes round to a slot still held by a slow tree.
func TestPendingRingTakesRootsInTheirSlot(t *testing.T) {
	tb := newPendingTable(64)
	e := &executor{pending: tb, nAck: 1, rng: 3}
	slow := e.nextRoot() // never completes in this test
	tb.put(slow, pendingMsg{msgID: slow})
	var roots []uint64
	for range 10000 {
		if len(roots) == 63 {
			if _, ok := tb.take(roots[0]); !ok {
				t.Fatalf("take(%d) failed", roots[0])
			}
			roots = roots[1:]
		}
		root := e.nextRoot()
		if s := tb.slotOf(root); s == 0 || s == tb.slotOf(slow) {
			t.Fatalf("root %d got slot %d with %d of 64 pending (the slow tree holds %d)", root, s, tb.len(), tb.slotOf(slow))
		}
		tb.put(root, pendingMsg{msgID: root})
		roots = append(roots, root)
	}
	if tb.n != 0 {
		t.Fatalf("hash part holds %d roots", tb.n)
	}
	if m, ok := tb.take(slow); !ok || m.msgID != slow {
		t.Fatal("the slow tree was lost")
	}
}

// BenchmarkPendingTable: a spout's pending table with 8,192 trees in
// flight that complete in order, one put and one take per tree, with the
// ring and with the hash part alone.
func BenchmarkPendingTable(b *testing.B) {
	for _, bc := range []struct {
		name string
		ring bool
	}{{"ring", true}, {"hash", false}} {
		b.Run(bc.name, func(b *testing.B) {
			const inFlight = 8192
			tb := newPendingTable(inFlight)
			if !bc.ring {
				tb = newPendingTable(0)
			}
			e := &executor{pending: tb, nAck: 1, rng: 5}
			roots := make([]uint64, inFlight)
			for i := range roots {
				roots[i] = e.nextRoot()
				tb.put(roots[i], pendingMsg{msgID: uint64(i)})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % inFlight
				if _, ok := tb.take(roots[j]); !ok {
					b.Fatal("missing root")
				}
				roots[j] = e.nextRoot()
				tb.put(roots[j], pendingMsg{msgID: uint64(i)})
			}
		})
	}
}
