import { test } from "node:test";
import * as assert from "node:assert/strict";
import { valueToProto, valueFromProto, toNumber, type Value } from "../src/values";
import { Value as ProtoValue } from "../src/gen/gale/v1/value";
import { Tuple, Source } from "../src/tuple";

test("values map one to one onto gale.v1.Value", () => {
  const cases: [Value, unknown][] = [
    ["s", { stringValue: "s" }],
    [5n, { intValue: "5" }],
    [-(1n << 63n), { intValue: "-9223372036854775808" }],
    [5, { doubleValue: 5 }],
    [0.25, { doubleValue: 0.25 }],
    [true, { boolValue: true }],
    [new Uint8Array([1, 2]), { bytesValue: "AQI=" }],
    [null, {}],
  ];
  for (const [v, json] of cases) {
    const p = valueToProto(v);
    assert.deepEqual(ProtoValue.toJSON(p), json, `toProto ${String(v)}`);
    assert.deepEqual(valueFromProto(ProtoValue.decode(ProtoValue.encode(p).finish())), v, `round trip ${String(v)}`);
  }
  assert.throws(() => valueToProto(1n << 63n), /does not fit in int64/);
  assert.throws(() => valueToProto(undefined as unknown as Value), /undefined is not a tuple value/);
});

test("numbers read from ints only when exact", () => {
  assert.equal(toNumber(7n), 7);
  assert.equal(toNumber(1.5), 1.5);
  assert.equal(toNumber(1n << 60n), undefined);
  assert.equal(toNumber("7"), undefined);
});

test("tuple fields by name and position", () => {
  const t = new Tuple(3, ["go", 2n, 0.5], new Source("spout", "default", ["cmd", "n", "x"]), 1);
  assert.equal(t.getString("cmd"), "go");
  assert.equal(t.getInt("n"), 2n);
  assert.equal(t.getNumber("n"), 2);
  assert.equal(t.getNumber(2), 0.5);
  assert.equal(t.get("missing"), undefined);
  assert.throws(() => t.value("missing"), /no field 'missing' on spout:default \(fields: cmd, n, x\)/);
  // A typo in a field name is an error, not an empty value.
  assert.throws(() => t.getString("cmdd"), /no field 'cmdd' on spout:default \(fields: cmd, n, x\)/);
  assert.throws(() => t.getInt("nn"), RangeError);
  assert.throws(() => t.getNumber("xx"), RangeError);
  assert.throws(() => t.getString(3), /no field 3 on spout:default/);
  assert.equal(t.getString("n"), ""); // a field of another type: "" as before
  assert.equal(t.getInt("cmd"), undefined);
  assert.equal(t.sourceComponent, "spout");
  assert.equal(t.isTick, false);
});
