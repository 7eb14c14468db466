package external

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// A hello naming what does not run here says which part is wrong and
// what there is: "has no task on this node" told a misspelt component, a
// misspelt topology and a finished one alike.
func TestAnUnknownNameIsSaidPrecisely(t *testing.T) {
	empty := NewHub()
	hub := NewHub()
	for _, c := range []string{"enrich", "split"} {
		if _, err := hub.Register(SlotOptions{Attached: true, Welcome: &galev1.TaskContext{Topology: "wc", Component: c, TaskId: 3, HeartbeatMillis: 1000}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		hub        *Hub
		topo, comp string
		want       string
	}{
		{hub, "wc", "splt", "topology wc has no external component splt on this node (its external components here: enrich, split)"},
		{hub, "wcc", "split", "topology wcc has no external components on this node (those that have: wc; gale list shows what runs)"},
		{empty, "wc", "split", "no topology with external components runs on this node (asked for wc/split;"},
	} {
		_, err := tc.hub.claim(&galev1.AttachHello{Topology: tc.topo, Component: tc.comp})
		if status.Code(err) != codes.NotFound || !strings.Contains(status.Convert(err).Message(), tc.want) {
			t.Errorf("claim %s/%s: %v, want NotFound saying %q", tc.topo, tc.comp, err, tc.want)
		}
	}
}
