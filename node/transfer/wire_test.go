package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// appendPackedMessage is the reference for the packed encoding: it builds
// the PackedTuples message, column by column, that encoder.appendPacked
// writes the bytes of.
func appendPackedMessage(p *galev1.PackedTuples, dest int32, b *router.Batch) {
	for i := range b.Tuples {
		t := &b.Tuples[i]
		p.SourceTasks = append(p.SourceTasks, t.SourceTask)
		p.DestTasks = append(p.DestTasks, dest)
		idx := -1
		for j, s := range p.StreamNames {
			if s == t.Source.Stream {
				idx = j
			}
		}
		if idx < 0 {
			p.StreamNames = append(p.StreamNames, t.Source.Stream)
			idx = len(p.StreamNames) - 1
		}
		p.Streams = append(p.Streams, uint32(idx))
		p.ValueCounts = append(p.ValueCounts, uint32(len(t.Values)))
		for _, v := range t.Values {
			p.Values = appendValue(p.Values, v)
		}
		p.AnchorCounts = append(p.AnchorCounts, uint32(len(t.Anchors)))
		for _, a := range t.Anchors {
			p.FixedRoots = append(p.FixedRoots, a.Root)
			p.FixedEdges = append(p.FixedEdges, a.ID)
		}
	}
}

// ackMessage is the reference for the acks encoding.
func ackMessage(ops []router.AckOp, meta AckMeta) *galev1.AckBatch {
	ab := &galev1.AckBatch{BacklogNanos: int64(meta.Backlog), Forwarded: meta.Forwarded}
	for _, op := range ops {
		ab.Kinds = append(ab.Kinds, galev1.AckKind(op.Kind))
		ab.FixedRoots = append(ab.FixedRoots, op.Root)
		ab.FixedValues = append(ab.FixedValues, op.Value)
		ab.Tasks = append(ab.Tasks, op.Task)
	}
	return ab
}

var srcAll = sdk.NewSource("c", "s", []string{"a", "b", "c", "d", "e", "f"})

func testSources(task int32, stream string) *sdk.Source {
	switch stream {
	case "s":
		return srcAll
	case "odd":
		return srcOdd
	case "default":
		return srcWords
	}
	return nil
}

// wireBatches are batches covering what the encoding must carry.
func wireBatches() map[string]*router.Batch {
	every := router.NewBatch()
	rows := [][]sdk.Value{
		{sdk.String("héllo"), sdk.Int(-5), sdk.Double(math.Copysign(0, -1)), sdk.Bool(true), sdk.Bytes([]byte{0, 1, 2}), sdk.Null()},
		{sdk.String(""), sdk.Int(math.MaxInt64), sdk.DoubleBits(0x7ff8000000000001), sdk.Bool(false), sdk.Bytes(nil), sdk.String(string(make([]byte, 300)))},
	}
	for i, r := range rows {
		tp := every.AddTuple(srcAll, 4, r, i+1)
		for j := range tp.Anchors {
			tp.Anchors[j] = sdk.Anchor{Root: math.MaxUint64 - uint64(j), ID: 1 << 63}
		}
	}
	every.AddTuple(srcOdd, -3, []sdk.Value{sdk.Int(9)}, 0) // a negative task takes 10 bytes
	every.AddTuple(srcWords, 2, []sdk.Value{sdk.String("w"), sdk.Int(1)}, 2)

	unanchored := router.NewBatch()
	for i := 0; i < 128; i++ {
		unanchored.AddTuple(srcOdd, int32(i), []sdk.Value{sdk.Int(int64(i))}, 0)
	}
	return map[string]*router.Batch{"every kind": every, "unanchored": unanchored, "anchored": batchOf(0, 128, srcWords, true)}
}

