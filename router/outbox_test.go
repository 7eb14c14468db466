package router

import (
	"fmt"
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

// TestOutboxByteBound: a batch goes out once its string and bytes values
// reach the byte bound, however few tuples it holds; numbers count
// nothing.
func TestOutboxByteBound(t *testing.T) {
	src := sdk.NewSource("c", "default", []string{"v"})
	for _, tc := range []struct {
		name     string
		values   []sdk.Value // added one tuple each
		wantSent []int       // batch sizes delivered, in order
	}{
		{"small strings wait for the count", []sdk.Value{sdk.String("ab"), sdk.String("cd"), sdk.String("ef")}, []int{3}},
		{"a string at the bound goes at once", []sdk.Value{sdk.String("0123456789"), sdk.String("x")}, []int{1}},
		{"strings that add up to the bound", []sdk.Value{sdk.String("01234"), sdk.String("56789"), sdk.String("x")}, []int{2}},
		{"bytes count too", []sdk.Value{sdk.Bytes([]byte("0123456789"))}, []int{1}},
		{"numbers do not", []sdk.Value{sdk.Int(1), sdk.Int(2), sdk.Double(3)}, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent []int
			o := NewOutbox(1, 3, time.Hour, func(_ int32, b *Batch) error {
				sent = append(sent, len(b.Tuples))
				b.Release()
				return nil
			})
			o.SetMaxBytes(10)
			for _, v := range tc.values {
				o.Batch(1, 1).AddTuple(src, 1, []sdk.Value{v}, 0)
				if err := o.Added(1); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(sent) != fmt.Sprint(tc.wantSent) {
				t.Fatalf("sent batches of %v, want %v", sent, tc.wantSent)
			}
			if err := o.FlushAll(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
