package router

import (
	"math"

	"github.com/gale-stream/gale/sdk"
)

// FieldsHashVersion names the fields hash that FieldsHash and JumpHash
// implement together. Any change to the canonical encoding, the hash
// function or the bucket choice gets a new version: every SDK that routes
// by key (and every stored assignment of keys to tasks) depends on it.
// HASHING.md specifies the version and testdata/fields_hash_v1.json holds
// its test vectors.
const FieldsHashVersion = "gale-fields-v1"

// 64-bit FNV-1a parameters (http://www.isthe.com/chongo/tech/comp/fnv/).
const (
	fnvOffset64 = 0xcbf29ce484222325
	fnvPrime64  = 0x100000001b3
)

// Canonical forms of the doubles that compare equal (or are the same
// "not a number") but have several bit patterns.
const (
	negZeroBits = 0x8000000000000000
	quietNaN    = 0x7ff8000000000000
)

// golden64 is 2^64 divided by the golden ratio: splitmix64's increment,
// and the salt that derives the second candidate of partial-key grouping
// from the fields hash.
const golden64 = 0x9e3779b97f4a7c15

// FieldsHash returns the gale-fields-v1 key of a tuple: the values at the
// positions fieldIdx (in that order) in their canonical encoding, hashed
// with 64-bit FNV-1a and finished with the splitmix64 finalizer. HASHING.md
// specifies it byte by byte.
//
// Equal keys give equal hashes in every Gale SDK. The kind is part of the
// key: Int(1), Double(1) and String("1") are three different keys. Doubles
// are normalised first, so -0.0 hashes as 0.0 and every NaN as one NaN. An
// index outside values hashes as a null value, the same as
// sdk.Tuple.Value returns for it.
//
// FieldsHash does not allocate: it feeds the encoding to FNV-1a as it goes
// instead of building it in a buffer, because it runs once per routed
// tuple.
func FieldsHash(values []sdk.Value, fieldIdx []int) uint64 {
	h := uint64(fnvOffset64)
	for k, i := range fieldIdx {
		var v sdk.Value
		if uint(i) < uint(len(values)) {
			v = values[i]
		}
		if k == 0 && v.Kind() == sdk.KindString {
			// The commonest key, a string of fewer than 128 bytes, as the
			// first field: FNV-1a's state after its kind and length bytes
			// depends on the length alone, so it comes from a table, two
			// of the chain's multiplications fewer (each waits for the
			// one before).
			if s, _ := v.Raw(); len(s) < len(firstStringState) {
				h = firstStringState[len(s)]
				for j := 0; j < len(s); j++ {
					h = fnvByte(h, s[j])
				}
				continue
			}
		}
		h = hashValue(h, v)
	}
	return mix64(h)
}

// firstStringState is the FNV-1a state after the canonical encoding's kind
// byte and one-byte length of a string value that starts a key, by length.
var firstStringState = func() (t [0x80]uint64) {
	for n := range t {
		t[n] = fnvByte(fnvByte(fnvOffset64, byte(sdk.KindString)), byte(n))
	}
	return t
}()

// hashValue feeds the canonical encoding of v to the FNV-1a state h.
func hashValue(h uint64, v sdk.Value) uint64 {
	kind := v.Kind()
	h = fnvByte(h, byte(kind))
	s, bits := v.Raw()
	switch kind {
	case sdk.KindString, sdk.KindBytes:
		h = fnvUvarint(h, uint64(len(s)))
		for i := 0; i < len(s); i++ {
			h = fnvByte(h, s[i])
		}
	case sdk.KindInt:
		h = fnvUint64LE(h, bits)
	case sdk.KindDouble:
		h = fnvUint64LE(h, canonicalDoubleBits(bits))
	case sdk.KindBool:
		if bits != 0 {
			h = fnvByte(h, 1)
		} else {
			h = fnvByte(h, 0)
		}
	}
	// KindNull has no payload. A kind the SDK does not define cannot be
	// built with its constructors; it is hashed as its kind byte alone.
	return h
}

// canonicalDoubleBits maps the bit patterns of one number to one pattern:
// -0.0 to +0.0 (they compare equal) and every NaN to the quiet NaN
// 0x7ff8000000000000 (NaN payloads and signs differ between languages and
// even between operations, and no SDK can be expected to keep them).
func canonicalDoubleBits(bits uint64) uint64 {
	if bits == negZeroBits {
		return 0
	}
	if math.IsNaN(math.Float64frombits(bits)) {
		return quietNaN
	}
	return bits
}

func fnvByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	return h * fnvPrime64
}

func fnvUint64LE(h, x uint64) uint64 {
	for range 8 {
		h = fnvByte(h, byte(x))
		x >>= 8
	}
	return h
}

// fnvUvarint feeds x as an unsigned LEB128 varint (as encoding/binary's
// PutUvarint and protobuf write it): 7 bits at a time, least significant
// first, the high bit set on every byte but the last.
func fnvUvarint(h, x uint64) uint64 {
	for x >= 0x80 {
		h = fnvByte(h, byte(x)|0x80)
		x >>= 7
	}
	return fnvByte(h, byte(x))
}

// mix64 is the splitmix64 finalizer (Steele, Lea, Flood 2014; the
// constants are Stafford's "Mix13"). FNV-1a alone leaves the high bits of
// short inputs poorly mixed, and JumpHash draws its first jump from them;
// the finalizer makes every input bit affect every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// JumpHash maps a 64-bit key to a bucket in [0, buckets) with Jump
// Consistent Hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent
// Hash Algorithm", 2014). When buckets grows from n to n+1, only the keys
// that move to the new bucket n change bucket, about 1/(n+1) of them; that
// is why fields grouping uses it rather than key % n, which would move
// almost every key (and its task-local state) on a rebalance.
//
// JumpHash panics if buckets < 1, as math/rand's IntN does: a subscriber
// always has at least one task, and New checks it.
func JumpHash(key uint64, buckets int) int {
	if buckets < 1 {
		panic("router: JumpHash with buckets < 1")
	}
	n := int64(buckets)
	if n == 2 {
		// Two buckets, the commonest case, without a division. The
		// reference's first jump is trunc(1.0 * (2^31 / r)) in floating
		// point, r = (key>>33)+1 in [1, 2^31], which is exactly
		// floor(2^31 / r): the quotient is at least 1/r away from the next
		// integer above it, more than the half-ulp (2^31/r * 2^-53)
		// rounding could add, and an integer below it stays below. So the
		// jump reaches 2 (bucket 0) when r <= 2^30 and is 1 otherwise (the
		// last bucket: done): the bucket is whether key>>33 >= 2^30, the
		// state's top bit. A division's latency was most of JumpHash's
		// share of a split node's CPU in the cluster benchmark.
		return int((key*2862933555777941757 + 1) >> 63)
	}
	b, j := int64(-1), int64(0)
	for j < n {
		b = j
		if b == n-1 {
			// The next jump would be at least b+1 = n, since the factor
			// 2^31/((key>>33)+1) is at least 1 and rounding to nearest
			// keeps it so: the reference's loop would end here too, one
			// floating-point division later.
			break
		}
		key = key*2862933555777941757 + 1
		// The reference computes this in double precision; ports must
		// too, with the same operation order, to agree bit for bit.
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
