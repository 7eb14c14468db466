package transfer

import (
	"context"
	"errors"
	"io"
	"runtime/pprof"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
)

// Receiver takes what arrives for one topology run on this node. Its
// methods are called from the streams' goroutines, one frame at a time per
// stream, and must not block: a stream that stops being read holds up
// everything on it (other tasks' tuples, acker operations, end-of-input
// markers), and two nodes whose streams wait on each other deadlock. Flow
// control is by credit instead: the Receiver returns a batch's tuples to
// the stream's Credits once the batch is in its task's queue (or has been
// dropped), and senders wait for credit per destination task. It must be
// safe for use by several streams (one per sending node) at once.
type Receiver interface {
	// Sources resolves streams for decoding.
	Sources() Sources
	// Deliver hands a batch to a local task, taking ownership of it, and
	// returns its tuples to c once they are in the task's queue (or
	// dropped because the run is stopping). If dest does not run here it
	// returns ErrTaskNotHere and leaves the batch, and its credit, to the
	// caller; any other error ends the stream (the batch is released).
	Deliver(dest int32, b *router.Batch, c Credits) error
	// Acks hands acker operations (to local ackers or spouts) over. They
	// take no credit: acker traffic never waits behind tuples.
	Acks(ops []router.AckOp, meta AckMeta) error
	// EndOfInput passes a task's end-of-input marker to local tasks, after
	// the tuples that task sent them before; markers take no credit.
	EndOfInput(from int32, to []int32) error
}

// AckMeta is what an ack frame tells besides its operations (see
// galev1.AckBatch).
type AckMeta struct {
	// Backlog is the age of the oldest work on the sending node.
	Backlog time.Duration
	// Forwarded marks operations a node passed on because their acker
	// moved; they are not passed on again.
	Forwarded bool
}

// Credits takes tuples back into a stream's flow-control window. Return
// is safe for concurrent use and never blocks; it may be called after the
// stream ended (it then does nothing).
type Credits interface {
	Return(task int32, tuples, bytes int)
}

// Server is the TransferService: it routes each stream to the Receiver of
// the topology run named in the stream's hello.
type Server struct {
	galev1.UnimplementedTransferServiceServer
	mu        sync.RWMutex
	receivers map[string]Receiver
	// RegisterWait is how long a stream for a run that is not (yet)
	// hosted here waits for it to be registered; set before serving.
	RegisterWait time.Duration
}

// NewServer makes a server with no receivers.
func NewServer() *Server {
	return &Server{receivers: map[string]Receiver{}, RegisterWait: 10 * time.Second}
}

// Register makes a topology run's receiver reachable.
func (s *Server) Register(topologyID string, r Receiver) {
	s.mu.Lock()
	s.receivers[topologyID] = r
	s.mu.Unlock()
}

// Unregister removes a run's receiver; its streams end at their next frame.
func (s *Server) Unregister(topologyID string) {
	s.mu.Lock()
	delete(s.receivers, topologyID)
	s.mu.Unlock()
}

func (s *Server) receiver(id string) Receiver {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.receivers[id]
}

