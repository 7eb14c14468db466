package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

// Options tune Submit.
type Options struct {
	// Config overrides the spec's topology config (like --conf).
	Config sdk.Config
	// Inactive submits the topology deactivated: its spouts wait for
	// `gale activate`.
	Inactive bool
	// DialOptions replace the default (plaintext) dial options.
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
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
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
			return "", fmt.Errorf("submit %s to %s: %s (%s)", spec.GetName(), addr, s.Message(), s.Code())
		}
		return "", fmt.Errorf("submit %s to %s: %w", spec.GetName(), addr, err)
	}
	return resp.GetId(), nil
}
