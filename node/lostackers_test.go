package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLostAckerTasks(t *testing.T) {
	ackers := []int32{7, 8, 9}
	dead := func(node string) bool { return node == "dead" }
	for _, tc := range []struct {
		name          string
		before, after map[int32]string
		restarted     map[string]bool
		want          []int32
	}{
		{"nothing moved", map[int32]string{7: "a", 8: "b", 9: "c"}, map[int32]string{7: "a", 8: "b", 9: "c"}, nil, nil},
		{"moved off a live node: handed over", map[int32]string{7: "a", 8: "b"}, map[int32]string{7: "c", 8: "b"}, nil, nil},
		{"moved off a dead node", map[int32]string{7: "dead", 8: "dead", 9: "a"}, map[int32]string{7: "a", 8: "b", 9: "a"}, nil, []int32{7, 8}},
		{"stayed on a node whose process was replaced", map[int32]string{7: "a", 8: "b"}, map[int32]string{7: "a", 8: "b"}, map[string]bool{"b": true}, []int32{8}},
		{"moved off a node whose process was replaced", map[int32]string{7: "b"}, map[int32]string{7: "a"}, map[string]bool{"b": true}, []int32{7}},
		{"moved to a node whose process was replaced", map[int32]string{7: "a"}, map[int32]string{7: "b"}, map[string]bool{"b": true}, nil},
		{"not placed before (a new run)", map[int32]string{}, map[int32]string{7: "dead"}, map[string]bool{"dead": true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lostAckerTasks(ackers, tc.before, tc.after, dead, tc.restarted)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("lost %v, want %v", got, tc.want)
			}
		})
	}
}

// A node name registered by another process than the one seen before was
// restarted: its ackers' tables are gone even if its tasks stay on it.
// The same process registering again (after losing its lease) is not.
func TestNoteIncarnationsTellsARestartedNode(t *testing.T) {
	p := &Peer{cfg: PeerConfig{Name: "me"}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), incarnations: map[string]string{}, restarted: map[string]bool{}}
	put := func(node, inc string) *clientv3.Event {
		return &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte("/gale/v1/incarnations/" + node), Value: []byte(inc)}}
	}
	nodeKey := &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte("/gale/v1/nodes/b"), Value: []byte("x")}}
	p.noteIncarnations([]*clientv3.Event{put("a", "1"), put("b", "2"), put("me", "3"), nodeKey})
	if len(p.restarted) != 0 {
		t.Fatalf("restarted %v after first sight", p.restarted)
	}
	p.noteIncarnations([]*clientv3.Event{put("a", "1"), put("me", "33")})
	if len(p.restarted) != 0 {
		t.Fatalf("restarted %v after the same process registered again", p.restarted)
	}
	p.noteIncarnations([]*clientv3.Event{put("b", "22")})
	if !p.restarted["b"] || len(p.restarted) != 1 {
		t.Fatalf("restarted %v, want b", p.restarted)
	}
}

// recordingSpout records what the runtime tells it.
type recordingSpout struct{ acked, failed []uint64 }

func (s *recordingSpout) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("id") }
func (s *recordingSpout) Open(context.Context, *sdk.TaskContext, *sdk.SpoutCollector) error {
	return nil
}
func (s *recordingSpout) NextTuple()     {}
func (s *recordingSpout) Ack(id uint64)  { s.acked = append(s.acked, id) }
func (s *recordingSpout) Fail(id uint64) { s.failed = append(s.failed, id) }
func (s *recordingSpout) Close() error   { return nil }

// A tree whose acker told the spout it completed, before the acker was
// lost with its node, completed: the spout hears that, not a failure that
// replays it. drainCtrl failed the lost acker's trees before it took the
// results already queued, and so failed (and replayed) trees that had
// completed.
func TestACompletedTreeOfALostAckerIsNotFailed(t *testing.T) {
	tp := newTopo(t, map[string]any{KeyAckers: 1}).
		spout("seq", "test.Seq", 1, "id"). // task 1
		bolt("sink", "test.Sink", 1, nil, "seq:shuffle")
	rt, err := New(tp.s, Options{ID: "order", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Local: func(id int32) bool { return id != 3 }, Remote: refusingRemote{err: errors.New("down")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.ackers; len(got) != 1 || got[0] != 3 {
		t.Fatalf("ackers %v, want [3]", got)
	}
	sp := &recordingSpout{}
	e := &executor{rt: rt, t: rt.tasks[1], spout: sp, pending: newPendingTable(0),
		tc: &sdk.TaskContext{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	e.now = router.Nanotime()
	const done, open = 11, 12 // roots; message ids 1 and 2
	e.pending.put(done, pendingMsg{msgID: 1, start: e.now})
	e.pending.put(open, pendingMsg{msgID: 2, start: e.now})
	// The acker's result for one tree arrives, then the acker is lost
	// before the spout looks.
	rt.tasks[1].ctrl.push([]router.AckOp{{Kind: router.AckCompleted, Root: done, Task: 1, Value: uint64(e.now)}})
	rt.AckersLost([]int32{3})
	e.now = router.Nanotime()
	e.drainCtrl()
	if !slices.Equal(sp.acked, []uint64{1}) || !slices.Equal(sp.failed, []uint64{2}) {
		t.Fatalf("acked %v and failed %v, want acked [1] (it completed) and failed [2] (lost)", sp.acked, sp.failed)
	}
}
