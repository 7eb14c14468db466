package external

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Forwarding: an attached process may connect to any node of a cluster.
// When this node hosts no free task of the component it asks for, the hub
// opens an Attach stream to a node that does (Hub.Candidates names them)
// and relays frames both ways, so the process never needs to know where
// its task runs.

// forwardedKey marks a relayed stream, which is never relayed again.
const forwardedKey = "gale-attach-forwarded"

// Candidates returns connections to other nodes that host tasks of a
// topology's component, to try in order.
type Candidates func(ctx context.Context, topology, component string) []*grpc.ClientConn

// forward relays the stream to the first candidate that welcomes it. It
// returns errNoCandidate when none does.
func (h *Hub) forward(stream galev1.AttachService_AttachServer, hello *galev1.AttachHello) error {
	ctx := stream.Context()
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedKey)) > 0 {
		return errNoCandidate
	}
	var last error = errNoCandidate
	for _, conn := range h.Candidates(ctx, hello.GetTopology(), hello.GetComponent()) {
		octx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, forwardedKey, "1"))
		out, err := galev1.NewAttachServiceClient(conn).Attach(octx)
		if err == nil {
			err = out.Send(&galev1.AttachRequest{Frame: &galev1.AttachRequest_Hello{Hello: hello}})
		}
		var first *galev1.AttachResponse
		if err == nil {
			first, err = out.Recv()
		}
		if err != nil {
			cancel()
			last = err
			if c := status.Code(err); c == codes.NotFound || c == codes.ResourceExhausted || c == codes.Unavailable {
				continue
			}
			return err
		}
		defer cancel()
		if err := stream.Send(first); err != nil {
			return err
		}
		return relay(stream, out)
	}
	return last
}

var errNoCandidate = errors.New("no other node hosts a free task of the component")

// relay copies frames both ways until either side ends, and ends the
// process's stream the way the node's ended.
func relay(in galev1.AttachService_AttachServer, out galev1.AttachService_AttachClient) error {
	go func() {
		// Upstream: the process's frames to the node. It ends with the
		// process's half-close (passed on) or with the call.
		for {
			f, err := in.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					_ = out.CloseSend()
				}
				return
			}
			if err := out.Send(f); err != nil {
				return // the node's side ended: its status comes below
			}
		}
	}()
	for {
		f, err := out.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := in.Send(f); err != nil {
			return err
		}
	}
}
