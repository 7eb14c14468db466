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

// TestOutboxFrameGap: a destination with a frame gap gets a partial batch
// at an idle moment only when the gap has passed since its last batch or
// the batch holds the gap's minimum; otherwise the batch is due a gap
// after the last one (or at its linger bound, if later). Full batches go
// at once, destinations without a gap are unaffected, and a gap of 0
// removes the rule.
func TestOutboxFrameGap(t *testing.T) {
	src := sdk.NewSource("c", "default", []string{"n"})
	const gap = time.Hour // far longer than the test: the clock cannot pass it by itself
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, o *Outbox, add func(dest int32, n int), sent func() []int)
	}{
		{"the first partial batch goes at once, the next waits", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			add(1, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			wantSent(t, sent(), []int{1})
			add(1, 2)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			wantSent(t, sent(), []int{1})
			if dl, now := o.NextDeadline(), Nanotime(); dl < now+int64(gap)-int64(time.Minute) {
				t.Fatalf("due in %v, want about the gap (%v)", time.Duration(dl-now), gap)
			}
			mustNil(t, o.Flush(Nanotime()))
			wantSent(t, sent(), []int{1})
			mustNil(t, o.Flush(Nanotime()+int64(gap)))
			wantSent(t, sent(), []int{1, 2})
		}},
		{"a batch holding the minimum goes at an idle moment", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			add(1, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			add(1, 3)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			wantSent(t, sent(), []int{1, 3})
		}},
		{"the idle minimum of the caller counts too", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			add(1, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			add(1, 3)
			mustNil(t, o.FlushIdle(4, Nanotime()))
			wantSent(t, sent(), []int{1})
		}},
		{"a full batch goes at once", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			add(1, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			add(1, 8)
			wantSent(t, sent(), []int{1, 8})
		}},
		{"a destination without a gap is unaffected", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			add(2, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			add(2, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			wantSent(t, sent(), []int{1, 1})
		}},
		{"a gap of 0 removes the rule", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			o.SetFrameGap(1, 0, 3)
			add(1, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			add(1, 1)
			mustNil(t, o.FlushIdle(1, Nanotime()))
			wantSent(t, sent(), []int{1, 1})
		}},
		{"the linger bound still holds a batch when the gap has passed", func(t *testing.T, o *Outbox, add func(int32, int), sent func() []int) {
			o.SetFrameGap(1, time.Nanosecond, 3)
			add(1, 1)
			mustNil(t, o.Flush(Nanotime()))
			wantSent(t, sent(), nil)
			mustNil(t, o.Flush(Nanotime()+int64(time.Second)))
			wantSent(t, sent(), []int{1})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			o := NewOutbox(2, 8, time.Millisecond, func(_ int32, b *Batch) error {
				got = append(got, len(b.Tuples))
				b.Release()
				return nil
			})
			o.SetFrameGap(1, gap, 3)
			add := func(dest int32, n int) {
				for i := range n {
					o.Batch(dest, Nanotime()).AddTuple(src, 1, []sdk.Value{sdk.Int(int64(i))}, 0)
					mustNil(t, o.Added(dest))
				}
			}
			tc.steps(t, o, add, func() []int { return got })
			mustNil(t, o.FlushAll())
		})
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantSent(t *testing.T, got, want []int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent batches of %v, want %v", got, want)
	}
}

// TestOutboxPendingWithoutGap: only batches to destinations without a
// frame gap count.
func TestOutboxPendingWithoutGap(t *testing.T) {
	src := sdk.NewSource("c", "default", []string{"n"})
	o := NewOutbox(2, 8, time.Hour, func(_ int32, b *Batch) error { b.Release(); return nil })
	if o.PendingWithoutGap() {
		t.Fatal("an empty outbox has something pending")
	}
	add := func(dest int32) {
		o.Batch(dest, Nanotime()).AddTuple(src, 1, []sdk.Value{sdk.Int(1)}, 0)
		mustNil(t, o.Added(dest))
	}
	add(1)
	if !o.PendingWithoutGap() {
		t.Fatal("a batch without a gap set anywhere does not count")
	}
	o.SetFrameGap(1, time.Hour, 4)
	if o.PendingWithoutGap() {
		t.Fatal("a batch to a destination with a gap counts")
	}
	add(2)
	if !o.PendingWithoutGap() {
		t.Fatal("a batch to a destination without a gap does not count")
	}
	mustNil(t, o.FlushAll())
}
