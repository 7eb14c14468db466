package spec

import (
	"testing"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

func TestTasksLayout(t *testing.T) {
	s := &galev1.TopologySpec{
		Components: []*galev1.ComponentSpec{{Id: "a", Parallelism: 2}, {Id: "b", Parallelism: 1}},
		Config:     map[string]*galev1.Value{KeyAckers: {Kind: &galev1.Value_IntValue{IntValue: 2}}},
	}
	got, err := Tasks(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []Task{{1, "a", 0}, {2, "a", 1}, {3, "b", 0}, {4, AckerComponent, 0}, {5, AckerComponent, 1}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("task %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	delete(s.Config, KeyAckers)
	if got, _ := Tasks(s); len(got) != 4 {
		t.Fatalf("default ackers: %v", got)
	}
	s.Config = map[string]*galev1.Value{KeyAckers: {Kind: &galev1.Value_StringValue{StringValue: "x"}}}
	if _, err := Tasks(s); err == nil {
		t.Fatal("bad acker count accepted")
	}
}
