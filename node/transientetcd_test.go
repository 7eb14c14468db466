package node

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gale-stream/gale/coordinator"
)

// A node started while its etcd cluster has lost its quorum gets, from
// the member it reaches, a grant that timed out on etcd's side: it waits
// for etcd (until its start's time is out) rather than exit at once.
func TestTransientEtcdErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		// What a node started during a quorum loss met (etcd 3.4).
		{fmt.Errorf("grant node lease: %w", status.Error(codes.Unknown, "context deadline exceeded")), true},
		{fmt.Errorf("grant node lease: %w", rpctypes.ErrTimeout), true},
		{rpctypes.ErrNoLeader, true},
		{rpctypes.ErrGRPCNoLeader, true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{rpctypes.ErrPermissionDenied, false},
		{status.Error(codes.Unknown, "something else"), false},
		{coordinator.ErrNameTaken, false},
		{errors.New("plain"), false},
	} {
		if got := transientEtcdErr(c.err); got != c.want {
			t.Errorf("transientEtcdErr(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
