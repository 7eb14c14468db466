package router

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
)

var update = flag.Bool("update", false, "regenerate testdata/fields_hash_v1.json from the implementation (only to add vectors: existing ones must never change)")

const vectorsFile = "testdata/fields_hash_v1.json"

// vectorBuckets are the task counts every vector gives a bucket for.
var vectorBuckets = []int{1, 2, 3, 5, 8, 13, 100, 1000}

// refEncode is an independent, buffer-based implementation of the
// canonical encoding of HASHING.md, written with encoding/binary, to check
// the incremental one in FieldsHash against.
func refEncode(dst []byte, v sdk.Value) []byte {
	dst = append(dst, byte(v.Kind()))
	s, bits := v.Raw()
	switch v.Kind() {
	case sdk.KindString, sdk.KindBytes:
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	case sdk.KindInt:
		dst = binary.LittleEndian.AppendUint64(dst, bits)
	case sdk.KindDouble:
		f := math.Float64frombits(bits)
		switch {
		case math.IsNaN(f):
			bits = 0x7ff8000000000000
		case f == 0:
			bits = 0 // +0.0 and -0.0
		}
		dst = binary.LittleEndian.AppendUint64(dst, bits)
	case sdk.KindBool:
		if bits != 0 {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	return dst
}

// refHash hashes with the standard library's FNV-1a and the finalizer.
func refHash(values []sdk.Value) (encoding []byte, key uint64) {
	for _, v := range values {
		encoding = refEncode(encoding, v)
	}
	h := fnv.New64a()
	h.Write(encoding)
	return encoding, mix64(h.Sum64())
}

func allIdx(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// TestKnownAnswers checks each building block against values published
// elsewhere or worked out by hand, independently of the vectors file
// (which the implementation generated).
func TestKnownAnswers(t *testing.T) {
	fnvOf := func(s string) uint64 {
		h := uint64(fnvOffset64)
		for i := 0; i < len(s); i++ {
			h = fnvByte(h, s[i])
		}
		return h
	}
	// FNV-1a 64 test vectors of the FNV reference code.
	for s, want := range map[string]uint64{
		"":       0xcbf29ce484222325,
		"a":      0xaf63dc4c8601ec8c,
		"foobar": 0x85944171f73967e8,
	} {
		if got := fnvOf(s); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", s, got, want)
		}
	}
	// The first output of splitmix64 seeded with 0 is the finalizer of
	// the golden gamma.
	if got := mix64(golden64); got != 0xe220a8397b1dcdaf {
		t.Errorf("mix64(golden) = %#x, want 0xe220a8397b1dcdaf", got)
	}
	// Jump Consistent Hash results published with other implementations
	// (Guava-compatible ports, the C++ of the paper).
	for _, c := range []struct {
		key     uint64
		buckets int
		want    int
	}{
		{0, 1000, 0}, // key 0: the first jump is to 2^31
		{1, 1, 0},
		{42, 57, 43},
		{0xDEAD10CC, 1, 0},
		{0xDEAD10CC, 666, 361},
		{256, 1024, 520},
		{2016238256797177309, 11, 3},
		{10863919174838991, 11, 6},
	} {
		if got := JumpHash(c.key, c.buckets); got != c.want {
			t.Errorf("JumpHash(%d, %d) = %d, want %d", c.key, c.buckets, got, c.want)
		}
	}

	// Two keys worked step by step (HASHING.md shows the same steps; the
	// values were computed with an independent Python implementation).
	for _, c := range []struct {
		name     string
		value    sdk.Value
		encoding string // hex
		fnv      uint64 // FNV-1a of the encoding
		key      uint64 // mix64(fnv)
		jump     []int  // for vectorBuckets
	}{
		{
			name: "String(a)", value: sdk.String("a"),
			encoding: "010161", // kind 1, uvarint length 1, 'a'
			fnv:      0xd0a69c1867296f62, key: 0x1509254504bbac28,
			jump: []int{0, 1, 2, 2, 2, 9, 20, 435},
		},
		{
			name: "Int(-1)", value: sdk.Int(-1),
			encoding: "02ffffffffffffffff", // kind 2, -1 as 8 bytes LE
			fnv:      0xaf94b0dfc57cce5d, key: 0x2c4ede002dead322,
			jump: []int{0, 1, 1, 1, 1, 1, 37, 143},
		},
	} {
		enc, _ := hex.DecodeString(c.encoding)
		if got := refEncode(nil, c.value); string(got) != string(enc) {
			t.Errorf("%s: encoding %x, want %s", c.name, got, c.encoding)
		}
		if got := fnvOf(string(enc)); got != c.fnv {
			t.Errorf("%s: fnv1a64 %#x, want %#x", c.name, got, c.fnv)
		}
		if got := mix64(c.fnv); got != c.key {
			t.Errorf("%s: mix64 %#x, want %#x", c.name, got, c.key)
		}
		if got := FieldsHash([]sdk.Value{c.value}, []int{0}); got != c.key {
			t.Errorf("%s: FieldsHash %#x, want %#x", c.name, got, c.key)
		}
		for i, n := range vectorBuckets {
			if got := JumpHash(c.key, n); got != c.jump[i] {
				t.Errorf("%s: JumpHash(key, %d) = %d, want %d", c.name, n, got, c.jump[i])
			}
		}
	}
}

func TestFieldsHashProperties(t *testing.T) {
	h := func(vs ...sdk.Value) uint64 { return FieldsHash(vs, allIdx(len(vs))) }
	same := []struct {
		name string
		a, b []sdk.Value
	}{
		{"-0.0 is 0.0", []sdk.Value{sdk.Double(math.Copysign(0, -1))}, []sdk.Value{sdk.Double(0)}},
		{"NaN payloads", []sdk.Value{sdk.Double(math.Float64frombits(0x7ff0000000000001))}, []sdk.Value{sdk.Double(math.NaN())}},
		{"negative NaN", []sdk.Value{sdk.Double(math.Float64frombits(0xfff8000000000000))}, []sdk.Value{sdk.Double(math.NaN())}},
		{"Bytes copies", []sdk.Value{sdk.Bytes([]byte("k"))}, []sdk.Value{sdk.BytesNoCopy([]byte("k"))}},
	}
	for _, c := range same {
		if h(c.a...) != h(c.b...) {
			t.Errorf("%s: hashes differ", c.name)
		}
	}
	differ := []struct {
		name string
		a, b []sdk.Value
	}{
		{"int vs double", []sdk.Value{sdk.Int(1)}, []sdk.Value{sdk.Double(1)}},
		{"string vs bytes", []sdk.Value{sdk.String("1")}, []sdk.Value{sdk.Bytes([]byte("1"))}},
		{"null vs empty string", []sdk.Value{sdk.Null()}, []sdk.Value{sdk.String("")}},
		{"false vs int 0", []sdk.Value{sdk.Bool(false)}, []sdk.Value{sdk.Int(0)}},
		{"boundaries", []sdk.Value{sdk.String("a"), sdk.String("bc")}, []sdk.Value{sdk.String("ab"), sdk.String("c")}},
		{"order", []sdk.Value{sdk.String("a"), sdk.Int(1)}, []sdk.Value{sdk.Int(1), sdk.String("a")}},
		{"NaN vs +Inf", []sdk.Value{sdk.Double(math.NaN())}, []sdk.Value{sdk.Double(math.Inf(1))}},
	}
	for _, c := range differ {
		if h(c.a...) == h(c.b...) {
			t.Errorf("%s: hashes are equal", c.name)
		}
	}

	// The key is the selected fields, in grouping order.
	tuple := []sdk.Value{sdk.String("x"), sdk.Int(7), sdk.Bool(true)}
	if FieldsHash(tuple, []int{2, 0}) != h(sdk.Bool(true), sdk.String("x")) {
		t.Error("FieldsHash(tuple, [2 0]) is not the hash of (tuple[2], tuple[0])")
	}
	// A position past the tuple reads as null, as sdk.Tuple.Value does.
	if FieldsHash(tuple, []int{0, 5}) != h(sdk.String("x"), sdk.Null()) {
		t.Error("out-of-range field does not hash as null")
	}
	if FieldsHash(tuple, []int{-1}) != h(sdk.Null()) {
		t.Error("negative field index does not hash as null")
	}
}

// TestFieldsHashMatchesReference compares the incremental hash with the
// buffer-based reference on random keys of every kind and size.
func TestFieldsHashMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		vals := make([]sdk.Value, r.IntN(4))
		for i := range vals {
			vals[i] = randomValue(r)
		}
		_, want := refHash(vals)
		if got := FieldsHash(vals, allIdx(len(vals))); got != want {
			t.Fatalf("FieldsHash(%v) = %#x, reference %#x", vals, got, want)
		}
	}
}

