package transfer

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
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

	// Paced runs: the send time of each frame, in order, and the
	// send-to-receipt times of the frames read while timing is on.
	sent   chan int64
	timing atomic.Bool
	mu     sync.Mutex
	lat    []time.Duration
}

// quantiles returns the p50 and p99 of the recorded latencies.
func (r *rawCounter) quantiles() (time.Duration, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lat) == 0 {
		return 0, 0
	}
	slices.Sort(r.lat)
	at := func(q float64) time.Duration { return r.lat[int(q*float64(len(r.lat)-1))] }
	return at(0.5), at(0.99)
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
		if r.sent != nil {
			at := <-r.sent
			if r.timing.Load() {
				d := time.Duration(router.Nanotime() - at)
				r.mu.Lock()
				r.lat = append(r.lat, d)
				r.mu.Unlock()
			}
		}
	}
}

// fillRawBatch adds n one-field tuples from src to b, each anchored with
// random 53-bit ids, like the runtime's (the same seed every time).
func fillRawBatch(b *router.Batch, src *sdk.Source, n int) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		t := b.AddTuple(src, 1, []sdk.Value{sdk.Int(int64(i))}, 1)
		t.Anchors[0] = sdk.Anchor{Root: r.Uint64() >> 11, ID: r.Uint64() >> 11}
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
// tuples per second. Benchmarks measure it in the same run as Gale. With
// sec (nil: plaintext) the stream runs over mutual TLS, as a cluster with
// TLS does.
func MeasureRawStream(ctx context.Context, d time.Duration, batch int, mode RawStream, sec *security.Security) (float64, error) {
	r, err := measureRaw(ctx, d, batch, mode, 0, sec)
	return r.Rate, err
}

// RawResult is what a paced raw stream run measured.
type RawResult struct {
	// Rate is tuples per second counted by the server.
	Rate float64
	// P50 and P99 are the time from a frame's send to the server having
	// it: the stream's latency floor at that load.
	P50, P99 time.Duration
}

// MeasureRawStreamAt is MeasureRawStream sending at rate tuples per second:
// a frame goes as soon as a frame's worth of tuples is due by the clock.
// It times every frame from its send to the server's receipt.
func MeasureRawStreamAt(ctx context.Context, d time.Duration, batch int, mode RawStream, rate float64, sec *security.Security) (RawResult, error) {
	if rate <= 0 {
		return RawResult{}, fmt.Errorf("raw stream at %v tuples/s: the rate must be positive", rate)
	}
	return measureRaw(ctx, d, batch, mode, rate, sec)
}

// measureRaw runs the raw stream for d, at rate tuples/s (0: as fast as it
// goes, untimed), over TLS with sec (nil: plaintext).
func measureRaw(ctx context.Context, d time.Duration, batch int, mode RawStream, rate float64, sec *security.Security) (RawResult, error) {
	serverCreds, err := sec.ServerOption()
	if err != nil {
		return RawResult{}, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return RawResult{}, err
	}
	sopts := ServerOptions()
	if serverCreds != nil {
		sopts = append(sopts, serverCreds)
	}
	srv := grpc.NewServer(sopts...)
	raw := &rawCounter{mode: mode, perFrame: int64(batch)}
	if rate > 0 {
		// The stream keeps order, so the server matches the n-th frame
		// it reads with the n-th send time.
		raw.sent = make(chan int64, 1<<16)
	}
	galev1.RegisterTransferServiceServer(srv, raw)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-served }()
	conn, err := grpc.NewClient(lis.Addr().String(), append(DialOptions(), grpc.WithTransportCredentials(sec.Credentials()))...)
	if err != nil {
		return RawResult{}, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := galev1.NewTransferServiceClient(conn).Transfer(sctx)
	if err != nil {
		return RawResult{}, err
	}
	src := sdk.NewSource("c", "default", []string{"n"})
	b := router.NewBatch()
	defer b.Release()
	fillRawBatch(b, src, batch)
	frame, err := rawFrame(mode, 2, b)
	if err != nil {
		return RawResult{}, err
	}
	start := time.Now()
	deadline := start.Add(d)
	warm := start.Add(d / 4)
	var n0 int64
	var t0 time.Time
	frames := int64(0)
	for time.Now().Before(deadline) {
		if t0.IsZero() && time.Now().After(warm) {
			n0, t0 = raw.n.Load(), time.Now()
			raw.timing.Store(true)
		}
		if rate <= 0 {
			for i := 0; i < 64; i++ {
				if err := st.SendMsg(frame); err != nil {
					return RawResult{}, err
				}
			}
			continue
		}
		now := time.Now()
		if due := int64(now.Sub(start).Seconds() * rate / float64(batch)); frames >= due {
			next := start.Add(time.Duration(float64(frames+1) * float64(batch) / rate * 1e9))
			time.Sleep(min(next.Sub(now), deadline.Sub(now)))
			continue
		}
		frames++
		raw.sent <- router.Nanotime()
		if err := st.SendMsg(frame); err != nil {
			return RawResult{}, err
		}
	}
	n1, t1 := raw.n.Load(), time.Now()
	raw.timing.Store(false)
	st.CloseSend()
	if t0.IsZero() {
		return RawResult{}, fmt.Errorf("raw stream at %v tuples/s: no frame went after the warm-up of %v; the window is too short for the rate", rate, d/4)
	}
	res := RawResult{Rate: float64(n1-n0) / t1.Sub(t0).Seconds()}
	if rate > 0 {
		res.P50, res.P99 = raw.quantiles()
	}
	return res, nil
}