// Transfer implements the TransferService.
func (s *Server) Transfer(stream galev1.TransferService_TransferServer) error {
	ctx := stream.Context()
	// Frames are read as TransferFrame, TransferRequest's twin on the
	// wire, so that packed tuples and acks are decoded from their bytes
	// straight into batches and operations (wire.go).
	first := &galev1.TransferFrame{}
	if err := stream.RecvMsg(first); err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first Transfer frame must be a hello")
	}
	id := hello.GetTopologyId()
	// Profiles tell the streams' decoding apart by these labels.
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("transfer-run", id, "transfer-from", hello.GetNode())))
	defer pprof.SetGoroutineLabels(ctx)
	// A node starts its part of a run when it sees the assignment; a
	// faster node may already be sending. Wait a little for the run to be
	// registered rather than refuse the stream and lose what follows it.
	deadline := time.Now().Add(s.RegisterWait)
	for s.receiver(id) == nil {
		if time.Now().After(deadline) {
			return status.Errorf(codes.NotFound, "topology run %q is not hosted on this node", id)
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	window := hello.GetCreditWindow()
	if window <= 0 {
		return status.Error(codes.InvalidArgument, "the Transfer hello must set credit_window: this node takes tuples only from senders that wait for credit")
	}
	// Grants go out from their own goroutine: tuples in a task's queue
	// overflow are taken back by that queue's pump, not by this one.
	var (
		sendMu sync.Mutex // stream.Send is not safe for concurrent use
		wg     sync.WaitGroup
	)
	if hello.GetCreditWindowBytes() > 0 {
		// Say that this receiver grants bytes back, before any tuple: the
		// sender waits on its byte window only once it knows (see
		// Credit.counts_bytes).
		if err := stream.Send(&galev1.TransferResponse{Frame: &galev1.TransferResponse_Credit{Credit: &galev1.Credit{CountsBytes: true}}}); err != nil {
			return err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	g := newGrants(Window{Tuples: window, Bytes: hello.GetCreditWindowBytes()})
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.run(sctx, func(resp *galev1.TransferResponse) error {
			sendMu.Lock()
			defer sendMu.Unlock()
			return stream.Send(resp)
		})
	}()
	defer func() {
		g.close()
		cancel()
		wg.Wait()
	}()
	var (
		ops     []router.AckOp
		packed  packedColumns
		acks    ackColumns
		batches = map[int32]*router.Batch{}
		order   []int32
	)
	batchFor := func(dest int32) *router.Batch {
		b := batches[dest]
		if b == nil {
			b = router.NewBatch()
			b.Born = router.Nanotime()
			batches[dest] = b
			order = append(order, dest)
		}
		return b
	}
	// spare and spareAcks are buffers of earlier frames that nothing
	// points into any more, lent to the codec for the next frame's bytes
	// (frameCodec). A frame whose decoded strings point into its bytes
	// keeps them, and the next frame gets new ones.
	var spare, spareAcks []byte
	for {
		req := &galev1.TransferFrame{Packed: spare[:0], Acks: spareAcks[:0]}
		err := stream.RecvMsg(req)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r := s.receiver(id)
		if r == nil {
			return status.Errorf(codes.NotFound, "topology run %q stopped on this node", id)
		}
		// A frame sets one field, as TransferRequest's oneof would; one
		// that sets none (an empty ack batch) carries nothing.
		switch {
		case req.Packed != nil || req.Tuples != nil:
			clear(batches)
			order = order[:0]
			var err error
			if req.Packed != nil {
				var aliased bool
				if err = packed.parse(req.Packed); err == nil {
					aliased, err = packed.decode(r.Sources(), batchFor)
				}
				if spare = req.Packed; aliased {
					spare = nil
				}
			} else {
				err = DecodeTuples(req.GetTuples(), r.Sources(), batchFor)
			}
			if err != nil {
				for _, b := range batches {
					b.Release()
				}
				return status.Error(codes.InvalidArgument, err.Error())
			}
			var moved *galev1.TaskMoved
			for i, dest := range order {
				b := batches[dest]
				if err := r.Deliver(dest, b, g); errors.Is(err, ErrTaskNotHere) {
					if moved == nil {
						moved = &galev1.TaskMoved{}
					}
					moved.Tasks = append(moved.Tasks, dest)
					for i := range b.Tuples {
						for _, a := range b.Tuples[i].Anchors {
							moved.Roots = append(moved.Roots, a.Root)
						}
					}
					g.Return(dest, len(b.Tuples), b.ValueBytes)
					b.Release()
				} else if err != nil {
					for _, d := range order[i+1:] {
						batches[d].Release()
					}
					return status.FromContextError(err).Err()
				}
			}
			if moved != nil {
				sendMu.Lock()
				err := stream.Send(&galev1.TransferResponse{Frame: &galev1.TransferResponse_Rejected{Rejected: moved}})
				sendMu.Unlock()
				if err != nil {
					return err
				}
			}
		case req.Acks != nil:
			err := acks.parse(req.Acks)
			if err == nil {
				ops, err = acks.ops(ops[:0])
			}
			spareAcks = req.Acks // the operations are copies
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			if err := r.Acks(ops, AckMeta{Backlog: time.Duration(acks.backlog), Forwarded: acks.forwarded}); err != nil {
				return status.FromContextError(err).Err()
			}
		case req.EndOfInput != nil:
			if err := r.EndOfInput(req.EndOfInput.GetFromTask(), req.EndOfInput.GetToTasks()); err != nil {
				return status.FromContextError(err).Err()
			}
		case req.Hello != nil:
			return status.Error(codes.InvalidArgument, "a second Transfer hello on one stream")
		}
	}
}
