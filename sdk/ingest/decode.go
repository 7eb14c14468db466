package ingest

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The decoder is a hand-written JSON reader for the one shape the ingest
// accepts, an array of flat event objects. It does no reflection and
// allocates, per request, the event slice (pooled by the caller) and one
// arena chunk per arenaChunk bytes of distinct strings: an event's strings
// are copied into the arena (or shared with the previous event when equal,
// as the visitor and page of a tracker batch usually are), so that the
// request body can be reused at once and a retained event keeps alive only
// its own request's strings, never the whole body.
//
// It follows RFC 8259 strictly (what encoding/json accepts is accepted,
// with the same values; FuzzDecode checks that), except that it rejects
// invalid UTF-8 in strings instead of replacing it.

// arenaChunk is the size of one arena allocation; longer strings get their own.
const arenaChunk = 4 << 10

// maxDepth bounds the nesting of ignored values (unknown fields).
const maxDepth = 64

// DecodeError is a rejected body: Index is the 0-based index of the first
// bad event, or -1 when the body as a whole is wrong.
type DecodeError struct {
	Index int
	Msg   string
}

func (e *DecodeError) Error() string {
	if e.Index < 0 {
		return e.Msg
	}
	return fmt.Sprintf("event %d: %s", e.Index, e.Msg)
}

type decoder struct {
	buf     []byte
	pos     int
	index   int // the event being decoded, -1 outside events
	scratch []byte
	arena   []byte
	events  []Event
	sent    int64 // the body's "sent" member, 0 if absent
}

// Decode validates a request body (a JSON array of events, or an object
// whose "events" member is one) and appends its events to dst. On error it
// returns dst unchanged in length and a *DecodeError.
func Decode(dst []Event, body []byte) ([]Event, error) {
	events, _, err := DecodeSent(dst, body)
	return events, err
}

// DecodeSent is Decode that also returns the body's "sent" member: when
// the sender sent the batch, in ms since the Unix epoch by the same clock
// as the events' ts (0 when absent, or for an array body). The ingest
// corrects the events' times by the difference between it and its own
// clock (see Spout).
func DecodeSent(dst []Event, body []byte) ([]Event, int64, error) {
	d := decoder{buf: body, index: -1, events: dst}
	n0 := len(dst)
	if err := d.body(); err != nil {
		clear(d.events[n0:])
		return d.events[:n0], 0, err
	}
	return d.events, d.sent, nil
}

func (d *decoder) errf(format string, args ...any) error {
	return &DecodeError{Index: d.index, Msg: fmt.Sprintf(format, args...)}
}

// syntax reports malformed JSON at the current position.
func (d *decoder) syntax(want string) error {
	if d.pos >= len(d.buf) {
		return d.errf("malformed JSON: unexpected end of body, want %s", want)
	}
	c := d.buf[d.pos]
	shown := strconv.QuoteRune(rune(c))
	if c >= utf8.RuneSelf {
		r, _ := utf8.DecodeRune(d.buf[d.pos:])
		shown = strconv.QuoteRune(r)
	}
	return d.errf("malformed JSON at byte %d: unexpected %s, want %s", d.pos, shown, want)
}

func (d *decoder) ws() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end (a NUL byte is
// never valid JSON outside strings, so callers need not tell them apart
// except at the end of the body).
func (d *decoder) peek() byte {
	d.ws()
	if d.pos < len(d.buf) {
		return d.buf[d.pos]
	}
	return 0
}

const shapeHelp = `want a JSON array of events or {"events": [...]}`

func (d *decoder) body() error {
	if d.ws(); d.pos == len(d.buf) {
		return d.errf("empty body: %s", shapeHelp)
	}
	switch d.buf[d.pos] {
	case '[':
		if err := d.array(); err != nil {
			return err
		}
	case '{':
		d.pos++
		seen := false
		if err := d.object(func(key []byte) error {
			if string(key) == FieldSent {
				if d.null() {
					return nil
				}
				var err error
				d.sent, err = d.int(FieldSent, 0, math.MaxInt64)
				return err
			}
			if string(key) != "events" {
				return d.skip(0)
			}
			if d.peek() != '[' {
				return d.errf(`"events" must be an array of events, got %s`, d.kindAt())
			}
			if seen {
				return d.errf(`"events" given twice`)
			}
			seen = true
			return d.array()
		}); err != nil {
			return err
		}
		if !seen {
			return d.errf(`no "events" member: %s`, shapeHelp)
		}
	default:
		if !d.validValueStart() {
			return d.syntax("a JSON value")
		}
		return d.errf("body is %s: %s", d.kindAt(), shapeHelp)
	}
	if d.ws(); d.pos != len(d.buf) {
		return d.syntax("end of body")
	}
	return nil
}

func (d *decoder) validValueStart() bool {
	switch c := d.buf[d.pos]; {
	case c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' || (c >= '0' && c <= '9'):
		return true
	}
	return false
}

// kindAt names the kind of the JSON value at the current position.
func (d *decoder) kindAt() string {
	if d.pos >= len(d.buf) {
		return "nothing"
	}
	switch c := d.buf[d.pos]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "not JSON"
}

// array decodes an array of events; the current byte is '['.
func (d *decoder) array() error {
	d.pos++
	if d.peek() == ']' {
		d.pos++
		return nil
	}
	for {
		d.index = len(d.events)
		d.events = append(d.events, Event{})
		if err := d.event(&d.events[d.index]); err != nil {
			return err
		}
		d.index = -1
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return nil
		default:
			// What follows the last event is wrong: name the event it
			// should have been, or the body when it just ends.
			d.index = len(d.events)
			if d.pos == len(d.buf) {
				d.index = -1
			}
			return d.syntax("',' or ']' after an event")
		}
	}
}

