package transfer

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// countingReceiver counts delivered tuples and drops them.
type countingReceiver struct{ n atomic.Int64 }

func (c *countingReceiver) Sources() Sources {
	return func(int32, string) *sdk.Source { return srcOdd }
}
func (c *countingReceiver) Deliver(dest int32, b *router.Batch, cr Credits) error {
	c.n.Add(int64(len(b.Tuples)))
	cr.Return(dest, len(b.Tuples), b.ValueBytes)
	b.Release()
	return nil
}
func (c *countingReceiver) Acks([]router.AckOp, AckMeta) error { return nil }
func (c *countingReceiver) EndOfInput(int32, []int32) error    { return nil }

func listen(b *testing.B, register func(*grpc.Server)) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	register(srv)
	go srv.Serve(lis)
	b.Cleanup(srv.Stop)
	return lis.Addr().String()
}

const benchBatch = 128

// BenchmarkTransfer sends batches of 128 one-field tuples (anchored, as with
// acking on) through Sender and Server over loopback gRPC, and in the same
// run the baseline: the same batch as a PackedTuples message on a raw gRPC
// stream, marshalled at each send and unmarshalled by a server that only
// counts the tuples (RawMessages); and the transport alone, the frame's
// bytes encoded once (RawBytes). Reported: tuples/s for both and the ratio.
func BenchmarkTransfer(b *testing.B) {
	recv := &countingReceiver{}
	addr := listen(b, func(s *grpc.Server) {
		ts := NewServer()
		ts.Register("run", recv)
		galev1.RegisterTransferServiceServer(s, ts)
	})

	batch := router.NewBatch()
	fillRawBatch(batch, srcOdd, benchBatch)

	// Gale's path.
	conn := dial2(b, addr)
	s := NewSender(conn, "a", "run", Window{Tuples: 64 * benchBatch}, nil) // Gale's default window
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := s.SendTuples(1, batch); err != nil {
			b.Fatal(err)
		}
	}
	for recv.n.Load() < int64(b.N*benchBatch) {
		time.Sleep(time.Millisecond)
	}
	gale := float64(b.N*benchBatch) / time.Since(start).Seconds()
	s.Close()

	// The baselines, same number of tuples.
	raw := func(mode RawStream) float64 {
		counter := &rawCounter{mode: mode, perFrame: benchBatch}
		rconn := dial2(b, listen(b, func(s *grpc.Server) { galev1.RegisterTransferServiceServer(s, counter) }))
		frame, err := rawFrame(mode, 1, batch)
		if err != nil {
			b.Fatal(err)
		}
		st, err := galev1.NewTransferServiceClient(rconn).Transfer(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := st.SendMsg(frame); err != nil {
				b.Fatal(err)
			}
		}
		for counter.n.Load() < int64(b.N*benchBatch) {
			time.Sleep(time.Millisecond)
		}
		st.CloseSend()
		return float64(b.N*benchBatch) / time.Since(start).Seconds()
	}
	base := raw(RawMessages)
	b.ReportMetric(gale, "tuples/s")
	b.ReportMetric(base, "raw-tuples/s")
	b.ReportMetric(gale/base, "ratio")
	b.ReportMetric(raw(RawBytes), "bytes-only-tuples/s")
}

func dial2(b *testing.B, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, append(DialOptions(), grpc.WithTransportCredentials(insecureCreds()))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

func TestRawStreamAtARateIsPacedAndTimed(t *testing.T) {
	const rate = 200000
	for _, mode := range []RawStream{RawMessages, RawBytes} {
		r, err := MeasureRawStreamAt(context.Background(), 400*time.Millisecond, 128, mode, rate, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The pacer never sends ahead of the clock, so the count cannot
		// run far over the rate; it may fall under it on a stalled host.
		if r.Rate <= 0 || r.Rate > 1.5*rate {
			t.Errorf("mode %d: %.0f tuples/s, want about %d", mode, r.Rate, rate)
		}
		if r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("mode %d: latency p50 %v, p99 %v: not timed", mode, r.P50, r.P99)
		}
	}
	if _, err := MeasureRawStreamAt(context.Background(), time.Second, 128, RawMessages, 0, nil); err == nil {
		t.Error("a rate of 0 was accepted")
	}
	// One frame in 128 s: none goes within the window, which must end on
	// time with an error rather than sleep for the frame.
	start := time.Now()
	if _, err := MeasureRawStreamAt(context.Background(), 200*time.Millisecond, 128, RawMessages, 1, nil); err == nil {
		t.Error("a run that sent no frame after its warm-up gave a result")
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a 200 ms run at 1 tuple/s took %v", took)
	}
}
