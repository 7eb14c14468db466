package transfer

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// frameCodec is the gRPC codec of a server that accepts Transfer streams.
// It is gRPC's protobuf codec for every message but TransferFrame, whose
// usual frames (one packed or acks field, a bytes field) it reads itself:
// into the room the frame's Packed and Acks slices already have, when the
// caller left them some (Server recycles a frame's buffer when nothing it
// decoded points into it), instead of a new buffer per frame. protobuf's
// own reading of a bytes field allocates the field anew, and that
// allocation, its clearing and the collector's work on it were 11-13% of a
// receiving node's CPU in the cluster's pass-through. Any other frame goes
// to protobuf, which gives it the usual semantics and errors.
type frameCodec struct {
	encoding.CodecV2 // gRPC's protobuf codec
}

// serverCodec is the frameCodec of ServerOptions.
func serverCodec() grpc.ServerOption {
	return grpc.ForceServerCodecV2(frameCodec{encoding.GetCodecV2(grpcproto.Name)})
}

// Unmarshal implements encoding.CodecV2.
func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*galev1.TransferFrame)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData() // valid until this returns
	} else {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		b = buf.ReadOnlyData()
	}
	return unmarshalFrame(b, f)
}

// unmarshalFrame reads b into f as proto.Unmarshal would, copying the
// packed and acks fields into the room f.Packed and f.Acks have.
func unmarshalFrame(b []byte, f *galev1.TransferFrame) error {
	packed, acks := f.Packed[:0], f.Acks[:0]
	var hasPacked, hasAcks bool
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 || typ != protowire.BytesType || num != 3 && num != 5 {
			return proto.Unmarshal(b, f)
		}
		v, m := protowire.ConsumeBytes(rest[n:])
		if m < 0 {
			return proto.Unmarshal(b, f) // and its error
		}
		if num == 5 {
			packed, hasPacked = append(packed[:0], v...), true
		} else {
			acks, hasAcks = append(acks[:0], v...), true
		}
		rest = rest[n+m:]
	}
	proto.Reset(f)
	if hasPacked {
		if packed == nil {
			packed = []byte{} // present, if empty, as protobuf reads it
		}
		f.Packed = packed
	}
	if hasAcks {
		if acks == nil {
			acks = []byte{}
		}
		f.Acks = acks
	}
	return nil
}
