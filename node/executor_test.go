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