// object reads the members of an object whose '{' was consumed, calling
// member for each key with the position at its value.
func (d *decoder) object(member func(key []byte) error) error {
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.syntax("a member name in quotes")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if d.peek() != ':' {
			return d.syntax("':' after a member name")
		}
		d.pos++
		d.ws()
		if err := member(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return nil
		default:
			return d.syntax("',' or '}'")
		}
	}
}

func (d *decoder) event(e *Event) error {
	if d.peek() != '{' {
		if d.pos >= len(d.buf) || !d.validValueStart() && d.buf[d.pos] != '[' {
			return d.syntax("an event object")
		}
		return d.errf("want an event object, got %s", d.kindAt())
	}
	d.pos++
	var haveTS bool
	err := d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case FieldVisitor:
			e.Visitor, err = d.keepStr(FieldVisitor, d.prevVisitor())
		case FieldTS:
			if d.null() {
				haveTS = false
				return nil
			}
			haveTS = true
			e.TS, err = d.int(FieldTS, 0, math.MaxInt64)
		case FieldType:
			var t []byte
			if t, err = d.optStr(FieldType); err == nil && t != nil {
				switch string(t) {
				case TypePageview:
					e.Type = TypePageview
				case TypeMove:
					e.Type = TypeMove
				case TypeClick:
					e.Type = TypeClick
				case TypeScroll:
					e.Type = TypeScroll
				case TypeVisibility:
					e.Type = TypeVisibility
				default:
					err = d.errf(`field "type": unknown event type %s; want pageview, move, click, scroll or visibility`, strconv.Quote(truncate(string(t), 40)))
				}
			} else if err == nil {
				e.Type = ""
			}
		case FieldPage:
			e.Page, err = d.keepStr(FieldPage, d.prevPage())
		case FieldTarget:
			e.Target, err = d.keepStr(FieldTarget, "")
			e.Has = setBit(e.Has, HasTarget, e.Target != "" || err != nil)
		case FieldX:
			err = d.px(FieldX, &e.X, &e.Has, HasX)
		case FieldY:
			err = d.px(FieldY, &e.Y, &e.Has, HasY)
		case FieldVW:
			err = d.px(FieldVW, &e.VW, &e.Has, HasVW)
		case FieldVH:
			err = d.px(FieldVH, &e.VH, &e.Has, HasVH)
		case "dw":
			err = d.px(FieldDW, &e.DW, &e.Has, HasDW)
		case "dh":
			err = d.px(FieldDH, &e.DH, &e.Has, HasDH)
		case "depth":
			if d.null() {
				e.Has &^= HasDepth
				return nil
			}
			e.Depth, err = d.float("depth")
			if err == nil && !(e.Depth >= 0 && e.Depth <= 1) {
				err = d.errf(`field "depth": must be from 0 to 1, got %v`, e.Depth)
			}
			e.Has |= HasDepth
		case "visible":
			if d.null() {
				e.Has &^= HasVisible
				return nil
			}
			e.Visible, err = d.bool("visible")
			e.Has |= HasVisible
		default:
			err = d.skip(0)
		}
		return err
	})
	if err != nil {
		return err
	}
	return d.check(e, haveTS)
}

