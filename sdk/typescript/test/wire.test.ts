// The hand-written hot-path codec against the generated ts-proto code, in
// both directions, and the outbox's frame order.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { AttachRequest, AttachResponse } from "../src/gen/gale/v1/attach";
import { Outbox, streamInfo } from "../src/outbox";
import { Reader, readTupleBatch, Writer } from "../src/wire";
import { Tuple, Source } from "../src/tuple";
import { valueFromProto, valueToProto, type Value } from "../src/values";

const src = new Source("spout", "default", ["a"]);
const input = (id: number) => new Tuple(id, ["x"], src, 1);

const VALUES: Value[] = [
  "",
  "word",
  "ünïcödé 😀",
  "x".repeat(200), // a length that needs two varint bytes
  0n,
  1n,
  -1n,
  (1n << 63n) - 1n,
  -(1n << 63n),
  123456789012345678n,
  0,
  -2.5,
  Number.MAX_VALUE,
  true,
  false,
  new Uint8Array([0, 1, 255]),
  new Uint8Array(300).fill(7),
  null,
];

test("emits decode with the generated code, every value kind", () => {
  const out = new Outbox("strict");
  const other = streamInfo("other", VALUES.map((_, i) => `f${i}`), false);
  out.emit(other, VALUES, input(7), null, 0, 0);
  out.emit(streamInfo("default", ["w"], false), ["solo"], null, [input(1), input(2 ** 52 + 3)], 0, 0);
  out.emit(streamInfo("d", ["w"], true), ["to"], null, null, 2 ** 40, 6);
  const frames = out.take();
  assert.equal(frames.length, 1);
  const req = AttachRequest.decode(frames[0]);
  assert.equal(req.frame?.$case, "emits");
  const emits = (req.frame as { $case: "emits"; value: { emits: import("../src/gen/gale/v1/attach").Emit[] } }).value.emits;
  assert.equal(emits.length, 3);
  assert.equal(emits[0].stream, "other");
  assert.deepEqual(emits[0].values.map(valueFromProto), VALUES);
  assert.deepEqual(emits[0].anchors, [7n]);
  assert.equal(emits[1].stream, "");
  assert.deepEqual(emits[1].anchors, [1n, BigInt(2 ** 52 + 3)]);
  assert.equal(emits[2].messageId, BigInt(2 ** 40));
  assert.equal(emits[2].directTask, 6);
});

test("inputs encoded by the generated code read back exactly", () => {
  const tuples = [
    { id: 1n, stream: "", sourceTask: 1, destTask: 0, values: VALUES.map(valueToProto), roots: [5n], edges: [6n] },
    { id: BigInt(2 ** 53 - 1), stream: "s", sourceTask: 2147483647, destTask: 3, values: [], roots: [], edges: [] },
  ];
  const b = Buffer.from(AttachResponse.encode({ frame: { $case: "inputs", value: { tuples } } }).finish());
  const r = new Reader(b);
  assert.equal(r.varint(), 0x12);
  const end = r.lenEnd();
  const got = readTupleBatch(r, end);
  assert.deepEqual(got, [
    { id: 1, stream: "", sourceTask: 1, values: VALUES },
    { id: 2 ** 53 - 1, stream: "s", sourceTask: 2147483647, values: [] },
  ]);
});

test("writer and reader agree on sint64 across the range", () => {
  const vals = [0n, 1n, -1n, 63n, -64n, 64n, (1n << 53n) - 1n, 1n << 53n, -(1n << 53n), (1n << 63n) - 1n, -(1n << 63n)];
  for (const v of vals) {
    const w = new Writer(16);
    w.sint64(v);
    const r = new Reader(w.take());
    assert.equal(r.sint64(), v, `sint64 ${v}`);
  }
  assert.throws(() => new Writer(16).sint64(1n << 63n), /does not fit in int64/);
});

test("truncated input is an error, not garbage", () => {
  const b = Buffer.from(AttachResponse.encode({ frame: { $case: "inputs", value: { tuples: [{ id: 1n, stream: "abc", sourceTask: 1, destTask: 0, values: [], roots: [], edges: [] }] } } }).finish());
  const cut = b.subarray(0, b.length - 2);
  const r = new Reader(cut);
  r.varint();
  assert.throws(() => readTupleBatch(r, r.lenEnd()), /runs past|truncated/);
});

function kinds(frames: Buffer[]): string[] {
  return frames.map((f) => AttachRequest.decode(f).frame!.$case);
}

test("strict order: consecutive items of one kind share a frame, nothing moves", () => {
  const out = new Outbox("strict");
  const s = streamInfo("default", ["w"], false);
  const a = input(1);
  const b = input(2);
  out.emit(s, ["x"], a, null, 0, 0);
  out.emit(s, ["y"], a, null, 0, 0);
  out.ack(1);
  out.fail(3);
  out.emit(s, ["z"], b, null, 0, 0);
  out.ack(2);
  out.log(2, "hi");
  out.ack(4);
  assert.deepEqual(kinds(out.take()), ["emits", "acks", "emits", "acks", "log", "acks"]);
  assert.equal(out.pending, false);
});

test("batch order: acks go after the emits up to the flush", () => {
  const out = new Outbox("batch");
  const s = streamInfo("default", ["w"], false);
  for (let i = 1; i <= 100; i++) {
    out.emit(s, ["w"], input(i), null, 0, 0);
    out.ack(i);
  }
  const frames = out.take();
  assert.deepEqual(kinds(frames), ["emits", "acks"]);
  const acks = AttachRequest.decode(frames[1]).frame as { $case: "acks"; value: { acked: bigint[] } };
  assert.equal(acks.value.acked.length, 100);
});

test("a bad value leaves nothing of its emit behind", () => {
  const out = new Outbox("strict");
  const s = streamInfo("default", ["a", "b"], false);
  out.emit(s, ["ok", 1n], null, null, 0, 0);
  assert.throws(() => out.emit(s, ["half", {} as unknown as Value], null, null, 0, 0), /stream 'default': value 1 \(field 'b'\): Object is not a tuple value/);
  assert.throws(() => out.emit(s, ["half", 1n << 64n], null, null, 0, 0), /does not fit in int64/);
  const frames = out.take();
  const req = AttachRequest.decode(frames[0]).frame as { $case: "emits"; value: { emits: unknown[] } };
  assert.equal(req.value.emits.length, 1);
});

test("a large emit starts a frame of its own, so no frame is over a node's 16 MiB", () => {
  const out = new Outbox("strict");
  const s = streamInfo("default", ["w"], false);
  out.emit(s, ["a".repeat(900_000)], null, null, 0, 0);
  out.emit(s, ["b".repeat((16 << 20) - 200_000)], null, null, 0, 0);
  out.emit(s, ["c"], null, null, 0, 0);
  const frames = out.take();
  assert.equal(frames.length, 3);
  const firsts = frames.map((f) => {
    assert.ok(f.length <= 16 << 20, `a frame of ${f.length} bytes`);
    const req = AttachRequest.decode(f);
    const emits = (req.frame as { $case: "emits"; value: { emits: import("../src/gen/gale/v1/attach").Emit[] } }).value.emits;
    return emits.map((e) => String(valueFromProto(e.values[0])).slice(0, 1)).join("");
  });
  assert.deepEqual(firsts, ["a", "b", "c"]);
});
