package ingest

import (
	"math/rand/v2"
	"strconv"

	"github.com/gale-stream/gale/sdk"
)

// Event types (the "type" field of EVENTS.md).
const (
	TypePageview   = "pageview"
	TypeMove       = "move"
	TypeClick      = "click"
	TypeScroll     = "scroll"
	TypeVisibility = "visibility"
)

// Field names of the tuples the spout emits, in order
// (examples/webanalytics/EVENTS.md).
const (
	FieldVisitor = "visitor"
	FieldTS      = "ts"
	FieldType    = "type"
	FieldPage    = "page"
	FieldX       = "x"
	FieldY       = "y"
	FieldVW      = "vw"
	FieldVH      = "vh"
	FieldTarget  = "target"
	FieldValue   = "value"
	FieldDW      = "dw"
	FieldDH      = "dh"
	// FieldEvent is the event's id: unique among the events of every
	// ingest task and run, and the same in each replay of an event, so
	// that a bolt that counts can count a replayed event once
	// (EventIDRun, EventIDSeq).
	FieldEvent = "event"
)

// FieldSent is the member of a batch body ({"events": [...], "sent": T})
// that says when the sender sent it, by the clock of the events' ts.
const FieldSent = "sent"

// Positions of the fields in an emitted tuple, for bolts that read by index.
const (
	IdxVisitor = iota
	IdxTS
	IdxType
	IdxPage
	IdxX
	IdxY
	IdxVW
	IdxVH
	IdxTarget
	IdxValue
	IdxDW
	IdxDH
	IdxEvent
	NumFields
)

// Fields lists the output fields of the default stream, in tuple order.
var Fields = []string{FieldVisitor, FieldTS, FieldType, FieldPage, FieldX, FieldY, FieldVW, FieldVH, FieldTarget, FieldValue, FieldDW, FieldDH, FieldEvent}

// An event id (FieldEvent) is a run of an ingest task, a random number
// drawn when the task opens, above the event's sequence number in that
// run: EventIDRun and EventIDSeq take them apart. Runs are 23 bits, so
// that ids stay positive int64s; a run's sequence numbers count from 1.
const eventSeqBits = 40

// EventIDRun returns the ingest run of event id.
func EventIDRun(id int64) int64 { return id >> eventSeqBits }

// EventIDSeq returns the sequence number of event id in its run.
func EventIDSeq(id int64) int64 { return id & (1<<eventSeqBits - 1) }

// newEventRun draws a run for event ids: 1 to 2^23-1.
func newEventRun() int64 { return 1 + rand.Int64N(1<<(63-eventSeqBits)-1) }

// Limits of the string fields, in Unicode characters.
const (
	MaxVisitorLen = 128
	MaxPageLen    = 512
	MaxTargetLen  = 512
)

// Bits of Event.Has: which optional fields were present.
const (
	HasX uint16 = 1 << iota
	HasY
	HasVW
	HasVH
	HasDW
	HasDH
	HasTarget
	HasDepth
	HasVisible
)

// Event is one validated event. String fields share storage with the other
// events of their request; an Event is immutable once decoded.
type Event struct {
	Visitor, Type, Page, Target string
	TS                          int64
	Depth                       float64 // scroll depth 0..1, when Has&HasDepth
	X, Y, VW, VH, DW, DH        int32   // pixels, each valid when its Has bit is set
	Visible                     bool    // when Has&HasVisible
	Has                         uint16
}

// AppendValues appends the event's tuple values (Fields order) to dst,
// with id as its event id (FieldEvent).
func (e *Event) AppendValues(dst []sdk.Value, id int64) []sdk.Value {
	opt := func(bit uint16, v int32) sdk.Value {
		if e.Has&bit != 0 {
			return sdk.Int(int64(v))
		}
		return sdk.Null()
	}
	value := sdk.Null()
	switch {
	case e.Type == TypeScroll && e.Has&HasDepth != 0:
		value = sdk.Double(e.Depth)
	case e.Type == TypeVisibility && e.Has&HasVisible != 0:
		value = sdk.Double(0)
		if e.Visible {
			value = sdk.Double(1)
		}
	}
	target := sdk.Null()
	if e.Has&HasTarget != 0 {
		target = sdk.String(e.Target)
	}
	return append(dst,
		sdk.String(e.Visitor), sdk.Int(e.TS), sdk.String(e.Type), sdk.String(e.Page),
		opt(HasX, e.X), opt(HasY, e.Y), opt(HasVW, e.VW), opt(HasVH, e.VH),
		target, value, opt(HasDW, e.DW), opt(HasDH, e.DH), sdk.Int(id))
}

// AppendJSON appends the event in its wire form (EVENTS.md) to dst; the
// traffic generator and tests use it. The output decodes to the same Event.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"visitor":`...)
	dst = appendJSONString(dst, e.Visitor)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, e.TS, 10)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, e.Type)
	dst = append(dst, `,"page":`...)
	dst = appendJSONString(dst, e.Page)
	num := func(name string, bit uint16, v int32) {
		if e.Has&bit != 0 {
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = strconv.AppendInt(dst, int64(v), 10)
		}
	}
	num(FieldX, HasX, e.X)
	num(FieldY, HasY, e.Y)
	num(FieldVW, HasVW, e.VW)
	num(FieldVH, HasVH, e.VH)
	num(FieldDW, HasDW, e.DW)
	num(FieldDH, HasDH, e.DH)
	if e.Has&HasTarget != 0 {
		dst = append(dst, `,"target":`...)
		dst = appendJSONString(dst, e.Target)
	}
	if e.Has&HasDepth != 0 {
		dst = append(dst, `,"depth":`...)
		dst = strconv.AppendFloat(dst, e.Depth, 'g', -1, 64)
	}
	if e.Has&HasVisible != 0 {
		dst = append(dst, `,"visible":`...)
		dst = strconv.AppendBool(dst, e.Visible)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, everything else as is (s is valid UTF-8).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
