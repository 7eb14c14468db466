package node

import (
	"errors"
	"fmt"
	"slices"
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

// A node told of some of its etcd cluster's members only says which it
// was not told of (it loses etcd with the ones it knows).
func TestUnnamedEtcdMembers(t *testing.T) {
	members := [][]string{{"http://127.0.0.1:2379"}, {"http://127.0.0.1:2479", "http://10.0.0.2:2479"}, {"http://127.0.0.1:2579"}}
	for _, c := range []struct {
		named []string
		want  []string
	}{
		{[]string{"http://127.0.0.1:2479/"}, []string{"http://127.0.0.1:2379", "http://127.0.0.1:2579"}},
		{[]string{"http://10.0.0.2:2479", "http://127.0.0.1:2579"}, []string{"http://127.0.0.1:2379"}},
		{[]string{"http://127.0.0.1:2379", "http://127.0.0.1:2479", "http://127.0.0.1:2579"}, nil},
		// As many endpoints as members, by other names: nothing to say.
		{[]string{"http://e1:2379", "http://e2:2379", "http://e3:2379"}, nil},
	} {
		if got := unnamedMembers(c.named, members); !slices.Equal(got, c.want) {
			t.Errorf("unnamedMembers(%v) = %v, want %v", c.named, got, c.want)
		}
	}
	if got := unnamedMembers([]string{"http://127.0.0.1:2379"}, [][]string{{"http://127.0.0.1:2379"}, {}}); got != nil {
		t.Errorf("a member not started yet was named missing: %v", got)
	}
}
