package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/security"
)

// Options tune Submit.
type Options struct {
	// Config overrides the spec's topology config (like --conf).
	Config sdk.Config
	// Inactive submits the topology deactivated: its spouts wait for
	// `gale activate`.
	Inactive bool
	// TLS names the CA, certificate and key for a node that requires
	// mutual TLS; zero means the GALE_TLS_CA, GALE_TLS_CERT and
	// GALE_TLS_KEY variables, and plaintext when they are not set.
	TLS security.TLSFiles
	// DialOptions replace the default dial options (those of TLS).
	DialOptions []grpc.DialOption
}

// Submit sends spec to the node at addr (HOST:PORT) and returns the run
// id. The node validates the spec; an invalid one fails with its message
// (which names the component and what is wrong), as does a duplicate name.
func Submit(ctx context.Context, addr string, spec *galev1.TopologySpec, o *Options) (string, error) {
	if o == nil {
		o = &Options{}
	}
	dial := o.DialOptions
	if dial == nil {
		files, what := o.TLS, "TLS"
		if files.IsZero() {
			files, what = security.FilesFromEnv(), "GALE_TLS"
		}
		sec, err := security.Load(files, what)
		if err != nil {
			return "", fmt.Errorf("submit %s: %w", spec.GetName(), err)
		}
		dial = []grpc.DialOption{grpc.WithTransportCredentials(sec.Credentials())}
	}
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return "", fmt.Errorf("submit %s: connect to %s: %w", spec.GetName(), addr, err)
	}
	defer conn.Close()
	req := &galev1.SubmitTopologyRequest{Spec: spec, StartInactive: o.Inactive, Config: map[string]*galev1.Value{}}
	for k, v := range o.Config {
		req.Config[k] = sdk.ValueToProto(v)
	}
	resp, err := galev1.NewCoordinatorServiceClient(conn).SubmitTopology(ctx, req)
	if err != nil {
		if s, ok := status.FromError(err); ok {
			return "", &rpcError{msg: fmt.Sprintf("submit %s to %s: %s (%s)", spec.GetName(), addr, s.Message(), s.Code()), st: s}
		}
		return "", fmt.Errorf("submit %s to %s: %w", spec.GetName(), addr, err)
	}
	return resp.GetId(), nil
}

// rpcError is a call the node refused or could not answer. Its message
// names the call and the status in words; it keeps the gRPC status for
// status.Code and status.FromError, so that a program can tell
// AlreadyExists from InvalidArgument or Unavailable without reading text.
type rpcError struct {
	msg string
	st  *status.Status
}

func (e *rpcError) Error() string              { return e.msg }
func (e *rpcError) GRPCStatus() *status.Status { return e.st }
