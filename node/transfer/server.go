package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/router"
)

// Receiver takes what arrives for one topology run on this node. Its
// methods are called from the stream's goroutine, one frame at a time, and
// may block: that is how backpressure reaches the sender. It must be safe
// for use by several streams (one per sending node) at once.
type Receiver interface {
	// Sources resolves streams for decoding.
	Sources() Sources
	// Deliver hands a batch to a local task, taking ownership of it; it
	// returns ErrTaskNotHere (and releases the batch) if dest does not run
	// here.
	Deliver(ctx context.Context, dest int32, b *router.Batch) error
	// Acks hands acker operations (to local ackers or spouts) over.
	Acks(ctx context.Context, ops []router.AckOp) error
	// EndOfInput passes a task's end-of-input marker to local tasks.
	EndOfInput(ctx context.Context, from int32, to []int32) error
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
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first Transfer frame must be a hello")
	}
	id := hello.GetTopologyId()
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
	var (
		ops     []router.AckOp
		batches = map[int32]*router.Batch{}
		order   []int32
	)
	for {
		req, err := stream.Recv()
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
		switch f := req.GetFrame().(type) {
		case *galev1.TransferRequest_Tuples, *galev1.TransferRequest_Packed:
			clear(batches)
			order = order[:0]
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
			var err error
			if p := req.GetPacked(); p != nil {
				err = DecodePacked(p, r.Sources(), batchFor)
			} else {
				err = DecodeTuples(req.GetTuples(), r.Sources(), batchFor)
			}
			if err != nil {
				for _, b := range batches {
					b.Release()
				}
				return status.Error(codes.InvalidArgument, err.Error())
			}
			moved := &galev1.TaskMoved{}
			for _, dest := range order {
				b := batches[dest]
				var roots []uint64
				for i := range b.Tuples {
					for _, a := range b.Tuples[i].Anchors {
						roots = append(roots, a.Root)
					}
				}
				err := r.Deliver(ctx, dest, b)
				switch {
				case errors.Is(err, ErrTaskNotHere):
					moved.Tasks = append(moved.Tasks, dest)
					moved.Roots = append(moved.Roots, roots...)
				case err != nil:
					return status.FromContextError(err).Err()
				}
			}
			if len(moved.GetTasks()) > 0 {
				if err := stream.Send(&galev1.TransferResponse{Frame: &galev1.TransferResponse_Rejected{Rejected: moved}}); err != nil {
					return err
				}
			}
		case *galev1.TransferRequest_Acks:
			ops, err = DecodeAcks(f.Acks, ops[:0])
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			if err := r.Acks(ctx, ops); err != nil {
				return status.FromContextError(err).Err()
			}
		case *galev1.TransferRequest_EndOfInput:
			if err := r.EndOfInput(ctx, f.EndOfInput.GetFromTask(), f.EndOfInput.GetToTasks()); err != nil {
				return status.FromContextError(err).Err()
			}
		default:
			return status.Error(codes.InvalidArgument, fmt.Sprintf("unexpected Transfer frame %T", f))
		}
	}
}
