// Hand-written protobuf encoding of the Attach hot path.
//
// The generated ts-proto code (src/gen) builds one object per message and
// per Value, and its 64-bit fields are bigints: at ~6 emits per input tuple
// that is most of a Node process's budget. So the frames that carry tuples
// are encoded and decoded here, straight between bytes and the SDK's own
// objects:
//   - AttachRequest emits and acks are written into one growing scratch
//     buffer (no Emit or Value objects);
//   - AttachResponse inputs are read into Tuple objects directly, with ids
//     as numbers (tuple.proto guarantees ids below 2^53).
// The field numbers below are those of proto/gale/v1/attach.proto,
// tuple.proto and value.proto; the unit tests check this codec against the
// generated one in both directions.

import { type Value, invalidValue } from "./values";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Throws for malformed input; the message says what was wrong. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

/** Number of bytes of the varint encoding of a non-negative safe integer. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

const TWO_32 = 4294967296;

/**
 * Writer appends protobuf fields to a growing buffer. Lengths of nested
 * messages are written after their contents: a one-byte slot is reserved
 * (the common case, a value or emit under 128 bytes), and the contents are
 * moved right on the rare occasion that the length needs more bytes. That
 * avoids a sizing pass over every string.
 */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Makes room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Writes a varint of a non-negative safe integer (ids, lengths, tags). */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n > 0x7fffffff) {
      buf[pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n >= 128) {
      buf[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** Writes a 64-bit varint given as two unsigned 32-bit halves. */
  varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi > 0 || lo > 127) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Reserves a one-byte length slot; returns its position for endLen. */
  beginLen(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Fills the length slot at `at` with the length of what follows it. */
  endLen(at: number): void {
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    const end = this.pos + extra;
    this.pos = at;
    this.varint(len);
    this.pos = end;
  }

  /** Writes a string's UTF-8 bytes with their length (a LEN payload). */
  string(s: string): void {
    const n = s.length;
    // Short ASCII strings (the common case: words, stream names) are
    // copied by a loop, which beats a call into the UTF-8 encoder.
    if (n < 64) {
      this.ensure(n + 1);
      const buf = this.buf;
      const start = this.pos;
      let pos = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === n) {
        buf[start] = n;
        this.pos = pos;
        return;
      }
    }
    const size = Buffer.byteLength(s, "utf8");
    this.varint(size);
    this.ensure(size);
    this.pos += this.buf.write(s, this.pos, size, "utf8");
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Writes a sint64 (zig-zag) varint; v must fit in int64 (checked by the caller). */
  sint64(v: bigint): void {
    if (v < INT64_MIN || v > INT64_MAX) throw new TypeError(`bigint ${v} does not fit in int64`);
    const z = v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
    if (z < 0x20000000000000n) {
      this.varint(Number(z));
    } else {
      this.varint64(Number(z & 0xffffffffn), Number(z >> 32n));
    }
  }

  double(d: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(d, this.pos);
    this.pos += 8;
  }

  /** Writes one gale.v1.Value message body for v (without tag and length). */
  valueBody(v: Value): void {
    switch (typeof v) {
      case "string":
        this.byte(0x0a); // string_value = 1, LEN
        this.string(v);
        return;
      case "bigint":
        this.byte(0x10); // int_value = 2, VARINT (sint64)
        this.sint64(v);
        return;
      case "number":
        this.byte(0x19); // double_value = 3, I64
        this.double(v);
        return;
      case "boolean":
        this.byte(0x20); // bool_value = 4, VARINT
        this.byte(v ? 1 : 0);
        return;
      default:
        if (v === null) return; // no kind: null
        if (v instanceof Uint8Array) {
          this.byte(0x2a); // bytes_value = 5, LEN
          this.bytes(v);
          return;
        }
        throw new TypeError(invalidValue(v));
    }
  }

  /** Returns a copy of the bytes written and resets the writer. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }
}

/** Reader walks a protobuf message. */
export class Reader {
  pos: number;
  end: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  /** Reads a varint as a number; exact up to 2^53 (ids, lengths, tags, int32s). */
  varint(): number {
    if (this.pos >= this.end) throw new WireError("truncated varint");
    const buf = this.buf;
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    let r = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError("truncated varint");
      b = buf[this.pos++];
      r += (b & 0x7f) * mul;
      if (b < 0x80) return r;
      mul *= 128;
    }
    throw new WireError("varint longer than 10 bytes");
  }

  /** Reads an int32 varint (negative ones are sign-extended to 10 bytes). */
  int32(): number {
    return this.varint() | 0;
  }

  /** Reads a sint64 varint as an exact bigint. */
  sint64(): bigint {
    const start = this.pos;
    const n = this.varint();
    if (n <= Number.MAX_SAFE_INTEGER && this.pos - start < 8) {
      // Fast path: the zig-zag value is exact as a number.
      return BigInt(n % 2 === 0 ? n / 2 : -(n + 1) / 2);
    }
    // Exact path: re-read the bytes into a bigint.
    let u = 0n;
    let shift = 0n;
    for (let p = start; p < this.pos; p++) {
      u |= BigInt(this.buf[p] & 0x7f) << shift;
      shift += 7n;
    }
    u = BigInt.asUintN(64, u);
    return (u >> 1n) ^ -(u & 1n);
  }

  /** Reads a length prefix and returns the end of the payload. */
  lenEnd(): number {
    const n = this.varint();
    const e = this.pos + n;
    if (e > this.end) throw new WireError(`length ${n} runs past the end of the message`);
    return e;
  }

  string(): string {
    const e = this.lenEnd();
    const s = this.buf.toString("utf8", this.pos, e);
    this.pos = e;
    return s;
  }

  /** Skips a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case I64:
        this.pos += 8;
        break;
      case LEN:
        this.pos = this.lenEnd();
        return;
      case I32:
        this.pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new WireError("truncated field");
  }

  /** Reads a gale.v1.Value body ending at e. */
  value(e: number): Value {
    let v: Value = null;
    while (this.pos < e) {
      const tag = this.varint();
      switch (tag) {
        case 0x0a:
          v = this.string();
          break;
        case 0x10:
          v = this.sint64();
          break;
        case 0x19:
          if (this.pos + 8 > e) throw new WireError("truncated double");
          v = this.buf.readDoubleLE(this.pos);
          this.pos += 8;
          break;
        case 0x20:
          v = this.varint() !== 0;
          break;
        case 0x2a: {
          const be = this.lenEnd();
          // A copy: a kept value must not pin the whole received message.
          v = new Uint8Array(this.buf.subarray(this.pos, be));
          this.pos = be;
          break;
        }
        default:
          this.skip(tag & 7);
      }
    }
    this.pos = e;
    return v;
  }

  /** Reads packed or unpacked repeated uint64 numbers into out. */
  repeatedVarint(wireType: number, out: number[]): void {
    if (wireType === LEN) {
      const e = this.lenEnd();
      while (this.pos < e) out.push(this.varint());
      return;
    }
    out.push(this.varint());
  }
}

/** One tuple of an inputs frame, as read off the wire. */
export interface RawTuple {
  id: number;
  stream: string;
  sourceTask: number;
  values: Value[];
}

/** Reads a gale.v1.TupleBatch into raw tuples. Roots, edges and dest_task are node-to-node fields: skipped. */
export function readTupleBatch(r: Reader, e: number): RawTuple[] {
  const out: RawTuple[] = [];
  while (r.pos < e) {
    const tag = r.varint();
    if (tag !== 0x0a) {
      r.skip(tag & 7);
      continue;
    }
    const te = r.lenEnd();
    let id = 0;
    let stream = "";
    let sourceTask = 0;
    const values: Value[] = [];
    while (r.pos < te) {
      const t = r.varint();
      switch (t) {
        case 0x0a:
          stream = r.string();
          break;
        case 0x10:
          sourceTask = r.int32();
          break;
        case 0x22: {
          const ve = r.lenEnd();
          values.push(r.value(ve));
          break;
        }
        case 0x38:
          id = r.varint();
          break;
        default:
          r.skip(t & 7);
      }
    }
    r.pos = te;
    out.push({ id, stream, sourceTask, values });
  }
  r.pos = e;
  return out;
}

/** Reads packed/unpacked uint64 lists of a message with two such fields (SpoutAcks). */
export function readTwoIdLists(r: Reader, e: number): [number[], number[]] {
  const a: number[] = [];
  const b: number[] = [];
  while (r.pos < e) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1) r.repeatedVarint(tag & 7, a);
    else if (field === 2) r.repeatedVarint(tag & 7, b);
    else r.skip(tag & 7);
  }
  r.pos = e;
  return [a, b];
}
