package transfer

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// The packed layout (gale.v1.PackedTuples) is what nodes send each other:
// a batch is a few packed arrays and one buffer of values, so encoding and
// decoding allocate per batch, not per tuple (the per-tuple message layout
// measured ~1.8M tuples/s on a raw stream here, below the 2M target).
// wire.go writes and reads its encoding; this file has the values' layout
// and the checks every decoded batch goes through.

func appendValue(dst []byte, v sdk.Value) []byte {
	s, bits := v.Raw()
	dst = append(dst, byte(v.Kind()))
	switch v.Kind() {
	case sdk.KindString, sdk.KindBytes:
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	case sdk.KindInt, sdk.KindDouble:
		dst = binary.LittleEndian.AppendUint64(dst, bits)
	case sdk.KindBool:
		dst = append(dst, byte(bits))
	}
	return dst
}

// DecodePacked decodes p into batches per destination, like DecodeTuples.
// String and bytes values point into p.Values: no copy per value.
func DecodePacked(p *galev1.PackedTuples, sources Sources, batchFor func(dest int32) *router.Batch) error {
	var c packedColumns
	c.ofMessage(p)
	_, err := c.decode(sources, batchFor)
	return err
}

// decode checks the columns against each other and the streams they name,
// and adds their tuples to the batches batchFor gives. String and bytes
// values point into c.values, which must not change afterwards; it
// returns whether any non-empty one does (if none, the caller may reuse
// the buffer).
func (c *packedColumns) decode(sources Sources, batchFor func(dest int32) *router.Batch) (aliased bool, err error) {
	n := len(c.sourceTasks)
	if len(c.destTasks) != n || len(c.streams) != n || len(c.valueCounts) != n || len(c.anchorCounts) != n {
		return false, fmt.Errorf("%w: packed tuple columns differ in length", ErrBadFrame)
	}
	if c.varintIDs && c.fixedIDs {
		return false, fmt.Errorf("%w: anchor ids both as varints and as fixed64", ErrBadFrame)
	}
	if len(c.roots) != len(c.edges) {
		return false, fmt.Errorf("%w: %d roots but %d edges", ErrBadFrame, len(c.roots), len(c.edges))
	}
	buf := unsafe.String(unsafe.SliceData(c.values), len(c.values))
	off, anchor := 0, 0
	var (
		lastTask   int32 = -1
		lastStream uint32
		src        *sdk.Source
		lastDest   int32
		b          *router.Batch
	)
	for i := 0; i < n; i++ {
		si, task := c.streams[i], c.sourceTasks[i]
		if int(si) >= len(c.streamNames) {
			return false, fmt.Errorf("%w: tuple %d: stream index %d out of range", ErrBadFrame, i, si)
		}
		// A batch mostly comes from one task and stream: resolve it once.
		if src == nil || task != lastTask || si != lastStream {
			if src = sources(task, c.streamNames[si]); src == nil {
				return false, fmt.Errorf("%w: tuple %d: task %d has no stream %q", ErrBadFrame, i, task, c.streamNames[si])
			}
			lastTask, lastStream = task, si
		}
		nv := int(c.valueCounts[i])
		if nv != len(src.Fields) {
			return false, fmt.Errorf("%w: tuple %d on %s/%s: %d values for fields %v", ErrBadFrame, i, src.Component, src.Stream, nv, src.Fields)
		}
		na := int(c.anchorCounts[i])
		if na > len(c.roots)-anchor {
			return false, fmt.Errorf("%w: tuple %d: anchors beyond the %d given", ErrBadFrame, i, len(c.roots))
		}
		// And mostly goes to one task.
		if dest := c.destTasks[i]; b == nil || dest != lastDest {
			b, lastDest = batchFor(dest), dest
		}
		// Values are decoded straight into the batch. On an error the
		// caller drops the batches, half-filled tuple and all.
		t := b.NewTuple(src, task, nv, na)
		for j := range t.Values {
			v, next, err := decodeValue(buf, off)
			if err != nil {
				return false, fmt.Errorf("%w: tuple %d value %d: %v", ErrBadFrame, i, j, err)
			}
			t.Values[j] = v
			off = next
		}
		size := sdk.DataSize(t.Values)
		b.ValueBytes += size // as the sender's AddTuple counted
		aliased = aliased || size > 0
		for j := range t.Anchors {
			t.Anchors[j].Root = c.roots[anchor+j]
			t.Anchors[j].ID = c.edges[anchor+j]
		}
		anchor += na
	}
	if off != len(buf) {
		return false, fmt.Errorf("%w: %d bytes of values left over", ErrBadFrame, len(buf)-off)
	}
	return aliased, nil
}

func decodeValue(buf string, off int) (sdk.Value, int, error) {
	if off >= len(buf) {
		return sdk.Value{}, off, fmt.Errorf("values end early")
	}
	kind := sdk.Kind(buf[off])
	off++
	switch kind {
	case sdk.KindNull:
		return sdk.Null(), off, nil
	case sdk.KindString, sdk.KindBytes:
		l, k := uvarint(buf[off:])
		if k <= 0 || uint64(len(buf)-off-k) < l {
			return sdk.Value{}, off, fmt.Errorf("bad length")
		}
		off += k
		s := buf[off : off+int(l)]
		if kind == sdk.KindString {
			return sdk.String(s), off + int(l), nil
		}
		return sdk.BytesNoCopy(unsafe.Slice(unsafe.StringData(s), len(s))), off + int(l), nil
	case sdk.KindInt, sdk.KindDouble:
		if len(buf)-off < 8 {
			return sdk.Value{}, off, fmt.Errorf("number cut short")
		}
		bits := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(buf[off:]), 8))
		if kind == sdk.KindInt {
			return sdk.Int(int64(bits)), off + 8, nil
		}
		return sdk.DoubleBits(bits), off + 8, nil
	case sdk.KindBool:
		if off >= len(buf) || buf[off] > 1 {
			return sdk.Value{}, off, fmt.Errorf("bad bool")
		}
		return sdk.Bool(buf[off] == 1), off + 1, nil
	}
	return sdk.Value{}, off, fmt.Errorf("unknown kind %d", kind)
}

func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<(7*i), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, -1
}
