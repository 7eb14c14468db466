package transfer

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// Nodes send each other galev1.TransferFrame, whose packed and acks frames
// are the protobuf encoding of a PackedTuples and an AckBatch kept as bytes.
// This file writes those encodings straight from batches and acker
// operations, and reads them straight into batches, so that a frame costs
// one buffer (reused on the sending side) instead of a Go message with a
// slice per column that the protobuf runtime then walks again: building and
// walking those messages took about 40% of a node's CPU in the cluster
// benchmark. The bytes are exactly what proto.Marshal writes for the same
// message (TestEncodedFramesMatchProtoMarshal), and the decoder reads any
// valid encoding of it (fields in any order, repeated scalars packed or
// not, unknown fields skipped), so the contract stays the .proto files.

// Field numbers of gale.v1.PackedTuples.
const (
	packedSourceTasks  protowire.Number = 1
	packedDestTasks    protowire.Number = 2
	packedStreams      protowire.Number = 3
	packedStreamNames  protowire.Number = 4
	packedValueCounts  protowire.Number = 5
	packedValues       protowire.Number = 6
	packedAnchorCounts protowire.Number = 7
	packedRoots        protowire.Number = 8
	packedEdges        protowire.Number = 9
	packedFixedRoots   protowire.Number = 10
	packedFixedEdges   protowire.Number = 11
)

// Field numbers of gale.v1.AckBatch.
const (
	acksKinds       protowire.Number = 1
	acksRoots       protowire.Number = 2
	acksValues      protowire.Number = 3
	acksTasks       protowire.Number = 4
	acksBacklog     protowire.Number = 5
	acksForwarded   protowire.Number = 6
	acksFixedRoots  protowire.Number = 7
	acksFixedValues protowire.Number = 8
)

// encoder holds the buffers one frame is encoded with; senders take one
// from encoders for each frame.
type encoder struct {
	body   []byte   // the encoded PackedTuples or AckBatch
	column []byte   // one packed column while it is written
	names  []string // the stream names of the batch being encoded
	frame  galev1.TransferFrame
}

// packedFrame encodes the tuples of b, all for dest, as a packed frame.
// The frame is valid until the encoder is used again.
func (e *encoder) packedFrame(dest int32, b *router.Batch) *galev1.TransferFrame {
	e.body = e.appendPacked(e.body[:0], dest, b)
	e.frame.Packed, e.frame.Acks = e.body, nil
	return &e.frame
}

// acksFrame encodes acker operations as an acks frame, valid until the
// encoder is used again.
func (e *encoder) acksFrame(ops []router.AckOp, meta AckMeta) *galev1.TransferFrame {
	e.body = e.appendAcks(e.body[:0], ops, meta)
	e.frame.Packed, e.frame.Acks = nil, e.body
	return &e.frame
}