// check enforces the required fields of EVENTS.md.
func (d *decoder) check(e *Event, haveTS bool) error {
	if err := d.checkLen(FieldVisitor, e.Visitor, MaxVisitorLen); err != nil {
		return err
	}
	if !haveTS {
		return d.errf(`missing field "ts" (ms since the Unix epoch)`)
	}
	if e.Type == "" {
		return d.errf(`missing field "type" (pageview, move, click, scroll or visibility)`)
	}
	if err := d.checkLen(FieldPage, e.Page, MaxPageLen); err != nil {
		return err
	}
	if !isPath(e.Page) {
		// location.pathname starts with one "/" and holds no backslash
		// or control character; anything else ("javascript:...", an
		// absolute URL, "//host", "/\\host") would also be a page the
		// dashboard is asked to load under its heatmap, from elsewhere.
		return d.errf(`field "page": want a path starting with one "/", without backslashes or control characters (location.pathname), got %s`, strconv.Quote(truncate(e.Page, 40)))
	}
	if e.Has&HasTarget != 0 {
		if err := d.checkLen(FieldTarget, e.Target, MaxTargetLen); err != nil {
			return err
		}
	}
	need := func(bit uint16, name, why string) error {
		if e.Has&bit == 0 {
			return d.errf("missing field %q (%s) in a %s event", name, why, e.Type)
		}
		return nil
	}
	var err error
	switch e.Type {
	case TypeMove, TypeClick:
		for _, f := range []struct {
			bit        uint16
			name, what string
		}{{HasX, FieldX, "cursor x in px"}, {HasY, FieldY, "cursor y in px"}, {HasVW, FieldVW, "viewport width in px"}, {HasVH, FieldVH, "viewport height in px"}} {
			if err = need(f.bit, f.name, f.what); err != nil {
				return err
			}
		}
		if e.Type == TypeClick {
			err = need(HasTarget, FieldTarget, "CSS selector of the clicked element")
		}
	case TypePageview:
		if err = need(HasVW, FieldVW, "viewport width in px"); err == nil {
			err = need(HasVH, FieldVH, "viewport height in px")
		}
	case TypeScroll:
		err = need(HasDepth, "depth", "scroll depth from 0 to 1")
	case TypeVisibility:
		err = need(HasVisible, "visible", "true or false")
	}
	return err
}

func (d *decoder) checkLen(name, s string, max int) error {
	if s == "" {
		return d.errf("missing field %q (or empty: want 1 to %d characters)", name, max)
	}
	if n := charCount(s); n > max {
		return d.errf("field %q: %d characters, at most %d allowed", name, n, max)
	}
	return nil
}

// isPath reports whether s reads as a URL path of this site: it starts
// with exactly one "/", and has no backslash (which URL parsers take for
// a slash) and no control character (which they drop).
func isPath(s string) bool {
	if len(s) == 0 || s[0] != '/' || len(s) > 1 && s[1] == '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func charCount(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.RuneCountInString(s)
		}
	}
	return len(s)
}