// TestFieldsHashOfAFirstStringOfEveryLength covers FieldsHash's table of
// FNV states for short first strings at every length, the lengths past
// it (two-byte lengths), and strings after the first field, where the
// table does not apply.
func TestFieldsHashOfAFirstStringOfEveryLength(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		for _, vals := range [][]sdk.Value{
			{sdk.String(string(b))},
			{sdk.String(string(b)), sdk.Int(int64(n))},
			{sdk.Int(int64(n)), sdk.String(string(b))},
			{sdk.Bytes(b)},
		} {
			_, want := refHash(vals)
			if got := FieldsHash(vals, allIdx(len(vals))); got != want {
				t.Fatalf("length %d: FieldsHash(%v) = %#x, reference %#x", n, vals, got, want)
			}
		}
	}
}

func randomValue(r *rand.Rand) sdk.Value {
	randBytes := func() []byte {
		n := r.IntN(40)
		if r.IntN(20) == 0 {
			n = r.IntN(40000) // multi-byte uvarint lengths
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	switch sdk.Kind(r.IntN(6)) {
	case sdk.KindString:
		return sdk.String(string(randBytes()))
	case sdk.KindInt:
		return sdk.Int(int64(r.Uint64()))
	case sdk.KindDouble:
		specials := []uint64{0, 0x8000000000000000, 0x7ff8000000000000, 0x7ff0000000000001, 0xfff8000000000000, 0x7ff0000000000000}
		if r.IntN(3) == 0 {
			return sdk.Double(math.Float64frombits(specials[r.IntN(len(specials))]))
		}
		return sdk.Double(math.Float64frombits(r.Uint64()))
	case sdk.KindBool:
		return sdk.Bool(r.IntN(2) == 1)
	case sdk.KindBytes:
		return sdk.Bytes(randBytes())
	}
	return sdk.Null()
}

// The vectors file, as HASHING.md describes it.
type vectorFile struct {
	Version string   `json:"version"`
	Comment string   `json:"comment"`
	Buckets []int    `json:"buckets"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name     string        `json:"name"`
	Values   []vectorValue `json:"values"`
	Encoding string        `json:"encoding"`
	Hash     string        `json:"hash"`
	Jump     []int         `json:"jump"`
}

type vectorValue struct {
	Kind  string `json:"kind"`
	Value any    `json:"value,omitempty"` // string, int (decimal string), bool
	Bits  string `json:"bits,omitempty"`  // double
	Text  string `json:"text,omitempty"`  // double, for humans
	Hex   any    `json:"hex,omitempty"`   // bytes, a string (any: so that empty bytes still write "hex": "")
}

func toVectorValue(v sdk.Value) vectorValue {
	s, bits := v.Raw()
	out := vectorValue{Kind: v.Kind().String()}
	switch v.Kind() {
	case sdk.KindString:
		out.Value = s
	case sdk.KindInt:
		out.Value = strconv.FormatInt(v.Int(), 10)
	case sdk.KindDouble:
		out.Bits = fmt.Sprintf("%016x", bits)
		out.Text = strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case sdk.KindBool:
		out.Value = v.Bool()
	case sdk.KindBytes:
		out.Hex = hex.EncodeToString([]byte(s))
	}
	return out
}

func (vv vectorValue) toValue() (sdk.Value, error) {
	switch vv.Kind {
	case "null":
		return sdk.Null(), nil
	case "string":
		s, ok := vv.Value.(string)
		if !ok {
			return sdk.Value{}, fmt.Errorf("string value %v is not a JSON string", vv.Value)
		}
		return sdk.String(s), nil
	case "int":
		s, _ := vv.Value.(string)
		i, err := strconv.ParseInt(s, 10, 64)
		return sdk.Int(i), err
	case "double":
		bits, err := strconv.ParseUint(vv.Bits, 16, 64)
		return sdk.Double(math.Float64frombits(bits)), err
	case "bool":
		b, ok := vv.Value.(bool)
		if !ok {
			return sdk.Value{}, fmt.Errorf("bool value %v is not a JSON bool", vv.Value)
		}
		return sdk.Bool(b), nil
	case "bytes":
		h, ok := vv.Hex.(string)
		if !ok {
			return sdk.Value{}, fmt.Errorf("bytes value has no hex string")
		}
		b, err := hex.DecodeString(h)
		return sdk.Bytes(b), err
	}
	return sdk.Value{}, fmt.Errorf("unknown kind %q", vv.Kind)
}

// vectorCases are the keys of the test vectors. Append only: a port's
// tests may refer to vectors by position.
func vectorCases() []struct {
	name   string
	values []sdk.Value
} {
	s, i, d, b := sdk.String, sdk.Int, sdk.Double, sdk.Bool
	bits := func(x uint64) sdk.Value { return d(math.Float64frombits(x)) }
	pattern := func(n int) sdk.Value {
		p := make([]byte, n)
		for k := range p {
			p[k] = byte(k % 251)
		}
		return sdk.Bytes(p)
	}
	type c = struct {
		name   string
		values []sdk.Value
	}
	return []c{
		{"null", []sdk.Value{sdk.Null()}},
		{"empty string", []sdk.Value{s("")}},
		{"string a", []sdk.Value{s("a")}},
		{"string hello", []sdk.Value{s("hello")}},
		{"string with space and punctuation", []sdk.Value{s("Hello, world!")}},
		{"unicode two-byte", []sdk.Value{s("héllo")}},
		{"unicode three-byte", []sdk.Value{s("日本語")}},
		{"unicode four-byte (emoji)", []sdk.Value{s("🚀 gale")}},
		{"unicode combining (not normalised)", []sdk.Value{s("he\u0301llo")}},
		{"string of 127 bytes (1-byte length)", []sdk.Value{s(strings.Repeat("x", 127))}},
		{"string of 128 bytes (2-byte length)", []sdk.Value{s(strings.Repeat("x", 128))}},
		{"int 0", []sdk.Value{i(0)}},
		{"int 1", []sdk.Value{i(1)}},
		{"int -1", []sdk.Value{i(-1)}},
		{"int 42", []sdk.Value{i(42)}},
		{"int -123456789", []sdk.Value{i(-123456789)}},
		{"int max", []sdk.Value{i(math.MaxInt64)}},
		{"int min", []sdk.Value{i(math.MinInt64)}},
		{"int 2^53+1 (not exact in a double)", []sdk.Value{i(1<<53 + 1)}},
		{"double 0", []sdk.Value{d(0)}},
		{"double -0 (hashes as 0)", []sdk.Value{bits(0x8000000000000000)}},
		{"double 1", []sdk.Value{d(1)}},
		{"double -1.5", []sdk.Value{d(-1.5)}},
		{"double pi", []sdk.Value{d(math.Pi)}},
		{"double 0.1", []sdk.Value{d(0.1)}},
		{"double NaN (canonical)", []sdk.Value{bits(0x7ff8000000000000)}},
		{"double NaN signalling with payload (hashes as canonical NaN)", []sdk.Value{bits(0x7ff0000000000001)}},
		{"double NaN negative (hashes as canonical NaN)", []sdk.Value{bits(0xfff8000000000000)}},
		{"double NaN all ones (hashes as canonical NaN)", []sdk.Value{bits(0xffffffffffffffff)}},
		{"double +Inf", []sdk.Value{d(math.Inf(1))}},
		{"double -Inf", []sdk.Value{d(math.Inf(-1))}},
		{"double smallest subnormal", []sdk.Value{bits(1)}},
		{"double max", []sdk.Value{d(math.MaxFloat64)}},
		{"bool false", []sdk.Value{b(false)}},
		{"bool true", []sdk.Value{b(true)}},
		{"empty bytes", []sdk.Value{sdk.Bytes(nil)}},
		{"bytes 00 01 02 ff", []sdk.Value{sdk.Bytes([]byte{0, 1, 2, 0xff})}},
		{"bytes abc (not the string abc)", []sdk.Value{sdk.Bytes([]byte("abc"))}},
		{"string abc", []sdk.Value{s("abc")}},
		{"bytes of 300 (2-byte length)", []sdk.Value{pattern(300)}},
		{"bytes of 16384 (3-byte length)", []sdk.Value{pattern(16384)}},
		{"two fields: user, count", []sdk.Value{s("user-1"), i(42)}},
		{"two fields reversed: count, user", []sdk.Value{i(42), s("user-1")}},
		{"boundaries a|bc", []sdk.Value{s("a"), s("bc")}},
		{"boundaries ab|c", []sdk.Value{s("ab"), s("c")}},
		{"two nulls", []sdk.Value{sdk.Null(), sdk.Null()}},
		{"one of each kind", []sdk.Value{sdk.Null(), s("s"), i(7), d(2.5), b(true), sdk.Bytes([]byte{0xbe, 0xef})}},
		{"1 as string, int, double", []sdk.Value{s("1"), i(1), d(1)}},
		{"three words", []sdk.Value{s("the"), s("quick"), s("fox")}},
		{"no fields", nil},
	}
}

// TestFieldsHashVectors checks every vector of the committed file. With
// -update it first regenerates the file from the implementation: run it
// once when adding cases, review the diff (existing vectors must not
// change), commit.
func TestFieldsHashVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	if f.Version != FieldsHashVersion {
		t.Fatalf("%s is version %q, want %q", vectorsFile, f.Version, FieldsHashVersion)
	}
	if fmt.Sprint(f.Buckets) != fmt.Sprint(vectorBuckets) {
		t.Fatalf("%s buckets %v, want %v", vectorsFile, f.Buckets, vectorBuckets)
	}
	if len(f.Vectors) < 30 {
		t.Errorf("%s has %d vectors, want at least 30", vectorsFile, len(f.Vectors))
	}
	kinds := map[string]bool{}
	for _, v := range f.Vectors {
		values := make([]sdk.Value, len(v.Values))
		for i, vv := range v.Values {
			kinds[vv.Kind] = true
			if values[i], err = vv.toValue(); err != nil {
				t.Fatalf("vector %q value %d: %v", v.Name, i, err)
			}
		}
		enc, want := refHash(values)
		if got := hex.EncodeToString(enc); got != v.Encoding {
			t.Errorf("vector %q: encoding %s, file says %s", v.Name, got, v.Encoding)
		}
		if got := fmt.Sprintf("%016x", want); got != v.Hash {
			t.Errorf("vector %q: reference hash %s, file says %s", v.Name, got, v.Hash)
		}
		key := FieldsHash(values, allIdx(len(values)))
		if got := fmt.Sprintf("%016x", key); got != v.Hash {
			t.Errorf("vector %q: FieldsHash %s, file says %s", v.Name, got, v.Hash)
		}
		if len(v.Jump) != len(f.Buckets) {
			t.Errorf("vector %q: %d jump entries, want %d", v.Name, len(v.Jump), len(f.Buckets))
			continue
		}
		for i, n := range f.Buckets {
			if got := JumpHash(key, n); got != v.Jump[i] {
				t.Errorf("vector %q: JumpHash(%s, %d) = %d, file says %d", v.Name, v.Hash, n, got, v.Jump[i])
			}
		}
	}
	for _, k := range []string{"null", "string", "int", "double", "bool", "bytes"} {
		if !kinds[k] {
			t.Errorf("no vector has a %s value", k)
		}
	}
}

func writeVectors(t *testing.T) {
	t.Helper()
	f := vectorFile{
		Version: FieldsHashVersion,
		Comment: "Test vectors of the Gale fields hash; see router/HASHING.md. Generated by `go test ./router -run TestFieldsHashVectors -update`; append only.",
		Buckets: vectorBuckets,
	}
	for _, c := range vectorCases() {
		enc, key := refHash(c.values)
		v := vector{Name: c.name, Values: []vectorValue{}, Encoding: hex.EncodeToString(enc), Hash: fmt.Sprintf("%016x", key)}
		for _, val := range c.values {
			v.Values = append(v.Values, toVectorValue(val))
		}
		for _, n := range vectorBuckets {
			v.Jump = append(v.Jump, JumpHash(key, n))
		}
		f.Vectors = append(f.Vectors, v)
	}
	// One vector a line: the file stays readable and diffs show exactly
	// which vectors were added.
	var buf bytes.Buffer
	header, err := json.Marshal(struct {
		Version string `json:"version"`
		Comment string `json:"comment"`
		Buckets []int  `json:"buckets"`
	}{f.Version, f.Comment, f.Buckets})
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(header[:len(header)-1]) // without the closing brace
	buf.WriteString(",\n\"vectors\": [\n")
	for i, v := range f.Vectors {
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("  ")
		buf.Write(line)
		if i < len(f.Vectors)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]}\n")
	data := buf.Bytes()
	if !json.Valid(data) {
		t.Fatal("generated vectors are not valid JSON")
	}
	if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d vectors to %s", len(f.Vectors), vectorsFile)
}

// jumpHashReference is the loop of Lamping & Veach as published, without
// JumpHash's shortcut, to check that the shortcut changes no result.
func jumpHashReference(key uint64, buckets int) int {
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// TestJumpHashMatchesReference: JumpHash stops one division early when
// the last bucket is reached; the results are the reference's, for random
// keys and for keys whose jumps land exactly on b+1 (the factor 2^31/D is
// exactly 1, the case the shortcut's argument rests on).
func TestJumpHashMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 100, 1000, 1 << 20}
	for range 200000 {
		key := r.Uint64()
		n := sizes[r.IntN(len(sizes))]
		if r.IntN(4) == 0 {
			n = 1 + r.IntN(5000)
		}
		if got, want := JumpHash(key, n), jumpHashReference(key, n); got != want {
			t.Fatalf("JumpHash(%#x, %d) = %d, reference %d", key, n, got, want)
		}
	}
	// The multiplier is odd, so it has an inverse modulo 2^64 (Newton's
	// iteration doubles the correct low bits each step).
	const mult = 2862933555777941757
	inv := uint64(mult)
	for range 6 {
		inv *= 2 - mult*inv
	}
	if inv*mult != 1 {
		t.Fatalf("no inverse: %#x", inv)
	}
	for low := uint64(0); low < 64; low++ {
		// The state after the first step has its top 31 bits set, so
		// D = 2^31 and the first jump is to exactly 1.
		next := uint64(1<<31-1)<<33 | low*0x12345
		key := (next - 1) * inv
		for _, n := range []int{1, 2, 3, 10} {
			if got, want := JumpHash(key, n), jumpHashReference(key, n); got != want {
				t.Fatalf("edge key %#x, %d buckets: JumpHash %d, reference %d", key, n, got, want)
			}
		}
	}
	// With two buckets JumpHash decides the first jump in integers
	// (r <= 2^30, with r the first draw (next>>33)+1). Keys whose r sits
	// on either side of 2^31/n, for that size and others.
	for _, n := range []int{2, 3, 4, 5, 7, 8, 10, 1000, 1 << 20, 1<<31 - 1} {
		for _, r := range []uint64{(1<<31)/uint64(n) - 1, (1 << 31) / uint64(n), (1<<31)/uint64(n) + 1, 1, 1 << 31} {
			if r < 1 || r > 1<<31 {
				continue
			}
			for low := uint64(0); low < 8; low++ {
				next := (r-1)<<33 | low*0x9e3779b9
				key := (next - 1) * inv
				if got, want := JumpHash(key, n), jumpHashReference(key, n); got != want {
					t.Fatalf("first draw %d, %d buckets: JumpHash %d, reference %d", r, n, got, want)
				}
			}
		}
	}
}

func TestJumpHashRange(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		n := 1 + r.IntN(5000)
		if b := JumpHash(r.Uint64(), n); b < 0 || b >= n {
			t.Fatalf("JumpHash(_, %d) = %d, out of range", n, b)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("JumpHash(_, 0) did not panic")
		}
	}()
	JumpHash(1, 0)
}

// keyWords returns n distinct words, as fields keys.
func keyWords(n int) [][]sdk.Value {
	keys := make([][]sdk.Value, n)
	for i := range keys {
		keys[i] = []sdk.Value{sdk.String("word-" + strconv.Itoa(i))}
	}
	return keys
}

// TestJumpHashStability: going from n to n+1 tasks moves about 1/(n+1) of
// the keys, and only to the new task.
func TestJumpHashStability(t *testing.T) {
	keys := keyWords(100_000)
	idx := []int{0}
	for _, n := range []int{1, 2, 3, 5, 8, 10, 16, 31, 100} {
		moved := 0
		for _, k := range keys {
			h := FieldsHash(k, idx)
			before, after := JumpHash(h, n), JumpHash(h, n+1)
			if before != after {
				moved++
				if after != n {
					t.Fatalf("n=%d: a key moved from task %d to old task %d", n, before, after)
				}
			}
		}
		frac, ideal := float64(moved)/float64(len(keys)), 1/float64(n+1)
		t.Logf("n=%d -> %d: moved %.4f of keys (ideal %.4f)", n, n+1, frac, ideal)
		if frac < 0.5*ideal || frac > 2*ideal {
			t.Errorf("n=%d -> %d: moved %.4f of keys, want within [%.4f, %.4f]", n, n+1, frac, 0.5*ideal, 2*ideal)
		}
	}
}

// TestFieldsHashBalance: 100k distinct words over 8 tasks, every task
// within 5% of the mean.
func TestFieldsHashBalance(t *testing.T) {
	const tasks = 8
	keys := keyWords(100_000)
	var load [tasks]int
	for _, k := range keys {
		load[JumpHash(FieldsHash(k, []int{0}), tasks)]++
	}
	mean := float64(len(keys)) / tasks
	for i, l := range load {
		if dev := math.Abs(float64(l)-mean) / mean; dev > 0.05 {
			t.Errorf("task %d has %d keys, %.1f%% off the mean %.0f", i, l, 100*dev, mean)
		}
	}
	t.Logf("load per task: %v", load)
}

func TestFieldsHashDoesNotAllocate(t *testing.T) {
	vals := []sdk.Value{sdk.String("user-42"), sdk.Int(7), sdk.Double(-0.0), sdk.Bytes([]byte("xyz")), sdk.Bool(true), sdk.Null()}
	idx := []int{0, 1, 2, 3, 4, 5}
	var sink uint64
	if n := testing.AllocsPerRun(1000, func() { sink ^= FieldsHash(vals, idx) }); n != 0 {
		t.Errorf("FieldsHash allocates %.1f times per call, want 0", n)
	}
	_ = sink
}

var hashSink uint64

// BenchmarkFieldsHash hashes one word (the word count key) and reports
// the cost relative to the runtime's own string hash (hash/maphash,
// AES-accelerated), measured in the same run.
func BenchmarkFieldsHash(b *testing.B) {
	for _, bc := range []struct {
		name string
		keys [][]sdk.Value
		idx  []int
	}{
		{"word", keyWords(1024), []int{0}},
		{"word+int", func() [][]sdk.Value {
			keys := keyWords(1024)
			for i := range keys {
				keys[i] = append(keys[i], sdk.Int(int64(i)))
			}
			return keys
		}(), []int{0, 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			seed := maphash.MakeSeed()
			start := time.Now()
			for i := range b.N {
				hashSink ^= maphash.String(seed, bc.keys[i&1023][0].Str())
			}
			baseline := time.Since(start)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				hashSink ^= FieldsHash(bc.keys[i&1023], bc.idx)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed())/float64(baseline), "x-maphash")
		})
	}
}

var jumpSink int

// BenchmarkJumpHash measures JumpHash against the reference loop in the
// same run (ns per key, and the ratio), for the sizes of the benchmark
// topologies and a few more. The keys are mixed hashes, as FieldsHash
// gives them. In "chained" runs each key depends on the bucket before,
// so that the time is latency (a division's, mostly), as when the
// bucket decides what the emitter does next; otherwise successive calls
// overlap in the processor.
func BenchmarkJumpHash(b *testing.B) {
	keys := make([]uint64, 4096)
	for i := range keys {
		keys[i] = mix64(uint64(i) + 1)
	}
	for _, chained := range []bool{false, true} {
		for _, n := range []int{2, 3, 8, 64} {
			b.Run(fmt.Sprintf("chained=%v/buckets=%d", chained, n), func(b *testing.B) {
				run := func(f func(uint64, int) int) int {
					s := 0
					for i := range b.N {
						k := i
						if chained {
							k += s
						}
						s += f(keys[k&4095], n)
					}
					return s
				}
				start := time.Now()
				jumpSink = run(jumpHashReference)
				reference := time.Since(start)
				b.ResetTimer()
				jumpSink += run(JumpHash)
				b.StopTimer()
				b.ReportMetric(float64(reference.Nanoseconds())/float64(b.N), "ref-ns/op")
				b.ReportMetric(float64(b.Elapsed())/float64(reference), "x-ref")
			})
		}
	}
}
