package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestUptimeStopsWhenATopologyFinishes: a running topology's uptime is
// the time since its submission; a finished one's is the time it ran.
func TestUptimeStopsWhenATopologyFinishes(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := &Service{now: func() time.Time { return now }}
	submitted := now.Add(-10 * time.Minute).UnixMilli()
	for _, tc := range []struct {
		name string
		rec  *galev1.TopologyRecord
		want int64
	}{
		{"active", &galev1.TopologyRecord{State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, SubmittedUnixMillis: submitted}, 600},
		{"finished", &galev1.TopologyRecord{State: galev1.TopologyState_TOPOLOGY_STATE_FINISHED, SubmittedUnixMillis: submitted,
			FinishedUnixMillis: now.Add(-7 * time.Minute).UnixMilli()}, 180},
		{"finished before the field existed", &galev1.TopologyRecord{State: galev1.TopologyState_TOPOLOGY_STATE_FINISHED, SubmittedUnixMillis: submitted}, 600},
		{"running again after a rebalance", &galev1.TopologyRecord{State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, SubmittedUnixMillis: submitted,
			FinishedUnixMillis: now.Add(-7 * time.Minute).UnixMilli()}, 600},
	} {
		if got := s.summary(tc.rec, nil, nil).GetUptimeSeconds(); got != tc.want {
			t.Errorf("%s: uptime %d s, want %d", tc.name, got, tc.want)
		}
	}
}

// TestAnUnansweredNodeHasARunThatSaysSo: a registered node that does not
// answer the status request (frozen by SIGSTOP, overloaded, cut off) is
// reported as a run in state unspecified with the reason, not left out
// (status showed it like a node that has not started its run, its tasks'
// missing counters as zeros).
func TestAnUnansweredNodeHasARunThatSaysSo(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error()), "did not answer the status request: no answer within 2s"},
		{status.Error(codes.Unavailable, "connection refused"), "did not answer the status request: connection refused"},
		{errors.New("bad target"), "did not answer the status request: bad target"},
	} {
		now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		r := unansweredRun("n2", tc.err, now)
		if r.GetNode() != "n2" || r.GetState() != galev1.NodeRunState_NODE_RUN_STATE_UNSPECIFIED || r.GetError() != tc.want || r.GetErrorUnixMillis() != now.UnixMilli() {
			t.Errorf("%v: run %v, want node n2, state unspecified, error %q at %v", tc.err, r, tc.want, now)
		}
	}
}
