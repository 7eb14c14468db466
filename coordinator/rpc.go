package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/node/transfer"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/security"
)

// Every gRPC connection in Gale takes its options from these two
// functions, so its security (TLS, Security) is decided in one place and
// no call site builds credentials of its own. A nil *security.Security is
// plaintext: clusters on trusted networks, and the tests on 127.0.0.1.

// DialOptions are the options for every client connection Gale makes.
// Adding a stats handler or interceptor that keeps sent messages to read
// later would break node/transfer's Sender, which reuses a frame's buffers
// once SendMsg has returned (gRPC has encoded the frame by then).
// They include the HTTP/2 windows and buffers of node-to-node Transfer
// streams (transfer.DialOptions), which share the nodes' one port.
func DialOptions(sec *security.Security) []grpc.DialOption {
	return append([]grpc.DialOption{grpc.WithTransportCredentials(sec.Credentials())}, transfer.DialOptions()...)
}

// ServerOptions are the options for every gRPC server Gale runs, with the
// HTTP/2 settings of Transfer streams (transfer.ServerOptions). With TLS
// the server requires a client certificate signed by the CA; a Security
// without a certificate of its own cannot serve (the error says so).
func ServerOptions(sec *security.Security) ([]grpc.ServerOption, error) {
	opts := transfer.ServerOptions()
	creds, err := sec.ServerOption()
	if err != nil {
		return nil, err
	}
	if creds != nil {
		opts = append(opts, creds)
	}
	return opts, nil
}

// DialCoordinator connects to the Coordinator API at addr and checks that
// something answers within timeout, so that an unreachable node is
// reported as such instead of as a confusing per-call error later.
func DialCoordinator(ctx context.Context, addr string, sec *security.Security, timeout time.Duration) (galev1.CoordinatorServiceClient, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, DialOptions(sec)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c := galev1.NewCoordinatorServiceClient(conn)
	// A node that lost its etcd says so in its health: asked first, it
	// spares every command of an outage the whole timeout (each took 5 s
	// to say what the health said at once).
	if coordinatorNotServing(ctx, conn) {
		conn.Close()
		return nil, nil, upWithoutEtcd(addr)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// One attempt first: a TLS mismatch (plaintext against TLS, a
	// certificate refused either way) fails it at once, and waiting for
	// the node would only repeat it until the timeout. Anything else (a
	// node still starting) is waited for.
	_, err = c.ListNodes(cctx, &galev1.ListNodesRequest{})
	if err != nil && !tlsRefusal(err, sec != nil) {
		_, err = c.ListNodes(cctx, &galev1.ListNodesRequest{}, grpc.WaitForReady(true))
	}
	if err != nil {
		err = unansweredError(ctx, conn, addr, timeout, err, sec != nil)
		conn.Close()
		return nil, nil, err
	}
	return c, conn, nil
}

// unansweredError says why the node at addr did not answer: a node that
// is up but whose etcd is out of reach takes calls it cannot answer, which
// is not the same as no node at all.
func unansweredError(ctx context.Context, conn *grpc.ClientConn, addr string, timeout time.Duration, err error, withTLS bool) error {
	if tlsRefusal(err, withTLS) {
		// Something answered, and the handshake failed: "no node
		// answers" sent people looking for a process that was running.
		return fmt.Errorf("something answers at %s, but the connection failed at TLS: %w", addr, err)
	}
	if conn.GetState() == connectivity.Ready {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		h, herr := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{Service: galev1.CoordinatorService_ServiceDesc.ServiceName})
		if herr == nil && h.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			return upWithoutEtcd(addr)
		}
		if herr == nil && status.Code(err) == codes.DeadlineExceeded {
			return fmt.Errorf("the Gale node at %s is up but did not answer within %v (is its etcd reachable? see its log): %w", addr, timeout, err)
		}
		if herr == nil {
			return fmt.Errorf("the Gale node at %s answered with an error: %s", addr, status.Convert(err).Message())
		}
	}
	return fmt.Errorf("no Gale node answers at %s (is 'gale node' running?): %w", addr, err)
}

// upWithoutEtcd is the error for a node whose Coordinator API reports not
// serving: it lost its etcd.
func upWithoutEtcd(addr string) error {
	return fmt.Errorf("the Gale node at %s is up but cannot reach its etcd (it reports its Coordinator API not serving; its log says why)", addr)
}

// coordinatorNotServing reports whether the node at conn answers that its
// Coordinator API is not serving (it lost its etcd). A node that does not
// answer at once (not started yet, TLS refused, an older node) is left to
// the call that follows.
func coordinatorNotServing(ctx context.Context, conn *grpc.ClientConn) bool {
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{Service: galev1.CoordinatorService_ServiceDesc.ServiceName})
	return err == nil && h.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
}

// tlsRefusal tells whether a failed first attempt was the two ends
// disagreeing on TLS, which no retry mends.
func tlsRefusal(err error, withTLS bool) bool {
	if status.Code(err) != codes.Unavailable {
		return false
	}
	msg := status.Convert(err).Message()
	for _, s := range []string{"tls:", "x509:", "certificate", "handshake", "server preface"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	// A node with TLS that refuses the client's certificate closes the
	// connection; the client may see only that.
	return withTLS && (strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe"))
}

// RecoverPanics are server options that turn a panic in a Coordinator API
// handler into an Internal error for that call, logged with its stack,
// instead of a crash of the whole node (every topology on it restarting
// elsewhere) on one request that reached a bug. The data plane (Transfer,
// Attach) is left to crash: a panic there may leave queues and routing
// half updated, and a node that fails over is safer than one that goes on
// so. The caller is told nothing of the panic itself.
func RecoverPanics(log *slog.Logger) []grpc.ServerOption {
	api := "/" + galev1.CoordinatorService_ServiceDesc.ServiceName + "/"
	// guard runs call, turning a panic in it into an Internal error.
	guard := func(method string, call func() error) (err error) {
		if !strings.HasPrefix(method, api) {
			return call()
		}
		defer func() {
			if v := recover(); v != nil {
				log.Error("a Coordinator API handler panicked; the call failed with Internal", "method", method, "panic", v, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "%s failed: internal error (a bug in Gale); the node's log has the details", method)
			}
		}()
		return call()
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
			err = guard(info.FullMethod, func() (err error) {
				resp, err = handler(ctx, req)
				return err
			})
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return guard(info.FullMethod, func() error { return handler(srv, ss) })
		}),
	}
}
