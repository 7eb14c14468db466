package spec

import (
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// AckerComponent is the id of the system component whose tasks are the
// ackers (KeyAckers sets how many there are).
const (
	AckerComponent = "__acker"
	DefaultAckers  = 1
)

// Task is one task of a topology.
type Task struct {
	ID        int32
	Component string
	Index     int32 // among its component's tasks
}

// Tasks lays out a topology's task ids: the components' tasks in spec
// order, numbered from 1, then the acker tasks. The runtime, the scheduler
// and the status API all number tasks with this one function.
func Tasks(s *galev1.TopologySpec) ([]Task, error) {
	var out []Task
	id := int32(1)
	for _, c := range s.GetComponents() {
		for i := int32(0); i < c.GetParallelism(); i++ {
			out = append(out, Task{ID: id, Component: c.GetId(), Index: i})
			id++
		}
	}
	n, err := Ackers(s)
	if err != nil {
		return nil, err
	}
	for i := int32(0); i < int32(n); i++ {
		out = append(out, Task{ID: id, Component: AckerComponent, Index: i})
		id++
	}
	return out, nil
}

// Ackers returns the number of acker tasks the spec's config asks for.
func Ackers(s *galev1.TopologySpec) (int, error) {
	n, err := MustRuntimeKey(KeyAckers).Int(s.GetConfig()[KeyAckers], DefaultAckers)
	return int(n), err
}
