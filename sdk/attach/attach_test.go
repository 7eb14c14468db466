package attach_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/attach"
	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// preparedBolt records whether Prepare ran.
type preparedBolt struct{ prepared atomic.Bool }

func (b *preparedBolt) DeclareOutputFields(*sdk.OutputDeclarer) {}
func (b *preparedBolt) Prepare(context.Context, *sdk.TaskContext, *sdk.BoltCollector) error {
	b.prepared.Store(true)
	return nil
}
func (b *preparedBolt) Execute(*sdk.Tuple) {}
func (b *preparedBolt) Cleanup() error     { return nil }

// A stop before the welcome has nothing to finish: Run returns at once
// with the context's error and no hook runs (sdk/ATTACH.md, "Ending").
func TestRunStoppedBeforeTheWelcomeReturnsAtOnce(t *testing.T) {
	node, addr := startFakeNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bolt := &preparedBolt{}
	done := make(chan error, 1)
	go func() {
		done <- attach.Run(ctx, bolt, attach.Options{Addr: addr, Topology: "t", Component: "c"})
	}()
	var s galev1.AttachService_AttachServer
	select {
	case s = <-node.streams:
		if f, err := s.Recv(); err != nil || f.GetHello() == nil {
			t.Fatalf("first frame %v, %v; want a hello", f, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not attach")
	}
	cancel()
	// A welcome right after the stop must not start the task.
	_ = s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Welcome{Welcome: &galev1.TaskContext{Topology: "t", Component: "c", TaskId: 1, HeartbeatMillis: 1000}}})
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return within 3 s of the stop")
	}
	if bolt.prepared.Load() {
		t.Fatal("Prepare ran after the stop")
	}
}

// A panic in a component's call names the component's line, also when it
// happened inside an SDK method it called.
func TestAPanicNamesTheComponentsLine(t *testing.T) {
	var tup *sdk.Tuple
	err := attach.Safely(func() error { _ = tup.Str(0); return nil }) // the line
	_, file, line, _ := runtime.Caller(0)
	want := fmt.Sprintf("(at attach/%s:%d)", filepath.Base(file), line-1)
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("a panic: %v, want an error ending %q", err, want)
	}
	refused := errors.New("refused")
	if err := attach.Safely(func() error { panic(refused) }); !errors.Is(err, refused) {
		t.Fatalf("a panic with an error: %v does not wrap it", err)
	}
}

// A process without TLS files attaching to a node that requires TLS is
// told that TLS may be the cause: the node closes the connection, and
// "error reading server preface: EOF" says nothing of TLS by itself.
func TestPlaintextToATLSNodeHintsAtTLS(t *testing.T) {
	ca := securitytest.NewCA(t, "gale")
	sec, err := security.Load(ca.Issue(t, "node"), "TLS")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sec.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	galev1.RegisterAttachServiceServer(srv, galev1.UnimplementedAttachServiceServer{})
	go srv.Serve(lis)
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = attach.Run(ctx, &confBolt{}, attach.Options{Addr: lis.Addr().String(), Topology: "t", Component: "c", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "does the node require TLS? set GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY") {
		t.Fatalf("Run = %v; want a hint at TLS", err)
	}
}
