package coordinator

import (
	"testing"
	"time"

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
