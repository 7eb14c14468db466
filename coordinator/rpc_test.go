package coordinator_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/coordinator"
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
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-served }()

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
