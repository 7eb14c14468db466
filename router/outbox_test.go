package router

import (
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

func TestOutboxSizeBoundsPerDestination(t *testing.T) {
	src := sdk.NewSource("c", "default", []string{"n"})
	for _, tc := range []struct {
		name     string
		set      map[int32]int // SetMaxSize calls
		dest     int32
		add      int
		wantSent []int // batch sizes delivered, in order
	}{
		{"the default bound", nil, 1, 5, []int{2, 2}},
		{"a larger bound for one destination", map[int32]int{3: 4}, 3, 9, []int{4, 4}},
		{"others keep the default", map[int32]int{3: 4}, 2, 4, []int{2, 2}},
		{"a bound below one is one", map[int32]int{1: 0}, 1, 3, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent []int
			o := NewOutbox(3, 2, time.Hour, func(_ int32, b *Batch) error {
				sent = append(sent, len(b.Tuples))
				b.Release()
				return nil
			})
			for d, n := range tc.set {
				o.SetMaxSize(d, n)
			}
			for i := range tc.add {
				o.Batch(tc.dest, 1).AddTuple(src, 1, []sdk.Value{sdk.Int(int64(i))}, 0)
				if err := o.Added(tc.dest); err != nil {
					t.Fatal(err)
				}
			}
			if len(sent) != len(tc.wantSent) {
				t.Fatalf("sent batches of %v, want %v", sent, tc.wantSent)
			}
			for i := range sent {
				if sent[i] != tc.wantSent[i] {
					t.Fatalf("sent batches of %v, want %v", sent, tc.wantSent)
				}
			}
			if err := o.FlushAll(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