func TestEncodedFramesMatchProtoMarshal(t *testing.T) {
	e := new(encoder)
	for name, b := range wireBatches() {
		t.Run(name, func(t *testing.T) {
			defer b.Release()
			for _, dest := range []int32{7, 300} { // one-byte and two-byte varints
				want := &galev1.TransferRequest{Frame: &galev1.TransferRequest_Packed{Packed: &galev1.PackedTuples{}}}
				appendPackedMessage(want.GetPacked(), dest, b)
				wantBytes, err := proto.Marshal(want)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // the second time with the encoder's buffers in use
					got, err := proto.Marshal(e.packedFrame(dest, b))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, wantBytes) {
						t.Fatalf("dest %d: encoded frame differs from proto.Marshal's:\n got %x\nwant %x", dest, got, wantBytes)
					}
				}
			}
		})
	}
	acks := []router.AckOp{
		{Kind: router.AckInit, Root: math.MaxUint64, Value: 1 << 52, Task: 3},
		{Kind: router.AckAck, Root: 1, Value: 0, Task: 0},
		{Kind: router.AckFailed, Root: 99, Value: 5, Task: -1},
	}
	for _, tc := range []struct {
		name string
		ops  []router.AckOp
		meta AckMeta
	}{
		{"ops", acks, AckMeta{}},
		{"ops with meta", acks, AckMeta{Backlog: 3 * time.Second, Forwarded: true}},
		{"meta only", nil, AckMeta{Backlog: time.Millisecond}},
		{"empty", nil, AckMeta{}},
	} {
		t.Run("acks/"+tc.name, func(t *testing.T) {
			want, err := proto.Marshal(&galev1.TransferRequest{Frame: &galev1.TransferRequest_Acks{Acks: ackMessage(tc.ops, tc.meta)}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := proto.Marshal(e.acksFrame(tc.ops, tc.meta))
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "empty" {
				// TransferFrame has no oneof to say an empty batch is
				// there: the frame is empty, and carries nothing either.
				want = nil
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded frame differs from proto.Marshal's:\n got %x\nwant %x", got, want)
			}
			var c ackColumns
			if err := c.parse(e.acksFrame(tc.ops, tc.meta).GetAcks()); err != nil {
				t.Fatal(err)
			}
			ops, err := c.ops(nil)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ops) != fmt.Sprint(tc.ops[:len(ops)]) || len(ops) != len(tc.ops) ||
				time.Duration(c.backlog) != tc.meta.Backlog || c.forwarded != tc.meta.Forwarded {
				t.Fatalf("decoded %v %v %v, want %v %+v", ops, c.backlog, c.forwarded, tc.ops, tc.meta)
			}
		})
	}
}

// decodeBoth decodes one packed encoding with the wire decoder and, through
// proto.Unmarshal, with the message path; it returns both results as text.
func decodeBoth(t *testing.T, enc []byte) (wire, message string, wireErr, messageErr error) {
	t.Helper()
	show := func(decode func(batchFor func(int32) *router.Batch) error) (string, error) {
		batches := map[int32]*router.Batch{}
		err := decode(func(dest int32) *router.Batch {
			if batches[dest] == nil {
				batches[dest] = router.NewBatch()
			}
			return batches[dest]
		})
		var out bytes.Buffer
		for dest := range int32(16) {
			if b := batches[dest]; b != nil {
				for _, tp := range b.Tuples {
					fmt.Fprintf(&out, "%d<-%d %s %v %v\n", dest, tp.SourceTask, tp.Source.Stream, tp.Values, tp.Anchors)
				}
			}
		}
		for _, b := range batches {
			b.Release()
		}
		return out.String(), err
	}
	var c packedColumns
	wire, wireErr = show(func(batchFor func(int32) *router.Batch) error {
		if err := c.parse(enc); err != nil {
			return err
		}
		_, err := c.decode(testSources, batchFor)
		return err
	})
	var p galev1.PackedTuples
	message, messageErr = show(func(batchFor func(int32) *router.Batch) error {
		if err := proto.Unmarshal(enc, &p); err != nil {
			return err
		}
		return DecodePacked(&p, testSources, batchFor)
	})
	return wire, message, wireErr, messageErr
}

