package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxErrors bounds how many problems one validation reports. A broken file
// can produce hundreds of follow-on errors; the first twenty, sorted by
// line, are what a person fixes before running again.
const MaxErrors = 20

// Error is one problem in a topology spec.
//
// Validate knows only the spec, so it fills Path and Msg; the YAML loader
// then maps Path to the file position (File, Line, Column) of the YAML node
// the value came from. Msg always names the component and field, so it
// reads well on its own when there is no file (specs built in Go).
type Error struct {
	// File is the topology file, or "" for specs built in code.
	File string
	// Line and Column are 1-based; 0 means unknown.
	Line, Column int
	// Path is where in the TopologySpec the problem is, e.g.
	// components[2].inputs[0].grouping.fields[1]. It is empty for problems
	// that concern the whole file (malformed YAML).
	Path Path
	// Msg says what is wrong.
	Msg string
}

// Error formats the error as file:line:col: msg, leaving out the parts that
// are unknown, the way compilers do, so editors and terminals can jump to
// the position.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a spec, sorted by position. The
// loader and Validate return it (as an error, or an empty list when the
// spec is fine) so that one run shows all problems instead of one per run.
// Get it from a returned error with errors.As:
//
//	var list spec.ErrorList
//	if errors.As(err, &list) { for _, e := range list { ... } }
type ErrorList []*Error

// Error joins the errors with newlines, one per line.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Err returns l as an error, or nil when l is empty. Use it instead of
// converting the list directly: a nil ErrorList stored in an error
// interface is not a nil error.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Unwrap returns the individual errors, so errors.As(err, &e) with e of
// type *Error finds the first one.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// finish sorts l by position (stably, so errors without a position keep the
// order they were found in) and truncates it to MaxErrors, saying how many
// were left out.
func (l ErrorList) finish(file string) ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
	if len(l) > MaxErrors {
		more := len(l) - MaxErrors
		l = append(l[:MaxErrors:MaxErrors], &Error{File: file, Msg: fmt.Sprintf("too many errors: %d more not shown", more)})
	}
	return l
}

// StepKind says what a Step of a Path selects.
type StepKind uint8

// The kinds of Step.
const (
	// FieldStep selects a message field by its proto name ("components",
	// "inputs", "grouping", ...). The oneof name "implementation" is used
	// for problems with a component's implementation as a whole.
	FieldStep StepKind = iota + 1
	// IndexStep selects an element of a repeated field.
	IndexStep
	// KeyStep selects an entry of a map field by its key.
	KeyStep
)

// Step is one step of a Path.
type Step struct {
	Kind StepKind
	// Name is the field name (FieldStep) or the map key (KeyStep).
	Name string
	// Index is the list index (IndexStep).
	Index int
}

// Path locates a value inside a TopologySpec, e.g.
// components[2].inputs[0].grouping.fields[1] or config["a.b"].
//
// Validation works on the proto, which has no positions; a path is how a
// front end that does have positions (the YAML loader keeps the yaml.Node
// of every value it reads, keyed by path) points at the right line, and
// how the coordinator can name the offending component of a submitted
// spec. Paths are values: the methods that extend one return a new path
// and never modify the receiver.
type Path []Step

// Field returns p extended by a field step.
func (p Path) Field(name string) Path { return p.with(Step{Kind: FieldStep, Name: name}) }

// Index returns p extended by a list index step.
func (p Path) Index(i int) Path { return p.with(Step{Kind: IndexStep, Index: i}) }

// Key returns p extended by a map key step.
func (p Path) Key(k string) Path { return p.with(Step{Kind: KeyStep, Name: k}) }

func (p Path) with(s Step) Path {
	out := make(Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, s)
}

// HasPrefix reports whether p starts with q (every path starts with the
// empty path).
func (p Path) HasPrefix(q Path) bool {
	return len(q) <= len(p) && slices.Equal(p[:len(q)], q)
}

// Component returns the index of the component p is inside, if any.
func (p Path) Component() (int, bool) {
	if len(p) >= 2 && p[0] == (Step{Kind: FieldStep, Name: "components"}) && p[1].Kind == IndexStep {
		return p[1].Index, true
	}
	return 0, false
}

// String formats p like a field access in code: components[2].inputs[0],
// config["topology.workers"].
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch s.Kind {
		case FieldStep:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Name)
		case IndexStep:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
		case KeyStep:
			b.WriteByte('[')
			b.WriteString(strconv.Quote(s.Name))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// componentPath is the path of component i.
func componentPath(i int) Path {
	return Path{{Kind: FieldStep, Name: "components"}, {Kind: IndexStep, Index: i}}
}
