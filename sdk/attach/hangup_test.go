package attach_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/attach"
)

// failingBolt cannot start.
type failingBolt struct{}

func (failingBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("word") }
func (failingBolt) Prepare(context.Context, *sdk.TaskContext, *sdk.BoltCollector) error {
	return errors.New("config pass.mode: want fast or slow")
}
func (failingBolt) Execute(*sdk.Tuple) {}
func (failingBolt) Cleanup() error     { return nil }

// hangUpNode welcomes a process and reports what it sent until it ended
// its side of the stream.
type hangUpNode struct {
	galev1.UnimplementedAttachServiceServer
	got chan string // the frames' error messages, then "EOF" or the error
}

func (n *hangUpNode) Attach(s galev1.AttachService_AttachServer) error {
	if _, err := s.Recv(); err != nil { // hello
		return err
	}
	w := &galev1.TaskContext{Topology: "t", Component: "c", TaskId: 1, HeartbeatMillis: 1000,
		Outputs: []*galev1.StreamSpec{{Id: "default", Fields: []string{"word"}}}}
	if err := s.Send(&galev1.AttachResponse{Frame: &galev1.AttachResponse_Welcome{Welcome: w}}); err != nil {
		return err
	}
	for {
		f, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				n.got <- "EOF"
			} else {
				n.got <- err.Error()
			}
			return nil
		}
		if e := f.GetError(); e != nil {
			n.got <- e.GetMessage()
		}
	}
}

// TestAFailedPrepareReachesTheNodeBeforeTheStreamEnds: a process whose
// component cannot start sends the reason and half-closes the stream; it
// must not cancel the stream first, which could drop the reason (the
// cancel raced the writer: the node saw "context canceled" and never why).
func TestAFailedPrepareReachesTheNodeBeforeTheStreamEnds(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node := &hangUpNode{got: make(chan string, 16)}
	srv := grpc.NewServer()
	galev1.RegisterAttachServiceServer(srv, node)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	for i := range 20 {
		err := attach.Run(context.Background(), failingBolt{}, attach.Options{
			Addr: lis.Addr().String(), Topology: "t", Component: "c", TaskID: 1, Token: "x",
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err == nil || !strings.Contains(err.Error(), "want fast or slow") {
			t.Fatalf("run %d: Run = %v, want the prepare error", i, err)
		}
		var got []string
		for len(got) == 0 || (got[len(got)-1] != "EOF" && !strings.Contains(got[len(got)-1], "anceled")) {
			select {
			case m := <-node.got:
				got = append(got, m)
			case <-time.After(10 * time.Second):
				t.Fatalf("run %d: the node got %q and then nothing", i, got)
			}
		}
		if len(got) != 2 || !strings.Contains(got[0], "want fast or slow") || got[1] != "EOF" {
			t.Fatalf("run %d: the node got %q, want the prepare error and then the process's half-close", i, got)
		}
	}
}
