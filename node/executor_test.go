package node

import "testing"

// TestNextRootPicksALocalAcker: with some of the ackers on this node, a
// spout's roots map (root mod the number of ackers) to those only, spread
// evenly, and stay valid ids; with all or none here, any acker will do.
func TestNextRootPicksALocalAcker(t *testing.T) {
	cases := []struct {
		name  string
		nAck  uint64
		local []uint64
	}{
		{"one of three", 3, []uint64{1}},
		{"two of five", 5, []uint64{0, 4}},
		{"none here", 3, nil},
		{"all here", 2, []uint64{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &executor{nAck: tc.nAck, localAckers: tc.local, rng: 42}
			const n = 30000
			per := map[uint64]int{}
			for range n {
				root := e.nextRoot()
				if root == 0 || root >= 1<<53 {
					t.Fatalf("root %d out of [1, 2^53)", root)
				}
				per[root%tc.nAck]++
			}
			want := tc.local
			if len(want) == 0 {
				want = nil
				for k := range tc.nAck {
					want = append(want, k)
				}
			}
			if len(per) != len(want) {
				t.Fatalf("roots went to ackers %v, want %v", per, want)
			}
			for _, k := range want {
				share := float64(per[k]) / n
				if exp := 1 / float64(len(want)); share < exp*0.9 || share > exp*1.1 {
					t.Errorf("acker %d got %.3f of the roots, want about %.3f (%v)", k, share, exp, per)
				}
			}
		})
	}
}

// TestNextRootLayout: a spout's roots carry its task id and the ring slot
// it reserved (rootLayout), so roots of different spout tasks never
// collide; roots without a slot keep 37 random bits and a zero slot field.
func TestNextRootLayout(t *testing.T) {
	const maxTask = 1<<15 - 1
	for _, task := range []uint64{1, 2, 77, maxTask} {
		e := &executor{pending: newPendingTable(64), nAck: 3, rng: task, rootTask: task << rootTaskShift}
		seen := map[uint64]bool{}
		for i := range 200 {
			root := e.nextRoot()
			if root == 0 || root >= 1<<53 {
				t.Fatalf("task %d: root %d out of [1, 2^53)", task, root)
			}
			slot := rootSlot(root)
			if i < 127 && slot == 0 {
				t.Fatalf("task %d: root %d of the %dth tree has no ring slot", task, root, i)
			}
			if slot != 0 {
				if got := root >> rootTaskShift; got != task {
					t.Fatalf("task %d: root %d carries task %d", task, root, got)
				}
				if e.pending.ring[slot].root != 0 || seen[slot] && i < 127 {
					t.Fatalf("task %d: root %d names slot %d, not a free one", task, root, slot)
				}
				seen[slot] = true
				e.pending.put(root, pendingMsg{})
			}
		}
	}
	// No ring (unbounded pending): random bits around a zero slot field.
	e := &executor{pending: newPendingTable(0), nAck: 1, rng: 9, rootTask: 5 << rootTaskShift}
	var orTask uint64
	for range 1000 {
		root := e.nextRoot()
		if rootSlot(root) != 0 || root == 0 || root >= 1<<53 {
			t.Fatalf("root %d without a ring: want a zero slot field, in [1, 2^53)", root)
		}
		orTask |= root >> rootTaskShift
	}
	if orTask != 1<<15-1 {
		t.Fatalf("the task bits of roots without a ring are not random (or of all: %b)", orTask)
	}
}
