package transfer

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestUnmarshalFrameReadsAsProtobufDoes: every kind of frame, and frames
// the fast path does not take, read the same as with proto.Unmarshal,
// errors included, also into a frame that lends room from an earlier one.
func TestUnmarshalFrameReadsAsProtobufDoes(t *testing.T) {
	marshal := func(f *galev1.TransferFrame) []byte {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	twice := protowire.AppendTag(nil, 5, protowire.BytesType)
	twice = protowire.AppendBytes(twice, []byte("first"))
	twice = protowire.AppendTag(twice, 5, protowire.BytesType)
	twice = protowire.AppendBytes(twice, []byte("second"))
	unknown := protowire.AppendTag(marshal(&galev1.TransferFrame{Packed: []byte{1, 2}}), 9, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 7)
	cases := map[string][]byte{
		"packed":            marshal(&galev1.TransferFrame{Packed: []byte("some packed tuples")}),
		"empty packed":      marshal(&galev1.TransferFrame{Packed: []byte{}}),
		"acks":              marshal(&galev1.TransferFrame{Acks: []byte{9, 8, 7}}),
		"empty acks":        marshal(&galev1.TransferFrame{Acks: []byte{}}),
		"none":              {},
		"hello":             marshal(&galev1.TransferFrame{Hello: &galev1.TransferHello{Node: "a", TopologyId: "run-1"}}),
		"end of input":      marshal(&galev1.TransferFrame{EndOfInput: &galev1.TaskEndOfInput{FromTask: 3, ToTasks: []int32{1, 2}}}),
		"packed twice":      twice,
		"unknown field":     unknown,
		"cut short":         marshal(&galev1.TransferFrame{Packed: []byte("some packed tuples")})[:5],
		"bad tag":           {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"packed wrong type": protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var want galev1.TransferFrame
			wantErr := proto.Unmarshal(b, &want)
			for _, lent := range []int{0, 64} {
				got := &galev1.TransferFrame{Packed: make([]byte, 3, lent+3)[:0], Acks: make([]byte, 0, lent), Hello: &galev1.TransferHello{Node: "stale"}}
				err := unmarshalFrame(b, got)
				if (err != nil) != (wantErr != nil) {
					t.Fatalf("room %d: error %v, protobuf's %v", lent, err, wantErr)
				}
				if err != nil {
					continue
				}
				if !proto.Equal(got, &want) || (got.Packed == nil) != (want.Packed == nil) || (got.Acks == nil) != (want.Acks == nil) {
					t.Fatalf("room %d: read %v, protobuf read %v", lent, got, &want)
				}
			}
		})
	}
}

// TestUnmarshalFrameUsesTheRoomLent: a packed frame is read into the
// buffer the frame lends, not a new one.
func TestUnmarshalFrameUsesTheRoomLent(t *testing.T) {
	room := make([]byte, 0, 1024)
	b, err := proto.Marshal(&galev1.TransferFrame{Packed: []byte("some packed tuples")})
	if err != nil {
		t.Fatal(err)
	}
	f := &galev1.TransferFrame{Packed: room}
	if err := unmarshalFrame(b, f); err != nil {
		t.Fatal(err)
	}
	if string(f.Packed) != "some packed tuples" || &f.Packed[:1][0] != &room[:1][0] {
		t.Fatalf("packed %q not read into the room lent", f.Packed)
	}
}

// TestNumbersOnlyFramesBetweenStringFrames: the server lends a frame's
// buffer to the next only when nothing decoded points into it; frames of
// numbers (whose buffers are lent on) and of strings (whose are not) in
// turn all arrive intact.
func TestNumbersOnlyFramesBetweenStringFrames(t *testing.T) {
	r := newRecorder()
	e := serve(t, "127.0.0.1:0", r)
	s := NewSender(dial(t, e.addr), "a", "run-1", Window{Tuples: testWindow}, nil)
	defer s.Close()
	const batches, per = 40, 64
	for i := range batches {
		src := srcWords
		if i%3 != 0 {
			src = srcOdd
		}
		b := batchOf(i*per, per, src, i%2 == 0)
		if err := s.SendTuples(int32(1+i%2), b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	waitFor(t, 10*time.Second, func() error {
		if n := r.count(1) + r.count(2); n != batches*per {
			return fmt.Errorf("%d of %d tuples", n, batches*per)
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int32]int{}
	for i := range batches {
		dest := int32(1 + i%2)
		for k := range per {
			n := i*per + k
			tp := r.tuples[dest][seen[dest]]
			seen[dest]++
			if i%3 == 0 {
				if tp.Str(0) != fmt.Sprintf("w%d", n) || tp.Int(1) != int64(n) {
					t.Fatalf("batch %d tuple %d: %v", i, k, tp.Values)
				}
			} else if tp.Int(0) != int64(n) {
				t.Fatalf("batch %d tuple %d: %v", i, k, tp.Values)
			}
		}
	}
}
