package node

import (
	"io"
	"log/slog"
	"slices"
	"testing"

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