// appendPacked appends the encoding of the PackedTuples that AppendPacked
// would build for b and dest to dst.
func (e *encoder) appendPacked(dst []byte, dest int32, b *router.Batch) []byte {
	ts := b.Tuples
	if len(ts) == 0 {
		return dst
	}
	col := e.column[:0]
	for i := range ts {
		col = appendInt32(col, ts[i].SourceTask)
	}
	dst = appendPackedColumn(dst, packedSourceTasks, col)

	// Every tuple has the same destination: encode it once.
	col = appendInt32(col[:0], dest)
	if one := len(col); one == 1 {
		for b := col[0]; len(col) < len(ts); {
			col = append(col, b)
		}
	} else {
		for range len(ts) - 1 {
			col = append(col, col[:one]...)
		}
	}
	dst = appendPackedColumn(dst, packedDestTasks, col)

	col = col[:0]
	names := e.names[:0]
	var (
		lastSource *sdk.Source
		lastIndex  uint64
	)
	for i := range ts {
		// Tuples of a batch mostly share their stream: compare the
		// pointer before the name.
		if src := ts[i].Source; src != lastSource {
			lastSource, lastIndex = src, uint64(nameIndex(&names, src.Stream))
		}
		col = appendUvarint(col, lastIndex)
	}
	dst = appendPackedColumn(dst, packedStreams, col)
	for _, n := range names {
		dst = protowire.AppendTag(dst, packedStreamNames, protowire.BytesType)
		dst = protowire.AppendString(dst, n)
	}
	clear(names) // do not keep the strings alive
	e.names = names[:0]

	col = col[:0]
	anchors := 0
	for i := range ts {
		col = appendUvarint(col, uint64(len(ts[i].Values)))
		anchors += len(ts[i].Anchors)
	}
	dst = appendPackedColumn(dst, packedValueCounts, col)

	col = col[:0]
	for i := range ts {
		for _, v := range ts[i].Values {
			col = appendValue(col, v)
		}
	}
	if len(col) > 0 {
		dst = protowire.AppendTag(dst, packedValues, protowire.BytesType)
		dst = protowire.AppendBytes(dst, col)
	}

	col = col[:0]
	for i := range ts {
		col = appendUvarint(col, uint64(len(ts[i].Anchors)))
	}
	dst = appendPackedColumn(dst, packedAnchorCounts, col)
	e.column = col[:0]
	if anchors > 0 {
		dst = appendFixedHeader(dst, packedFixedRoots, anchors)
		for i := range ts {
			for _, a := range ts[i].Anchors {
				dst = binary.LittleEndian.AppendUint64(dst, a.Root)
			}
		}
		dst = appendFixedHeader(dst, packedFixedEdges, anchors)
		for i := range ts {
			for _, a := range ts[i].Anchors {
				dst = binary.LittleEndian.AppendUint64(dst, a.ID)
			}
		}
	}
	return dst
}

// appendAcks appends the encoding of the AckBatch that AppendAcks would
// build for ops, with meta, to dst.
func (e *encoder) appendAcks(dst []byte, ops []router.AckOp, meta AckMeta) []byte {
	if len(ops) > 0 {
		col := e.column[:0]
		for i := range ops {
			col = appendUvarint(col, uint64(ops[i].Kind))
		}
		dst = appendPackedColumn(dst, acksKinds, col)
		col = col[:0]
		for i := range ops {
			col = appendInt32(col, ops[i].Task)
		}
		dst = appendPackedColumn(dst, acksTasks, col)
		e.column = col[:0]
	}
	if meta.Backlog != 0 {
		dst = protowire.AppendTag(dst, acksBacklog, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(meta.Backlog))
	}
	if meta.Forwarded {
		dst = protowire.AppendTag(dst, acksForwarded, protowire.VarintType)
		dst = protowire.AppendVarint(dst, 1)
	}
	if len(ops) > 0 {
		dst = appendFixedHeader(dst, acksFixedRoots, len(ops))
		for i := range ops {
			dst = binary.LittleEndian.AppendUint64(dst, ops[i].Root)
		}
		dst = appendFixedHeader(dst, acksFixedValues, len(ops))
		for i := range ops {
			dst = binary.LittleEndian.AppendUint64(dst, ops[i].Value)
		}
	}
	return dst
}

// appendFixedHeader starts a packed fixed64 field of n values, which the
// caller appends (little-endian, eight bytes each).
func appendFixedHeader(dst []byte, num protowire.Number, n int) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendVarint(dst, uint64(8*n))
}

func appendPackedColumn(dst []byte, num protowire.Number, col []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, col)
}

// appendInt32 writes an int32 as protobuf does: negative numbers as their
// 64-bit two's complement.
func appendInt32(dst []byte, v int32) []byte {
	return appendUvarint(dst, uint64(int64(v)))
}