func TestWireDecoderReadsAnyValidEncoding(t *testing.T) {
	// Tuples 0 and 1 of stream odd (task 3, 1 value), as a protobuf
	// encoder may legally write them: fields out of order, repeated
	// scalars unpacked or in several packed runs, unknown fields between;
	// the anchor ids as varints (what nodes wrote before fixed_roots) or
	// as fixed64.
	fixed := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), v)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	// run packs vs, each written by appendOne, into one field.
	run := func(appendOne func([]byte, uint64) []byte) func(protowire.Number, ...uint64) []byte {
		return func(num protowire.Number, vs ...uint64) []byte {
			var r []byte
			for _, v := range vs {
				r = appendOne(r, v)
			}
			return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), r)
		}
	}
	packed, packedFixed := run(protowire.AppendVarint), run(protowire.AppendFixed64)
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	values := string(appendValue(appendValue(nil, sdk.Int(10)), sdk.Int(11)))
	for name, ids := range map[string][2][]byte{
		"varint ids": {packed(packedEdges, 7, 8), append(varint(packedRoots, 5), varint(packedRoots, 6)...)},
		"fixed ids":  {packedFixed(packedFixedEdges, 7, 8), append(fixed(packedFixedRoots, 5), packedFixed(packedFixedRoots, 6)...)},
	} {
		enc := bytes.Join([][]byte{
			ids[0],
			str(packedStreamNames, "odd"),
			varint(packedSourceTasks, 3),
			str(99, "an unknown field"),
			varint(packedSourceTasks, 3),
			packed(packedDestTasks, 1), packed(packedDestTasks, 2),
			str(packedValues, "replaced by the next values field"),
			str(packedValues, values),
			varint(packedStreams, 0), varint(packedStreams, 0),
			packed(packedValueCounts, 1, 1),
			protowire.AppendFixed64(protowire.AppendTag(nil, 98, protowire.Fixed64Type), 1),
			// A known field with a wire type it cannot have is an unknown field.
			protowire.AppendFixed32(protowire.AppendTag(nil, packedRoots, protowire.Fixed32Type), 1),
			packed(packedAnchorCounts, 1, 1),
			ids[1],
		}, nil)
		wire, message, werr, merr := decodeBoth(t, enc)
		if werr != nil || merr != nil {
			t.Fatalf("%s: wire: %v, message: %v", name, werr, merr)
		}
		want := "1<-3 odd [10] [{5 7}]\n2<-3 odd [11] [{6 8}]\n"
		if wire != want || message != want {
			t.Fatalf("%s: wire decoder gave\n%s\nmessage path gave\n%s\nwant\n%s", name, wire, message, want)
		}
	}
}

// TestAcksWithVarintIDsStillDecode reads an ack batch as nodes wrote it
// before fixed_roots: roots and values as varints.
func TestAcksWithVarintIDsStillDecode(t *testing.T) {
	want := []router.AckOp{
		{Kind: router.AckInit, Root: 1<<53 - 1, Value: 1 << 52, Task: 3},
		{Kind: router.AckAck, Root: 7, Value: 9},
	}
	old := &galev1.AckBatch{BacklogNanos: 5}
	for _, op := range want {
		old.Kinds = append(old.Kinds, galev1.AckKind(op.Kind))
		old.Roots = append(old.Roots, op.Root)
		old.Values = append(old.Values, op.Value)
		old.Tasks = append(old.Tasks, op.Task)
	}
	enc, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var c ackColumns
	if err := c.parse(enc); err != nil {
		t.Fatal(err)
	}
	got, err := c.ops(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || c.backlog != 5 {
		t.Fatalf("decoded %v (backlog %d), want %v (backlog 5)", got, c.backlog, want)
	}
}

func TestWireDecoderRejectsBrokenEncodings(t *testing.T) {
	b := batchOf(0, 3, srcWords, true)
	defer b.Release()
	good := new(encoder).appendPacked(nil, 1, b)
	cases := map[string][]byte{
		"truncated":          good[:len(good)-3],
		"bad tag":            append(append([]byte{}, good...), 0),
		"overlong length":    protowire.AppendVarint(protowire.AppendTag(nil, packedValues, protowire.BytesType), 1<<40),
		"bad varint in run":  protowire.AppendBytes(protowire.AppendTag(nil, packedRoots, protowire.BytesType), []byte{0x80}),
		"ragged columns":     append(append([]byte{}, good...), protowire.AppendVarint(protowire.AppendTag(nil, packedDestTasks, protowire.VarintType), 1)...),
		"stream index range": append(append([]byte{}, good...), protowire.AppendVarint(protowire.AppendTag(nil, packedStreams, protowire.VarintType), 9)...),
		"fixed run of 7":     protowire.AppendBytes(protowire.AppendTag(nil, packedFixedRoots, protowire.BytesType), make([]byte, 7)),
		"ids in both encodings": append(append([]byte{}, good...),
			append(protowire.AppendVarint(protowire.AppendTag(nil, packedRoots, protowire.VarintType), 1),
				protowire.AppendVarint(protowire.AppendTag(nil, packedEdges, protowire.VarintType), 2)...)...),
	}
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			var c packedColumns
			err := c.parse(enc)
			if err == nil {
				tb := router.NewBatch()
				defer tb.Release()
				_, err = c.decode(testSources, func(int32) *router.Batch { return tb })
			}
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("decoding gave %v, want ErrBadFrame", err)
			}
		})
	}
	var a ackColumns
	for name, enc := range map[string][]byte{
		"acks truncated":   protowire.AppendTag(nil, acksRoots, protowire.BytesType),
		"varint cut short": protowire.AppendBytes(protowire.AppendTag(nil, acksTasks, protowire.BytesType), []byte{0xff}),
		"kind out of int":  protowire.AppendVarint(protowire.AppendTag(nil, acksKinds, protowire.VarintType), 1<<40),
		"both encodings": append(protowire.AppendVarint(protowire.AppendTag(nil, acksRoots, protowire.VarintType), 1),
			protowire.AppendFixed64(protowire.AppendTag(nil, acksFixedValues, protowire.Fixed64Type), 1)...),
	} {
		err := a.parse(enc)
		if err == nil {
			_, err = a.ops(nil)
		}
		if !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: decoding gave %v, want ErrBadFrame", name, err)
		}
	}
}

