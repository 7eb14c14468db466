package router

import (
	"testing"

	"github.com/gale-stream/gale/sdk"
)

func TestAddTupleFillsEveryField(t *testing.T) {
	src := &sdk.Source{Component: "split", Stream: "default", Fields: []string{"word", "n"}}
	b := NewBatch()
	defer b.Release()
	for round := 0; round < 2; round++ {
		// The second round reuses the released batch's memory: nothing of
		// the first may show through.
		for i := 0; i < 300; i++ { // past the arenas' first capacity
			na := i % 3
			tp := b.AddTuple(src, int32(i), []sdk.Value{sdk.String("w"), sdk.Int(int64(i))}, na)
			for j := range tp.Anchors {
				tp.Anchors[j] = sdk.Anchor{Root: uint64(i), ID: uint64(j + 1)}
			}
		}
		for i := range b.Tuples {
			tp := &b.Tuples[i]
			if tp.Source != src || tp.SourceTask != int32(i) || len(tp.Values) != 2 || tp.Values[1].Int() != int64(i) || tp.Values[0].Str() != "w" {
				t.Fatalf("round %d: tuple %d = %+v", round, i, *tp)
			}
			if len(tp.Anchors) != i%3 {
				t.Fatalf("round %d: tuple %d has %d anchors, want %d", round, i, len(tp.Anchors), i%3)
			}
			for j, a := range tp.Anchors {
				if a != (sdk.Anchor{Root: uint64(i), ID: uint64(j + 1)}) {
					t.Fatalf("round %d: tuple %d anchor %d = %+v", round, i, j, a)
				}
			}
		}
		if b.ValueBytes != 300 {
			t.Fatalf("round %d: ValueBytes %d, want 300", round, b.ValueBytes)
		}
		b.Release()
		b = NewBatch()
	}
}

// addTupleLiteral is AddTuple as it was before 2026-11-27: the tuple
// appended as a composite literal. It stays here as the benchmark's
// reference.
func (b *Batch) addTupleLiteral(src *sdk.Source, task int32, values []sdk.Value) *sdk.Tuple {
	vs := len(b.vals)
	for i := range values {
		b.vals = append(b.vals, values[i])
		s, _ := values[i].Raw()
		b.ValueBytes += len(s)
	}
	b.Tuples = append(b.Tuples, sdk.Tuple{
		Values:     b.vals[vs:len(b.vals):len(b.vals)],
		Source:     src,
		SourceTask: task,
	})
	return &b.Tuples[len(b.Tuples)-1]
}

// BenchmarkAddTuple adds one-word tuples to batches of 128, recycled as
// the runtime does, with the old composite-literal append measured in the
// same run (literal) beside AddTuple (fields).
func BenchmarkAddTuple(b *testing.B) {
	src := &sdk.Source{Component: "split", Stream: "default", Fields: []string{"word"}}
	vals := []sdk.Value{sdk.String("hello")}
	b.Run("literal", func(b *testing.B) {
		bt := NewBatch()
		for i := 0; i < b.N; i++ {
			bt.addTupleLiteral(src, 3, vals)
			if len(bt.Tuples) == 128 {
				bt.Release()
				bt = NewBatch()
			}
		}
		bt.Release()
	})
	b.Run("fields", func(b *testing.B) {
		bt := NewBatch()
		for i := 0; i < b.N; i++ {
			bt.AddTuple(src, 3, vals, 0)
			if len(bt.Tuples) == 128 {
				bt.Release()
				bt = NewBatch()
			}
		}
		bt.Release()
	})
}

func TestNewTupleGivesNullValuesAndZeroAnchors(t *testing.T) {
	src := &sdk.Source{Component: "split", Stream: "default", Fields: []string{"a", "b"}}
	b := NewBatch()
	for i := 0; i < 200; i++ {
		tp := b.AddTuple(src, 1, []sdk.Value{sdk.String("x"), sdk.Int(7)}, 2)
		tp.Anchors[0], tp.Anchors[1] = sdk.Anchor{Root: 1, ID: 2}, sdk.Anchor{Root: 3, ID: 4}
	}
	b.Release()
	b = NewBatch() // the batch just released, arenas and all
	defer b.Release()
	for i := 0; i < 300; i++ {
		tp := b.NewTuple(src, 2, 2, 2)
		if tp.Source != src || tp.SourceTask != 2 || len(tp.Values) != 2 || len(tp.Anchors) != 2 {
			t.Fatalf("tuple %d = %+v", i, *tp)
		}
		for j, v := range tp.Values {
			if v.Kind() != sdk.KindNull {
				t.Fatalf("tuple %d value %d = %v, want null", i, j, v)
			}
		}
		for j, a := range tp.Anchors {
			if a != (sdk.Anchor{}) {
				t.Fatalf("tuple %d anchor %d = %+v, want zero", i, j, a)
			}
		}
		tp.Values[0] = sdk.String("filled")
	}
	if b.ValueBytes != 0 {
		t.Fatalf("ValueBytes %d: NewTuple leaves it to the caller", b.ValueBytes)
	}
	for i := range b.Tuples {
		if b.Tuples[i].Values[0].Str() != "filled" || b.Tuples[i].Values[1].Kind() != sdk.KindNull {
			t.Fatalf("tuple %d values %v: tuples share value slots", i, b.Tuples[i].Values)
		}
	}
}