// appendUvarint is protowire.AppendVarint with the one-byte case (tasks,
// counts, stream indexes) inlined at the caller.
func appendUvarint(dst []byte, v uint64) []byte {
	if v < 0x80 {
		return append(dst, byte(v))
	}
	return protowire.AppendVarint(dst, v)
}

func nameIndex(names *[]string, s string) int {
	for i, n := range *names {
		if n == s {
			return i
		}
	}
	*names = append(*names, s)
	return len(*names) - 1
}

// packedColumns are the columns of one PackedTuples: slices of a decoded
// message, or of a decoder's reused buffers.
type packedColumns struct {
	sourceTasks, destTasks             []int32
	streams, valueCounts, anchorCounts []uint32
	streamNames                        []string
	values                             []byte
	roots, edges                       []uint64
	// varintIDs and fixedIDs say in which encodings anchor ids came; a
	// batch must use one.
	varintIDs, fixedIDs bool
}

func (c *packedColumns) ofMessage(p *galev1.PackedTuples) {
	*c = packedColumns{
		sourceTasks: p.GetSourceTasks(), destTasks: p.GetDestTasks(), streams: p.GetStreams(),
		streamNames: p.GetStreamNames(), valueCounts: p.GetValueCounts(), values: p.GetValues(),
		anchorCounts: p.GetAnchorCounts(), roots: p.GetRoots(), edges: p.GetEdges(),
		varintIDs: len(p.GetRoots())+len(p.GetEdges()) > 0,
		fixedIDs:  len(p.GetFixedRoots())+len(p.GetFixedEdges()) > 0,
	}
	if c.fixedIDs && !c.varintIDs {
		c.roots, c.edges = p.GetFixedRoots(), p.GetFixedEdges()
	}
}

// parse reads an encoded PackedTuples into c's buffers. Stream names and
// values point into buf, which must not change while c is used.
func (c *packedColumns) parse(buf []byte) error {
	c.sourceTasks, c.destTasks = c.sourceTasks[:0], c.destTasks[:0]
	c.streams, c.valueCounts, c.anchorCounts = c.streams[:0], c.valueCounts[:0], c.anchorCounts[:0]
	clear(c.streamNames)
	c.streamNames, c.values = c.streamNames[:0], nil
	c.roots, c.edges = c.roots[:0], c.edges[:0]
	c.varintIDs, c.fixedIDs = false, false
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return fmt.Errorf("%w: packed tuples: %v", ErrBadFrame, protowire.ParseError(n))
		}
		buf = buf[n:]
		var err error
		switch {
		case num == packedSourceTasks && isScalar(typ):
			c.sourceTasks, n, err = consumeVarints(c.sourceTasks, typ, buf)
		case num == packedDestTasks && isScalar(typ):
			c.destTasks, n, err = consumeVarints(c.destTasks, typ, buf)
		case num == packedStreams && isScalar(typ):
			c.streams, n, err = consumeVarints(c.streams, typ, buf)
		case num == packedValueCounts && isScalar(typ):
			c.valueCounts, n, err = consumeVarints(c.valueCounts, typ, buf)
		case num == packedAnchorCounts && isScalar(typ):
			c.anchorCounts, n, err = consumeVarints(c.anchorCounts, typ, buf)
		case num == packedRoots && isScalar(typ):
			c.roots, n, err = consumeVarints(c.roots, typ, buf)
			c.varintIDs = true
		case num == packedEdges && isScalar(typ):
			c.edges, n, err = consumeVarints(c.edges, typ, buf)
			c.varintIDs = true
		case num == packedFixedRoots && isFixed64(typ):
			c.roots, n, err = consumeFixed64s(c.roots, typ, buf)
			c.fixedIDs = true
		case num == packedFixedEdges && isFixed64(typ):
			c.edges, n, err = consumeFixed64s(c.edges, typ, buf)
			c.fixedIDs = true
		case (num == packedStreamNames || num == packedValues) && typ == protowire.BytesType:
			var v []byte
			if v, n, err = consumeBytes(typ, buf); err == nil {
				if num == packedValues {
					c.values = v // a repeated singular field: the last one counts
				} else {
					c.streamNames = append(c.streamNames, unsafe.String(unsafe.SliceData(v), len(v)))
				}
			}
		default:
			n, err = skipField(num, typ, buf)
		}
		if err != nil {
			return fmt.Errorf("%w: packed tuples field %d: %v", ErrBadFrame, num, err)
		}
		buf = buf[n:]
	}
	return nil
}