// FuzzWireDecoder checks the wire decoder against the message path on
// arbitrary bytes: it never panics, and whatever both accept decodes to
// the same tuples.
func FuzzWireDecoder(f *testing.F) {
	e := new(encoder)
	for _, b := range wireBatches() {
		f.Add(e.appendPacked(nil, 3, b))
		b.Release()
	}
	f.Add([]byte{0x0a, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, enc []byte) {
		wire, message, werr, merr := decodeBoth(t, enc)
		if werr == nil && merr == nil && wire != message {
			t.Fatalf("wire decoder gave\n%s\nmessage path gave\n%s", wire, message)
		}
		if merr == nil && werr != nil {
			t.Fatalf("the message path decodes what the wire decoder rejects: %v", werr)
		}
	})
}

// benchIDs gives b's anchors random 53-bit ids, as the runtime's (small
// test ids are one-byte varints; real ones take eight bytes).
func benchIDs(b *router.Batch) *router.Batch {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b.Tuples {
		for j := range b.Tuples[i].Anchors {
			b.Tuples[i].Anchors[j] = sdk.Anchor{Root: r.Uint64() >> 11, ID: r.Uint64() >> 11}
		}
	}
	return b
}

func BenchmarkEncodePacked(b *testing.B) {
	batch := benchIDs(batchOf(0, benchBatch, srcWords, true))
	defer batch.Release()
	e := new(encoder)
	b.Run("wire", func(b *testing.B) {
		for b.Loop() {
			if _, err := proto.Marshal(e.packedFrame(1, batch)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("message", func(b *testing.B) {
		for b.Loop() {
			m := &galev1.TransferRequest_Packed{Packed: &galev1.PackedTuples{}}
			appendPackedMessage(m.Packed, 1, batch)
			if _, err := proto.Marshal(&galev1.TransferRequest{Frame: m}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncodeWords encodes what a split sends another node in the
// cluster word count: frames of 512 one-word tuples (no anchors without
// acking, one with), as the sender does (appendPacked into a reused
// buffer, no message marshalling).
func BenchmarkEncodeWords(b *testing.B) {
	words := []string{"the", "cow", "jumped", "over", "moon", "an", "apple", "a", "day"}
	src := sdk.NewSource("split", "default", []string{"word"})
	for _, anchored := range []bool{false, true} {
		batch := router.NewBatch()
		for i := 0; i < 512; i++ {
			na := 0
			if anchored {
				na = 1
			}
			t := batch.AddTuple(src, 3, []sdk.Value{sdk.String(words[i%len(words)])}, na)
			for j := range t.Anchors {
				t.Anchors[j] = sdk.Anchor{Root: uint64(i) * 0x9e3779b97f4a7c15 >> 11, ID: uint64(i+7) * 0xbf58476d1ce4e5b9 >> 11}
			}
		}
		name := "unanchored"
		if anchored {
			name = "anchored"
		}
		b.Run(name, func(b *testing.B) {
			e := new(encoder)
			var dst []byte
			for b.Loop() {
				dst = e.appendPacked(dst[:0], 1, batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/512, "ns/tuple")
		})
		batch.Release()
	}
}

func BenchmarkDecodePacked(b *testing.B) {
	batch := benchIDs(batchOf(0, benchBatch, srcWords, true))
	defer batch.Release()
	enc := new(encoder).appendPacked(nil, 1, batch)
	var out *router.Batch
	batchFor := func(int32) *router.Batch { return out }
	b.Run("wire", func(b *testing.B) {
		var c packedColumns
		for b.Loop() {
			out = router.NewBatch()
			if err := c.parse(enc); err != nil {
				b.Fatal(err)
			}
			if _, err := c.decode(testSources, batchFor); err != nil {
				b.Fatal(err)
			}
			out.Release()
		}
	})
	b.Run("message", func(b *testing.B) {
		for b.Loop() {
			out = router.NewBatch()
			var p galev1.PackedTuples
			if err := proto.Unmarshal(enc, &p); err != nil {
				b.Fatal(err)
			}
			if err := DecodePacked(&p, testSources, batchFor); err != nil {
				b.Fatal(err)
			}
			out.Release()
		}
	})
}
