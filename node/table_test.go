package node

import (
	"math/rand/v2"
	"testing"
)

// TestPendingTableMatchesAMap drives pending tables of several sizes with
// roots drawn as a spout draws them (nextRoot) through puts and takes in
// random order, beyond the initial capacity too (a spout may emit many
// tuples per NextTuple call, and an unbounded limit starts small), and
// checks every answer against a plain map.
func TestPendingTableMatchesAMap(t *testing.T) {
	cases := []struct {
		name       string
		maxPending int
		inFlight   int // how many trees the test keeps pending at most
	}{
		{"small", 8, 8},
		{"small overfull", 8, 200},
		{"default", 8192, 8192},
		{"default overfull", 8192, 20000},
		{"unbounded", 0, 5000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := newPendingTable(tc.maxPending)
			e := &executor{nAck: 3, localAckers: []uint64{1}, rng: 7}
			rng := rand.New(rand.NewPCG(1, 2))
			want := map[uint64]pendingMsg{}
			var roots []uint64
			for i := range 200000 {
				if len(roots) < tc.inFlight && (len(roots) == 0 || rng.IntN(2) == 0) {
					root := e.nextRoot()
					if root == 0 || root >= 1<<53 || root%3 != 1 {
						t.Fatalf("root %d: want in [1, 2^53) and acker 1 of 3", root)
					}
					if _, dup := want[root]; dup {
						t.Fatalf("root %d drawn twice while pending", root)
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
		})
	}
}

// BenchmarkPendingTable: a spout's pending table with 8,192 trees in
// flight that complete in order, one put and one take per tree (and the
// drawing of its root). 50-55 ns per tree here on 2026-11-27; a ring
// indexed by a slot in the root took 9-11 ns (branch try/pending-ring).
func BenchmarkPendingTable(b *testing.B) {
	const inFlight = 8192
	tb := newPendingTable(inFlight)
	e := &executor{nAck: 1, rng: 5}
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
}