// ackColumns are the columns of one AckBatch, like packedColumns.
type ackColumns struct {
	kinds, roots, values []uint64
	tasks                []int32
	backlog              int64
	forwarded            bool
	varintIDs, fixedIDs  bool // as in packedColumns
}

// parse reads an encoded AckBatch into c's buffers.
func (c *ackColumns) parse(buf []byte) error {
	c.kinds, c.roots, c.values, c.tasks = c.kinds[:0], c.roots[:0], c.values[:0], c.tasks[:0]
	c.backlog, c.forwarded = 0, false
	c.varintIDs, c.fixedIDs = false, false
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return fmt.Errorf("%w: ack batch: %v", ErrBadFrame, protowire.ParseError(n))
		}
		buf = buf[n:]
		var (
			err error
			v   uint64
		)
		switch {
		case num == acksKinds && isScalar(typ):
			c.kinds, n, err = consumeVarints(c.kinds, typ, buf)
		case num == acksRoots && isScalar(typ):
			c.roots, n, err = consumeVarints(c.roots, typ, buf)
			c.varintIDs = true
		case num == acksValues && isScalar(typ):
			c.values, n, err = consumeVarints(c.values, typ, buf)
			c.varintIDs = true
		case num == acksFixedRoots && isFixed64(typ):
			c.roots, n, err = consumeFixed64s(c.roots, typ, buf)
			c.fixedIDs = true
		case num == acksFixedValues && isFixed64(typ):
			c.values, n, err = consumeFixed64s(c.values, typ, buf)
			c.fixedIDs = true
		case num == acksTasks && isScalar(typ):
			c.tasks, n, err = consumeVarints(c.tasks, typ, buf)
		case (num == acksBacklog || num == acksForwarded) && typ == protowire.VarintType:
			if v, n, err = consumeVarint(typ, buf); err == nil {
				if num == acksBacklog {
					c.backlog = int64(v)
				} else {
					c.forwarded = v != 0
				}
			}
		default:
			n, err = skipField(num, typ, buf)
		}
		if err != nil {
			return fmt.Errorf("%w: ack batch field %d: %v", ErrBadFrame, num, err)
		}
		buf = buf[n:]
	}
	return nil
}

// ops appends c's operations to out, checking them as DecodeAcks does.
func (c *ackColumns) ops(out []router.AckOp) ([]router.AckOp, error) {
	n := len(c.kinds)
	if c.varintIDs && c.fixedIDs {
		return out, fmt.Errorf("%w: ack batch gives roots or values both as varints and as fixed64", ErrBadFrame)
	}
	if len(c.roots) != n || len(c.values) != n || len(c.tasks) != n {
		return out, fmt.Errorf("%w: ack batch arrays differ in length (%d kinds, %d roots, %d values, %d tasks)",
			ErrBadFrame, n, len(c.roots), len(c.values), len(c.tasks))
	}
	for i, k := range c.kinds {
		kind := galev1.AckKind(int32(k))
		if uint64(int64(kind)) != k || kind < galev1.AckKind_ACK_KIND_INIT || kind > galev1.AckKind_ACK_KIND_ALIVE {
			return out, fmt.Errorf("%w: ack %d has kind %d", ErrBadFrame, i, int64(k))
		}
		out = append(out, router.AckOp{Kind: router.AckKind(kind), Root: c.roots[i], Value: c.values[i], Task: c.tasks[i]})
	}
	return out, nil
}

