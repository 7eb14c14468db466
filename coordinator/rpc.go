package coordinator

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// Every gRPC connection in Gale takes its credentials from these two
// functions, so TLS or authentication can be switched on here without
// touching a call site. Today they are plaintext: clusters run on trusted
// networks (and the tests on 127.0.0.1).

// DialOptions are the options for every client connection Gale makes.
// Adding a stats handler or interceptor that keeps sent messages to read
// later would break node/transfer's Sender, which reuses a frame's buffers
// once SendMsg has returned (gRPC has encoded the frame by then).
// They include the HTTP/2 windows and buffers of node-to-node Transfer
// streams (transfer.DialOptions), which share the nodes' one port.
func DialOptions() []grpc.DialOption {
	return append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, transfer.DialOptions()...)
}

// ServerOptions are the options for every gRPC server Gale runs, with the
// HTTP/2 settings of Transfer streams (transfer.ServerOptions).
func ServerOptions() []grpc.ServerOption {
	return transfer.ServerOptions()
}

// DialCoordinator connects to the Coordinator API at addr and checks that
// something answers within timeout, so that an unreachable node is
// reported as such instead of as a confusing per-call error later.
func DialCoordinator(ctx context.Context, addr string, timeout time.Duration) (galev1.CoordinatorServiceClient, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, DialOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c := galev1.NewCoordinatorServiceClient(conn)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.ListNodes(cctx, &galev1.ListNodesRequest{}, grpc.WaitForReady(true)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("no Gale node answers at %s (is 'gale node' running?): %w", addr, err)
	}
	return c, conn, nil
}
