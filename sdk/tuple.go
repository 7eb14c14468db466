package sdk

// Anchor ties a tuple to one tuple tree: Root is the tree's id (chosen by
// the spout task that emitted the root tuple) and ID is the tuple's edge id
// in that tree. While a bolt executes an input tuple, the runtime xors the
// edge ids of the tuples it emits anchored to it into the input's ID, so
// that acking the input sends exactly Storm's ack value (the input's own
// edge id xor its children's) to the acker.
type Anchor struct {
	Root uint64
	ID   uint64
}

// Source describes where tuples come from: the emitting component, the
// stream, and the stream's field names. One Source is shared, read-only, by
// every tuple of that stream.
type Source struct {
	Component string
	Stream    string
	Fields    []string
	index     map[string]int
}

// NewSource builds the shared description of a stream.
func NewSource(component, stream string, fields []string) *Source {
	s := &Source{Component: component, Stream: stream, Fields: fields, index: make(map[string]int, len(fields))}
	for i, f := range fields {
		s.index[f] = i
	}
	return s
}

// FieldIndex returns the position of a field name, or -1.
func (s *Source) FieldIndex(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Reserved names of system components and streams.
const (
	// DefaultStream is the stream plain emits go to.
	DefaultStream = "default"
	// SystemComponent is the source component of tick tuples.
	SystemComponent = "__system"
	// TickStream is the stream of tick tuples.
	TickStream = "__tick"
	// AckerComponent is the id of the acker tasks' component.
	AckerComponent = "__acker"
)

// TickSource is the Source of every tick tuple.
var TickSource = NewSource(SystemComponent, TickStream, nil)

// Tuple is one input tuple as a bolt sees it.
//
// A *Tuple given to Execute points into a batch that the runtime recycles
// once Execute returns: a bolt that keeps a tuple past Execute (windows,
// asynchronous acks) keeps t.Clone() instead, and anchors, acks or fails
// the clone. Field values themselves (strings, bytes) are immutable and may
// be kept freely.
type Tuple struct {
	// Values are the fields, in the order of Source.Fields.
	Values []Value
	// Anchors are the tuple trees this tuple belongs to; managed by the
	// runtime; empty for unanchored tuples and ticks.
	Anchors []Anchor
	// Source is the emitting component and stream.
	Source *Source
	// SourceTask is the emitting task's global id (0 for ticks).
	SourceTask int32
}

// Stream returns the stream id the tuple came on.
func (t *Tuple) Stream() string { return t.Source.Stream }

// Component returns the id of the emitting component.
func (t *Tuple) Component() string { return t.Source.Component }

// IsTick reports whether t is a tick tuple.
func (t *Tuple) IsTick() bool { return t.Source == TickSource }

// Len returns the number of fields.
func (t *Tuple) Len() int { return len(t.Values) }

// Value returns field i, or null when i is out of range.
func (t *Tuple) Value(i int) Value {
	if uint(i) < uint(len(t.Values)) {
		return t.Values[i]
	}
	return Value{}
}

// Str returns field i as text ("" unless it is a string).
func (t *Tuple) Str(i int) string { return t.Value(i).Str() }

// Int returns field i as an integer (0 unless it is an int).
func (t *Tuple) Int(i int) int64 { return t.Value(i).Int() }

// Double returns field i as a number.
func (t *Tuple) Double(i int) float64 { return t.Value(i).Double() }

// Field returns the field with the given name, and whether it exists.
func (t *Tuple) Field(name string) (Value, bool) {
	if t.Source == nil {
		return Value{}, false // a tuple made by hand, in a test
	}
	i := t.Source.FieldIndex(name)
	if i < 0 {
		return Value{}, false
	}
	return t.Value(i), true
}

// Clone returns a copy that stays valid after Execute returns. Anchoring to
// and acking the clone is equivalent to doing so with the original, as long
// as only one of the two is used from then on.
func (t *Tuple) Clone() *Tuple {
	c := &Tuple{Source: t.Source, SourceTask: t.SourceTask}
	c.Values = append([]Value(nil), t.Values...)
	if len(t.Anchors) > 0 {
		c.Anchors = append([]Anchor(nil), t.Anchors...)
	}
	return c
}
