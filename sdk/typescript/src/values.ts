// Tuple values and how they map to gale.v1.Value.
//
// The mapping is one to one and the same in both directions, so a value
// read from a tuple and emitted again crosses the wire unchanged:
//
//   gale.v1.Value      TypeScript
//   string_value       string
//   int_value (int64)  bigint      (always, even for small numbers: exact)
//   double_value       number
//   bool_value         boolean
//   bytes_value        Uint8Array  (a Buffer is a Uint8Array too)
//   no kind (null)     null
//
// A JavaScript `number` is therefore always sent as a double, even when it
// holds an integer: write `5n` (or `BigInt(n)`) to send an int64. This keeps
// the type of a value tied to its kind (a Go bolt reading the field with
// t.Int(i) sees an int only if a bigint was sent) and never loses precision
// above 2^53. Tuple and Config offer getInt/getNumber helpers for reading.

import { Value as ProtoValue } from "./gen/gale/v1/value";

/** One tuple field: see the module comment for the mapping to gale.v1.Value. */
export type Value = string | bigint | number | boolean | Uint8Array | null;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Describes why v cannot be a Value, or returns undefined when it can. */
export function invalidValue(v: unknown): string | undefined {
  switch (typeof v) {
    case "string":
    case "number":
    case "boolean":
      return undefined;
    case "bigint":
      return v < INT64_MIN || v > INT64_MAX ? `bigint ${v} does not fit in int64` : undefined;
    case "object":
      if (v === null || v instanceof Uint8Array) return undefined;
      return `${Object.prototype.toString.call(v).slice(8, -1)} is not a tuple value (string, bigint, number, boolean, Uint8Array or null)`;
    default:
      return `${typeof v} is not a tuple value (string, bigint, number, boolean, Uint8Array or null)`;
  }
}

/** Converts a Value to the generated gale.v1.Value message. */
export function valueToProto(v: Value): ProtoValue {
  const bad = invalidValue(v);
  if (bad !== undefined) throw new TypeError(bad);
  switch (typeof v) {
    case "string":
      return { kind: { $case: "stringValue", value: v } };
    case "bigint":
      return { kind: { $case: "intValue", value: v } };
    case "number":
      return { kind: { $case: "doubleValue", value: v } };
    case "boolean":
      return { kind: { $case: "boolValue", value: v } };
    default:
      if (v === null) return { kind: undefined };
      return { kind: { $case: "bytesValue", value: Buffer.from(v as Uint8Array) } };
  }
}

/** Converts a generated gale.v1.Value message to a Value. */
export function valueFromProto(p: ProtoValue | undefined): Value {
  const k = p?.kind;
  if (k === undefined) return null;
  switch (k.$case) {
    case "stringValue":
      return k.value;
    case "intValue":
      return BigInt(k.value);
    case "doubleValue":
      return k.value;
    case "boolValue":
      return k.value;
    case "bytesValue":
      return new Uint8Array(k.value);
  }
}

/** Formats a value for messages: strings quoted, bigints with their n. */
export function formatValue(v: Value): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  return String(v);
}

/**
 * Reads a value as a JavaScript number: a bigint within the safe integer
 * range or a number. Anything else (a string, an unsafe bigint...) is
 * undefined, so that callers decide what a missing number means.
 */
export function toNumber(v: Value | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(v);
  }
  return undefined;
}
