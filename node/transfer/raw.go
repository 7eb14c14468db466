package transfer

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// RawStream says what the baseline's raw gRPC stream does with each frame.
type RawStream int

const (
	// RawMessages sends the batch as a PackedTuples message, built once,
	// that gRPC's codec marshals at every send, and the server unmarshals
	// every frame into a TransferRequest and counts its tuples: what any
	// gRPC program streaming protobuf messages does, without routing,
	// executing or acking anything. The ratio targets are against it.
	RawMessages RawStream = iota
	// RawBytes sends the frame's bytes, encoded once, and the server only
	// copies and counts them: the transport alone.
	RawBytes
)

// rawCounter is the baseline's server: it reads frames and counts their
// tuples (perFrame each when it keeps them as bytes).
type rawCounter struct {
	galev1.UnimplementedTransferServiceServer
	mode     RawStream
	perFrame int64
	n        atomic.Int64
}

func (r *rawCounter) Transfer(st galev1.TransferService_TransferServer) error {
	for {
		var err error
		if r.mode == RawBytes {
			var f galev1.TransferFrame
			if err = st.RecvMsg(&f); err == nil && f.GetPacked() != nil {
				r.n.Add(r.perFrame)
			}
		} else {
			var req *galev1.TransferRequest
			if req, err = st.Recv(); err == nil {
				r.n.Add(int64(len(req.GetPacked().GetSourceTasks())))
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// rawFrame is the frame the baseline sends in mode.
func rawFrame(mode RawStream, dest int32, b *router.Batch) (any, error) {
	e := new(encoder)
	if mode == RawBytes {
		return e.packedFrame(dest, b), nil
	}
	p := &galev1.PackedTuples{}
	if err := proto.Unmarshal(e.appendPacked(nil, dest, b), p); err != nil {
		return nil, fmt.Errorf("decoding the baseline's frame: %w", err)
	}
	return &galev1.TransferRequest{Frame: &galev1.TransferRequest_Packed{Packed: p}}, nil
}

// MeasureRawStream is the data plane's baseline: for d, it sends the same
// packed frame of batch one-field anchored tuples over one raw gRPC stream
// on loopback to a server that only counts them, as mode says, and returns
// tuples per second. Benchmarks measure it in the same run as Gale.
func MeasureRawStream(ctx context.Context, d time.Duration, batch int, mode RawStream) (float64, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := grpc.NewServer()
	raw := &rawCounter{mode: mode, perFrame: int64(batch)}
	galev1.RegisterTransferServiceServer(srv, raw)
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := galev1.NewTransferServiceClient(conn).Transfer(sctx)
	if err != nil {
		return 0, err
	}
	src := sdk.NewSource("c", "default", []string{"n"})
	b := router.NewBatch()
	defer b.Release()
	for i := 0; i < batch; i++ {
		t := b.AddTuple(src, 1, []sdk.Value{sdk.Int(int64(i))}, 1)
		t.Anchors[0] = sdk.Anchor{Root: uint64(i + 1), ID: uint64(i + 2)}
	}
	frame, err := rawFrame(mode, 2, b)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(d)
	warm := time.Now().Add(d / 4)
	var n0 int64
	var t0 time.Time
	for time.Now().Before(deadline) {
		if t0.IsZero() && time.Now().After(warm) {
			n0, t0 = raw.n.Load(), time.Now()
		}
		for i := 0; i < 64; i++ {
			if err := st.SendMsg(frame); err != nil {
				return 0, err
			}
		}
	}
	n1, t1 := raw.n.Load(), time.Now()
	st.CloseSend()
	return float64(n1-n0) / t1.Sub(t0).Seconds(), nil
}
