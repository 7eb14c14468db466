package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/coordinator"
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// TestDialCoordinatorFailsAtOnceOnATLSMismatch: a client whose TLS the
// server refuses (plaintext, or a certificate of another CA) gets the
// handshake's error from the first attempt, not a wait for the timeout
// that would end in a deadline: no retry mends it.
func TestDialCoordinatorFailsAtOnceOnATLSMismatch(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	sec, err := security.Load(ca.Issue(t, "node"), "TLS")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := coordinator.ServerOptions(sec)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	lis := serve(t, srv)

	other := securitytest.NewCA(t, "other")
	theirs := other.Issue(t, "s")
	stranger, err := security.Load(security.TLSFiles{CA: ca.File, Cert: theirs.Cert, Key: theirs.Key}, "TLS")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sec  *security.Security
	}{{"plaintext", nil}, {"a certificate of another CA", stranger}} {
		t.Run(tc.name, func(t *testing.T) {
			// A minute to wait: a dial that retried would end in
			// DeadlineExceeded after it, not Unavailable.
			_, conn, err := coordinator.DialCoordinator(context.Background(), lis.Addr().String(), tc.sec, time.Minute)
			if err == nil {
				conn.Close()
				t.Fatal("the dial got through")
			}
			var se interface{ GRPCStatus() *status.Status }
			if !errors.As(err, &se) || se.GRPCStatus().Code() != codes.Unavailable {
				t.Fatalf("dial: %v; want the handshake's Unavailable from the first attempt", err)
			}
		})
	}
}

// panicky is a Coordinator API whose ListNodes hits a bug.
type panicky struct {
	galev1.UnimplementedCoordinatorServiceServer
}

func (panicky) ListNodes(context.Context, *galev1.ListNodesRequest) (*galev1.ListNodesResponse, error) {
	var m map[string]int
	m["x"] = 1 // a nil map: panics
	return nil, nil
}

// TestAPanicFailsTheCallNotTheServer: with RecoverPanics, a handler that
// panics fails its call with Internal (the log has the stack) and the
// server goes on answering.
func TestAPanicFailsTheCallNotTheServer(t *testing.T) {
	var log bytes.Buffer
	srv := grpc.NewServer(coordinator.RecoverPanics(slog.New(slog.NewTextHandler(&log, nil)))...)
	galev1.RegisterCoordinatorServiceServer(srv, panicky{})
	lis := serve(t, srv)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := galev1.NewCoordinatorServiceClient(conn)
	for range 2 {
		_, err := client.ListNodes(context.Background(), &galev1.ListNodesRequest{})
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "ListNodes failed: internal error") {
			t.Fatalf("ListNodes: %v, want Internal", err)
		}
	}
	if !strings.Contains(log.String(), "a Coordinator API handler panicked") || !strings.Contains(log.String(), "rpc_test.go") {
		t.Fatalf("the log lacks the panic and its stack:\n%s", log.String())
	}
}

// serve serves srv on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, srv *grpc.Server) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-served })
	return lis
}