// isScalar tells whether typ is a wire type a repeated varint field may
// have: one value, or a packed run. A field of a known number with another
// wire type is an unknown field to protobuf, and skipped as such.
func isScalar(typ protowire.Type) bool {
	return typ == protowire.VarintType || typ == protowire.BytesType
}

// isFixed64 tells whether typ is a wire type a repeated fixed64 field may
// have: one value, or a packed run.
func isFixed64(typ protowire.Type) bool {
	return typ == protowire.Fixed64Type || typ == protowire.BytesType
}

// skipField passes over a field the decoder does not read.
func skipField(num protowire.Number, typ protowire.Type, buf []byte) (int, error) {
	n := protowire.ConsumeFieldValue(num, typ, buf)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	return n, nil
}

// consumeVarint reads one varint field value of wire type typ.
func consumeVarint(typ protowire.Type, buf []byte) (uint64, int, error) {
	if typ != protowire.VarintType {
		return 0, 0, fmt.Errorf("wire type %d, want varint", typ)
	}
	v, n := protowire.ConsumeVarint(buf)
	if n < 0 {
		return 0, 0, protowire.ParseError(n)
	}
	return v, n, nil
}

// consumeBytes reads one length-delimited field value.
func consumeBytes(typ protowire.Type, buf []byte) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, fmt.Errorf("wire type %d, want length-delimited", typ)
	}
	v, n := protowire.ConsumeBytes(buf)
	if n < 0 {
		return nil, 0, protowire.ParseError(n)
	}
	return v, n, nil
}

// varintRun returns the varints of a repeated varint field: one (not
// packed) or a packed run, and the field's length in buf.
func varintRun(typ protowire.Type, buf []byte) (run []byte, n int, err error) {
	if typ == protowire.VarintType {
		if _, n = protowire.ConsumeVarint(buf); n < 0 {
			return nil, 0, protowire.ParseError(n)
		}
		return buf[:n], n, nil
	}
	return consumeBytes(typ, buf)
}

// consumeVarints appends the values of a repeated varint field, packed or
// not, to dst, converted to T as protobuf converts them (int32 and uint32
// truncate). Each T gets its own code (they differ in shape), and one-byte
// varints (tasks, counts and stream indexes mostly are) take a fast path;
// a version converting through a function value cost twice as much.
func consumeVarints[T int32 | uint32 | uint64](dst []T, typ protowire.Type, buf []byte) ([]T, int, error) {
	run, n, err := varintRun(typ, buf)
	if err != nil {
		return dst, 0, err
	}
	for len(run) > 0 {
		if b := run[0]; b < 0x80 {
			dst = append(dst, T(b))
			run = run[1:]
			continue
		}
		v, k := protowire.ConsumeVarint(run)
		if k < 0 {
			return dst, 0, protowire.ParseError(k)
		}
		dst = append(dst, T(v))
		run = run[k:]
	}
	return dst, n, nil
}

// consumeFixed64s appends the values of a repeated fixed64 field, packed or
// not, to dst.
func consumeFixed64s(dst []uint64, typ protowire.Type, buf []byte) ([]uint64, int, error) {
	if typ == protowire.Fixed64Type {
		v, n := protowire.ConsumeFixed64(buf)
		if n < 0 {
			return dst, 0, protowire.ParseError(n)
		}
		return append(dst, v), n, nil
	}
	run, n, err := consumeBytes(typ, buf)
	if err != nil {
		return dst, 0, err
	}
	if len(run)%8 != 0 {
		return dst, 0, fmt.Errorf("packed fixed64 run of %d bytes", len(run))
	}
	// Into a slice grown once, not append by append: this loop copies two
	// numbers a tuple with acking on.
	k, m := len(dst), len(run)/8
	dst = slices.Grow(dst, m)[:k+m]
	out := dst[k:]
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(run[8*i:])
	}
	return dst, n, nil
}
