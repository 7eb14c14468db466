package sdk

import (
	"math"
	"strconv"
	"unsafe"
)

// Kind is the type of a Value. The kinds match gale.v1.Value one for one.
type Kind uint8

// The kinds of Value. KindNull is the zero value, so a zero Value is null.
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindDouble
	KindBool
	KindBytes
)

// String names the kind as it appears in error messages.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindDouble:
		return "double"
	case KindBool:
		return "bool"
	case KindBytes:
		return "bytes"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one tuple field: a small tagged union, 32 bytes, passed by value.
// It never boxes: numbers live in num, text and bytes in str. This is the
// representation the whole runtime moves around, so that emitting a tuple of
// scalars allocates nothing (boxing values as []any cost 2.3 allocations per
// tuple and ~3x throughput in the prototype; see DESIGN.md).
//
// Bytes values share storage with the []byte they were made from only if the
// caller promises not to modify it (BytesNoCopy); Bytes copies.
type Value struct {
	str  string
	num  uint64
	kind Kind
}

// Null returns the null value (the zero Value).
func Null() Value { return Value{} }

// String makes a string value.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Int makes an integer value.
func Int(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// Double makes a floating-point value.
func Double(f float64) Value { return Value{kind: KindDouble, num: math.Float64bits(f)} }

// DoubleBits makes a double value from its IEEE 754 bits, exactly.
func DoubleBits(bits uint64) Value { return Value{kind: KindDouble, num: bits} }

// Bool makes a boolean value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.num = 1
	}
	return v
}

// Bytes makes a bytes value holding a copy of b.
func Bytes(b []byte) Value { return Value{kind: KindBytes, str: string(b)} }

// BytesNoCopy makes a bytes value that shares b; the caller must not modify
// b afterwards.
func BytesNoCopy(b []byte) Value {
	return Value{kind: KindBytes, str: unsafe.String(unsafe.SliceData(b), len(b))}
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Str returns the text of a string value, or "" for other kinds.
func (v Value) Str() string {
	if v.kind == KindString {
		return v.str
	}
	return ""
}

// Int returns the integer of an int value, or 0 for other kinds.
func (v Value) Int() int64 {
	if v.kind == KindInt {
		return int64(v.num)
	}
	return 0
}

// Double returns the number of a double value (an int value converted), or 0
// for other kinds.
func (v Value) Double() float64 {
	switch v.kind {
	case KindDouble:
		return math.Float64frombits(v.num)
	case KindInt:
		return float64(int64(v.num))
	}
	return 0
}

// Bool returns the truth of a bool value, or false for other kinds.
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// BytesValue returns the bytes of a bytes value (a copy), or nil.
func (v Value) BytesValue() []byte {
	if v.kind == KindBytes {
		return []byte(v.str)
	}
	return nil
}

// Raw returns the internal payload: the string for strings and bytes, the
// bit pattern for numbers and bools. Hashing and codecs use it to avoid
// copies.
func (v Value) Raw() (s string, bits uint64) { return v.str, v.num }

// WireSize estimates, a little high, what values take encoded on Gale's
// wire (packed frames between nodes, Attach frames): their string and bytes
// data plus 16 bytes each for the kind, tags and lengths. Senders bound
// their frames with it without encoding first.
func WireSize(values []Value) int { return 16*len(values) + DataSize(values) }

// DataSize is the bytes of the string and bytes data in values, what the
// byte bounds of Gale's batches, queues and credit windows count
// (router.Batch.ValueBytes); numbers, booleans and nulls count nothing.
func DataSize(values []Value) int {
	n := 0
	for _, v := range values {
		n += len(v.str)
	}
	return n
}

// Equal reports whether two values have the same kind and payload (doubles
// compare by bit pattern, so NaN equals itself).
func (v Value) Equal(w Value) bool { return v.kind == w.kind && v.num == w.num && v.str == w.str }

// String formats the value for logs and output files: text as is, numbers in
// Go's shortest form, null as "null", bytes quoted.
func (v Value) String() string {
	switch v.kind {
	case KindString:
		return v.str
	case KindInt:
		return strconv.FormatInt(int64(v.num), 10)
	case KindDouble:
		return strconv.FormatFloat(math.Float64frombits(v.num), 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.num != 0)
	case KindBytes:
		return strconv.Quote(v.str)
	}
	return "null"
}

// Of converts a Go value to a Value: string, []byte, all int and uint
// types, float32/64, bool and nil. It reports false for other types.
// Convenient for builders and tests; hot paths use the typed constructors.
func Of(x any) (Value, bool) {
	switch t := x.(type) {
	case nil:
		return Null(), true
	case Value:
		return t, true
	case string:
		return String(t), true
	case []byte:
		return Bytes(t), true
	case bool:
		return Bool(t), true
	case int:
		return Int(int64(t)), true
	case int8:
		return Int(int64(t)), true
	case int16:
		return Int(int64(t)), true
	case int32:
		return Int(int64(t)), true
	case int64:
		return Int(t), true
	case uint:
		return Int(int64(t)), true
	case uint8:
		return Int(int64(t)), true
	case uint16:
		return Int(int64(t)), true
	case uint32:
		return Int(int64(t)), true
	case uint64:
		return Int(int64(t)), true
	case float32:
		return Double(float64(t)), true
	case float64:
		return Double(t), true
	}
	return Value{}, false
}
