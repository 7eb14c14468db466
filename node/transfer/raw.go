package transfer

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// rawCounter is the baseline's server: it reads frames and counts tuples
// without decoding them into batches.
type rawCounter struct {
	galev1.UnimplementedTransferServiceServer
	n atomic.Int64
}

func (r *rawCounter) Transfer(st galev1.TransferService_TransferServer) error {
	for {
		req, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r.n.Add(int64(len(req.GetTuples().GetTuples()) + len(req.GetPacked().GetSourceTasks())))
	}
}

// MeasureRawStream is the data plane's baseline: for d, it sends the same
// pre-encoded packed frame of batch one-field anchored tuples over one raw
// gRPC stream on loopback to a server that only counts them, and returns
// tuples per second. Benchmarks measure it in the same run as Gale.
func MeasureRawStream(ctx context.Context, d time.Duration, batch int) (float64, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := grpc.NewServer()
	raw := &rawCounter{}
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
	frame := &galev1.TransferRequest{Frame: &galev1.TransferRequest_Packed{Packed: &galev1.PackedTuples{}}}
	AppendPacked(frame.GetPacked(), 2, b)
	deadline := time.Now().Add(d)
	warm := time.Now().Add(d / 4)
	var n0 int64
	var t0 time.Time
	for time.Now().Before(deadline) {
		if t0.IsZero() && time.Now().After(warm) {
			n0, t0 = raw.n.Load(), time.Now()
		}
		for i := 0; i < 64; i++ {
			if err := st.Send(frame); err != nil {
				return 0, err
			}
		}
	}
	n1, t1 := raw.n.Load(), time.Now()
	st.CloseSend()
	return float64(n1-n0) / t1.Sub(t0).Seconds(), nil
}
