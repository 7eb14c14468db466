package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// TestStatusShowsAFailingRun: a node whose run keeps failing is named in
// the summary line and in the RUN table with its error and the time left
// before its next start; a task's repeated error is one line with its
// count.
func TestStatusShowsAFailingRun(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.Local)
	ms := func(d time.Duration) int64 { return at.Add(d).UnixMilli() }
	resp := &galev1.GetTopologyStatusResponse{
		Summary: &galev1.TopologySummary{Name: "broken", Id: "broken-1", State: galev1.TopologyState_TOPOLOGY_STATE_ACTIVE, Tasks: 3, Nodes: 2},
		Components: []*galev1.ComponentStatus{
			{Id: "split", Kind: galev1.ComponentKind_COMPONENT_KIND_BOLT, Tasks: []*galev1.TaskStatus{{TaskId: 2, Node: "n2"}}, Errors: []*galev1.ComponentError{
				{TaskId: 2, Message: "exit status 2;\nits last output: no such file", UnixMillis: ms(0)},
				{TaskId: 2, Message: "other", UnixMillis: ms(time.Second)},
				{TaskId: 2, Message: "exit status 2; its last output: no such file", UnixMillis: ms(2 * time.Second)},
				{TaskId: 2, Message: "exit status 2; its last output: no such file", UnixMillis: ms(3 * time.Second)},
			}},
		},
		Runs: []*galev1.NodeRun{
			{Node: "n1", State: galev1.NodeRunState_NODE_RUN_STATE_RUNNING, StartedUnixMillis: time.Now().Add(-90*time.Second - 500*time.Millisecond).UnixMilli()},
			{Node: "n2", State: galev1.NodeRunState_NODE_RUN_STATE_RESTARTING, Restarts: 3, Error: "component split task 2: exited 5 times in a row",
				ErrorUnixMillis: ms(3 * time.Second), RestartInMillis: 7420},
		},
	}
	var out bytes.Buffer
	printStatus(&out, "broken", resp)
	got := out.String()
	for _, want := range []string{
		"active, 3 tasks on 2 nodes, up 0s; FAILING on 1 node: n2 (see RUN below)",
		"NODE  RUN                 UP     RESTARTS  LAST FAILURE",
		"n1    running             1m30s  0         -",
		"n2    restarting in 7.4s  -      3         2026-11-29 12:00:03 component split task 2: exited 5 times in a row",
		"recent errors (oldest first):\n" +
			"  2026-11-29 12:00:01 split task 2: other\n" +
			"  2026-11-29 12:00:03 split task 2: exit status 2; its last output: no such file (3 times since 12:00:00)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}

	// All running: no FAILING in the summary.
	resp.Runs = resp.Runs[:1]
	out.Reset()
	printStatus(&out, "broken", resp)
	if strings.Contains(out.String(), "FAILING") {
		t.Errorf("a running topology is said to be failing:\n%s", out.String())
	}
}