func setBit(has, bit uint16, on bool) uint16 {
	if on {
		return has | bit
	}
	return has &^ bit
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func (d *decoder) prevVisitor() string {
	if d.index > 0 {
		return d.events[d.index-1].Visitor
	}
	return ""
}

func (d *decoder) prevPage() string {
	if d.index > 0 {
		return d.events[d.index-1].Page
	}
	return ""
}

// null consumes a null literal if there is one.
func (d *decoder) null() bool {
	if d.pos+4 <= len(d.buf) && string(d.buf[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

func (d *decoder) wrongType(field, want string) error {
	if d.pos >= len(d.buf) || !d.validValueStart() && d.buf[d.pos] != '{' && d.buf[d.pos] != '[' {
		return d.syntax("a JSON value")
	}
	return d.errf("field %q: want %s, got %s", field, want, d.kindAt())
}

// optStr reads a string or null (nil) for field.
func (d *decoder) optStr(field string) ([]byte, error) {
	if d.null() {
		return nil, nil
	}
	if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
		return nil, d.wrongType(field, "a string")
	}
	return d.str()
}

// keepStr reads a string or null ("") for field and returns it as a string
// in the arena, or prev when equal to it.
func (d *decoder) keepStr(field, prev string) (string, error) {
	b, err := d.optStr(field)
	if err != nil || len(b) == 0 {
		return "", err
	}
	if string(b) == prev {
		return prev, nil
	}
	return d.keep(b), nil
}

// keep copies b into the arena and returns it as a string. Arena chunks
// are never reallocated, so earlier strings stay valid.
func (d *decoder) keep(b []byte) string {
	if len(b) > arenaChunk/4 {
		return string(b)
	}
	if cap(d.arena)-len(d.arena) < len(b) {
		d.arena = make([]byte, 0, arenaChunk)
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[start], len(b))
}

// str reads a JSON string at the current position ('"') and returns its
// contents: a slice of the body when it has no escapes, else of scratch,
// valid until the next call.
func (d *decoder) str() ([]byte, error) {
	start := d.pos + 1
	i := start
	ascii := true
	for ; i < len(d.buf); i++ {
		c := d.buf[i]
		if c == '"' {
			s := d.buf[start:i]
			if !ascii && !utf8.Valid(s) {
				d.pos = start
				return nil, d.errf("invalid UTF-8 in a string at byte %d", start)
			}
			d.pos = i + 1
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			d.pos = i
			return nil, d.syntax("no control characters inside a string (escape them)")
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if i >= len(d.buf) {
		d.pos = i
		return nil, d.syntax(`'"' to end the string`)
	}
	if !ascii && !utf8.Valid(d.buf[start:i]) {
		d.pos = start
		return nil, d.errf("invalid UTF-8 in a string at byte %d", start)
	}
	// Slow path: unescape into scratch.
	out := append(d.scratch[:0], d.buf[start:i]...)
	for i < len(d.buf) {
		c := d.buf[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = out
			return out, nil
		case c == '\\':
			if i+1 >= len(d.buf) {
				d.pos = i + 1
				return nil, d.syntax("an escape sequence")
			}
			switch e := d.buf[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(d.buf, i+2)
				if !ok {
					d.pos = i
					return nil, d.errf(`malformed JSON at byte %d: bad \u escape`, i)
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if i+3 < len(d.buf) && d.buf[i+2] == '\\' && d.buf[i+3] == 'u' {
						r2, ok = hex4(d.buf, i+4)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				d.pos = i
				return nil, d.errf(`malformed JSON at byte %d: unknown escape \%c`, i, e)
			}
			i += 2
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("no control characters inside a string (escape them)")
		default:
			j := i
			for j < len(d.buf) && d.buf[j] != '"' && d.buf[j] != '\\' && d.buf[j] >= 0x20 {
				j++
			}
			if !utf8.Valid(d.buf[i:j]) {
				d.pos = i
				return nil, d.errf("invalid UTF-8 in a string at byte %d", i)
			}
			out = append(out, d.buf[i:j]...)
			i = j
		}
	}
	d.pos = i
	d.scratch = out
	return nil, d.syntax(`'"' to end the string`)
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number scans a JSON number and returns its text and whether it is an
// integer literal (no fraction, no exponent).
func (d *decoder) number() ([]byte, bool, error) {
	b, i := d.buf, d.pos
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return nil, false, d.syntax("a digit")
	}
	integer := true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return nil, false, d.syntax("a digit after '.'")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return nil, false, d.syntax("a digit in the exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return b[start:i], integer, nil
}

func (d *decoder) isNumberStart() bool {
	return d.pos < len(d.buf) && (d.buf[d.pos] == '-' || d.buf[d.pos] >= '0' && d.buf[d.pos] <= '9')
}

// int reads an integer in [lo, hi] for field.
func (d *decoder) int(field string, lo, hi int64) (int64, error) {
	if !d.isNumberStart() {
		return 0, d.wrongType(field, "an integer")
	}
	text, integer, err := d.number()
	if err != nil {
		return 0, err
	}
	if !integer {
		return 0, d.errf("field %q: want an integer, got %s", field, text)
	}
	v, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(text), len(text)), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, d.errf("field %q: %s is out of range %d..%d", field, text, lo, hi)
	}
	return v, nil
}

// px reads an optional pixel coordinate (int32 range, or null).
func (d *decoder) px(field string, dst *int32, has *uint16, bit uint16) error {
	if d.null() {
		*has &^= bit
		return nil
	}
	v, err := d.int(field, math.MinInt32, math.MaxInt32)
	*dst = int32(v)
	*has |= bit
	return err
}

func (d *decoder) float(field string) (float64, error) {
	if !d.isNumberStart() {
		return 0, d.wrongType(field, "a number")
	}
	text, _, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
	if err != nil {
		return 0, d.errf("field %q: %s is out of range", field, text)
	}
	return v, nil
}

func (d *decoder) bool(field string) (bool, error) {
	switch {
	case d.pos+4 <= len(d.buf) && string(d.buf[d.pos:d.pos+4]) == "true":
		d.pos += 4
		return true, nil
	case d.pos+5 <= len(d.buf) && string(d.buf[d.pos:d.pos+5]) == "false":
		d.pos += 5
		return false, nil
	}
	return false, d.wrongType(field, "true or false")
}

// skip validates and passes over one JSON value of any kind.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return d.errf("malformed JSON at byte %d: nested deeper than %d levels", d.pos, maxDepth)
	}
	switch d.peek() {
	case '"':
		_, err := d.str()
		return err
	case '{':
		d.pos++
		return d.object(func([]byte) error { return d.skip(depth + 1) })
	case '[':
		d.pos++
		if d.peek() == ']' {
			d.pos++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return nil
			default:
				return d.syntax("',' or ']'")
			}
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	if d.isNumberStart() {
		_, _, err := d.number()
		return err
	}
	return d.syntax("a JSON value")
}

func (d *decoder) literal(lit string) error {
	if d.pos+len(lit) <= len(d.buf) && string(d.buf[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return nil
	}
	return d.syntax(lit)
}
