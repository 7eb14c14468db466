package sdk

import (
	"context"
	"log/slog"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
)

// OutputDeclarer collects the streams a component emits on.
type OutputDeclarer struct {
	Streams []StreamDecl
}

// StreamDecl is one declared output stream.
type StreamDecl struct {
	ID     string
	Fields []string
	Direct bool
}

// Declare declares the default stream with the given field names.
func (d *OutputDeclarer) Declare(fields ...string) { d.DeclareStream(DefaultStream, fields...) }

// DeclareStream declares a named stream.
func (d *OutputDeclarer) DeclareStream(id string, fields ...string) {
	d.Streams = append(d.Streams, StreamDecl{ID: id, Fields: fields})
}

// DeclareDirectStream declares a named direct stream: every emit on it names
// its destination task (EmitDirect) and subscribers use direct grouping.
func (d *OutputDeclarer) DeclareDirectStream(id string, fields ...string) {
	d.Streams = append(d.Streams, StreamDecl{ID: id, Fields: fields, Direct: true})
}

// Component is what spouts and bolts have in common: they declare their
// output streams. DeclareOutputFields is called on a fresh instance before
// Open/Prepare (to validate topologies), so it must not depend on state set
// up there.
type Component interface {
	DeclareOutputFields(d *OutputDeclarer)
}

// Spout is a source of tuples. One instance runs per task, and the runtime
// calls its methods from one goroutine only, so a spout needs no locking.
//
// NextTuple emits zero or more tuples and returns; it must not block for
// long (return when nothing is ready; the runtime backs off). Ack and Fail
// report the outcome of a reliable emit by its message id; a spout replays a
// failed message by emitting it again, typically from NextTuple.
type Spout interface {
	Component
	// Open prepares the task; ctx is cancelled when the task stops.
	Open(ctx context.Context, tc *TaskContext, out *SpoutCollector) error
	// NextTuple emits what is ready.
	NextTuple()
	// Ack reports that the tree of message msgID completed.
	Ack(msgID uint64)
	// Fail reports that the tree of message msgID failed or timed out.
	Fail(msgID uint64)
	// Close releases resources; called once, after the last call.
	Close() error
}

// Bolt processes tuples. One instance runs per task, and the runtime calls
// its methods from one goroutine only, so a bolt needs no locking.
//
// Execute must eventually ack or fail every input tuple (immediately, or
// later through a Clone), or its tree times out and replays. A panic in
// Execute fails the input tuple and is reported; the task goes on.
type Bolt interface {
	Component
	// Prepare prepares the task; ctx is cancelled when the task stops.
	Prepare(ctx context.Context, tc *TaskContext, out *BoltCollector) error
	// Execute processes one input tuple.
	Execute(t *Tuple)
	// Cleanup releases resources; called once, after the last call.
	Cleanup() error
}

// Finisher is an optional Bolt ability: Finish is called once when every
// upstream task has declared end of input and every input was executed
// (finite topologies). The bolt may still emit, e.g. final aggregates.
type Finisher interface {
	Finish() error
}

// Activator is an optional Spout ability: Activate and Deactivate are
// called when the topology is activated or deactivated.
type Activator interface {
	Activate()
	Deactivate()
}

// TaskContext is what a task knows about itself and its topology.
type TaskContext struct {
	// Topology is the topology name; TopologyID identifies this run.
	Topology, TopologyID string
	// Component is this task's component id.
	Component string
	// TaskID is the task's global id; TaskIndex its index among the
	// component's tasks (0..parallelism-1).
	TaskID, TaskIndex int32
	// Config is the merged topology and component config.
	Config Config
	// ComponentTasks maps each component id to its task ids, increasing.
	ComponentTasks map[string][]int32
	// Inputs are this component's subscriptions: the component,
	// stream and declared fields of each (empty for a spout, or where
	// the runtime does not say).
	Inputs []Input
	// Log is the task's logger; records carry the task's identity.
	Log *slog.Logger
}

// Input is one subscription of a bolt: a stream of a component.
type Input struct {
	Component, Stream string
	// Fields are the stream's declared field names; nil when the
	// runtime does not know them (the tick stream, a component outside
	// the spec).
	Fields []string
}

// InputsFromSpecs lists the component and stream of each subscription of
// a component's spec (an empty stream is the default one), with the
// stream's fields from fieldsOf (which may be nil, and returns nil for a
// stream it does not know).
func InputsFromSpecs(specs []*galev1.InputSpec, fieldsOf func(component, stream string) []string) []Input {
	out := make([]Input, 0, len(specs))
	for _, in := range specs {
		stream := in.GetStream()
		if stream == "" {
			stream = DefaultStream
		}
		var fields []string
		if fieldsOf != nil {
			fields = fieldsOf(in.GetComponent(), stream)
		}
		out = append(out, Input{Component: in.GetComponent(), Stream: stream, Fields: fields})
	}
	return out
}
