package transfer

import (
	"errors"
	"math"
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

func TestPackedRoundTripsEveryKind(t *testing.T) {
	src := sdk.NewSource("c", "s", []string{"a", "b", "c", "d", "e", "f"})
	sources := func(task int32, stream string) *sdk.Source {
		switch {
		case stream == "s":
			return src
		case stream == "odd":
			return srcOdd
		}
		return nil
	}
	b := router.NewBatch()
	defer b.Release()
	rows := [][]sdk.Value{
		{sdk.String("héllo"), sdk.Int(-5), sdk.Double(math.Copysign(0, -1)), sdk.Bool(true), sdk.Bytes([]byte{0, 1, 2}), sdk.Null()},
		{sdk.String(""), sdk.Int(math.MaxInt64), sdk.DoubleBits(0x7ff8000000000001), sdk.Bool(false), sdk.Bytes(nil), sdk.String(string(make([]byte, 300)))},
	}
	for i, r := range rows {
		tp := b.AddTuple(src, 4, r, i)
		for j := range tp.Anchors {
			tp.Anchors[j] = sdk.Anchor{Root: 11, ID: 22}
		}
	}
	b.AddTuple(srcOdd, 2, []sdk.Value{sdk.Int(9)}, 0)
	p := &galev1.PackedTuples{}
	appendPackedMessage(p, 7, b)
	got := router.NewBatch()
	defer got.Release()
	if err := DecodePacked(p, sources, func(dest int32) *router.Batch {
		if dest != 7 {
			t.Fatalf("dest %d", dest)
		}
		return got
	}); err != nil {
		t.Fatal(err)
	}
	if len(got.Tuples) != 3 {
		t.Fatalf("%d tuples", len(got.Tuples))
	}
	for i, r := range rows {
		tp := got.Tuples[i]
		for j, v := range r {
			if !tp.Values[j].Equal(v) {
				t.Fatalf("tuple %d value %d = %v (%v), want %v (%v)", i, j, tp.Values[j], tp.Values[j].Kind(), v, v.Kind())
			}
		}
		if len(tp.Anchors) != i || tp.SourceTask != 4 || tp.Source != src {
			t.Fatalf("tuple %d: %+v", i, tp)
		}
	}
	if got.Tuples[2].Source != srcOdd || got.Tuples[2].Int(0) != 9 {
		t.Fatalf("odd tuple %+v", got.Tuples[2])
	}
}

func TestPackedRejectsBadFrames(t *testing.T) {
	good := func() *galev1.PackedTuples {
		b := router.NewBatch()
		defer b.Release()
		b.AddTuple(srcOdd, 2, []sdk.Value{sdk.String("abc")}, 0)
		p := &galev1.PackedTuples{}
		appendPackedMessage(p, 1, b)
		return p
	}
	sources := func(int32, string) *sdk.Source { return srcOdd }
	cases := map[string]func(p *galev1.PackedTuples){
		"ragged columns":  func(p *galev1.PackedTuples) { p.DestTasks = nil },
		"stream index":    func(p *galev1.PackedTuples) { p.Streams[0] = 9 },
		"value count":     func(p *galev1.PackedTuples) { p.ValueCounts[0] = 2 },
		"truncated value": func(p *galev1.PackedTuples) { p.Values = p.Values[:2] },
		"extra bytes":     func(p *galev1.PackedTuples) { p.Values = append(p.Values, 0) },
		"bad kind":        func(p *galev1.PackedTuples) { p.Values[0] = 99 },
		"anchors missing": func(p *galev1.PackedTuples) { p.AnchorCounts[0] = 1 },
		"roots vs edges":  func(p *galev1.PackedTuples) { p.Roots = []uint64{1} },
		"both encodings": func(p *galev1.PackedTuples) {
			p.AnchorCounts[0] = 1
			p.Roots, p.Edges, p.FixedRoots, p.FixedEdges = []uint64{1}, []uint64{2}, []uint64{1}, []uint64{2}
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			p := good()
			breakIt(p)
			b := router.NewBatch()
			defer b.Release()
			err := DecodePacked(p, sources, func(int32) *router.Batch { return b })
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("DecodePacked = %v, want ErrBadFrame", err)
			}
		})
	}
}

func FuzzDecodePacked(f *testing.F) {
	f.Add([]byte{1, 3, 'a', 'b', 'c'}, uint32(1))
	f.Add([]byte{2, 1, 2, 3, 4, 5, 6, 7, 8}, uint32(1))
	f.Fuzz(func(t *testing.T, values []byte, count uint32) {
		p := &galev1.PackedTuples{SourceTasks: []int32{2}, DestTasks: []int32{1}, Streams: []uint32{0},
			StreamNames: []string{"odd"}, ValueCounts: []uint32{count % 4}, Values: values, AnchorCounts: []uint32{0}}
		b := router.NewBatch()
		defer b.Release()
		_ = DecodePacked(p, func(int32, string) *sdk.Source { return srcOdd }, func(int32) *router.Batch { return b })
	})
}
