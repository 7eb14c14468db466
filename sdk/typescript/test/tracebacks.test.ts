// Execute's stack traces: one in full per kind of failure, then counts.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Tracebacks, MAX_KINDS } from "../src/tracebacks";

function thrown(msg: string): Error {
  try {
    throw new RangeError(msg);
  } catch (e) {
    return e as Error;
  }
}

function thrownElsewhere(msg: string): Error {
  try {
    throw new RangeError(msg); // the same name as thrown's, another line
  } catch (e) {
    return e as Error;
  }
}

test("one trace per kind of failure, then a count at most every interval", () => {
  let now = 0;
  const out: string[] = [];
  const tb = new Tracebacks("split task 2", 10_000, () => now, (s) => void out.push(s));
  tb.print(thrown("first"), "execute threw on input 1");
  assert.equal(out.length, 1);
  assert.match(out[0], /^gale: split task 2: execute threw on input 1:\nRangeError: first\n\s+at /);
  for (let i = 0; i < 1000; i++) {
    now = i * 5; // 5 s of failures
    tb.print(thrown(`again ${i}`), "execute threw");
  }
  assert.equal(out.length, 1, "a repeated failure printed more within the interval");
  tb.print(thrownElsewhere("other"), "execute threw");
  assert.equal(out.length, 2);
  assert.match(out[1], /RangeError: other/);
  now = 10_000;
  tb.print(thrown("late"), "execute threw");
  assert.equal(out.length, 3);
  assert.match(out[2], /^gale: split task 2: 1001 more RangeError at .* in 10s \(the first trace is above/);
  // Counts not printed yet are printed when the task stops.
  tb.print(thrown("after"), "execute threw");
  tb.flush();
  assert.equal(out.length, 4);
  assert.match(out[3], /^gale: split task 2: 1 more RangeError at /);
});

test("kinds are bounded", () => {
  const out: string[] = [];
  const tb = new Tracebacks("s", 0, () => 0, (s) => void out.push(s));
  for (let i = 0; i < MAX_KINDS + 5; i++) {
    const e = new Error("x");
    e.name = `Error${i}`;
    tb.print(e, "execute threw");
  }
  assert.equal(out.filter((s) => s.includes("execute threw")).length, MAX_KINDS);
  assert.ok(out.some((s) => s.includes("more other errors at various places")));
  assert.ok(!out.some((s) => s.includes("the first trace is above")), "no trace was printed for them");
});

test("an error the SDK throws in a call is placed at the user's line", () => {
  // An EmitError thrown by the SDK's collector, caught where a bolt's
  // execute made the call.
  const { EmitError } = require("../src/errors") as typeof import("../src/errors");
  const { describeError, userFrame } = require("../src/tracebacks") as typeof import("../src/tracebacks");
  let err: Error | undefined;
  try {
    sdkThrows(EmitError);
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err);
  assert.match(userFrame(err) ?? "", /tracebacks\.test\.(ts|js)/);
  assert.match(describeError(err), /^emit on undeclared stream 'x' \(at tracebacks\.test\.(ts|js):\d+\)$/);
  assert.equal(describeError(new TypeError("x is not a function")), "TypeError: x is not a function");
  assert.equal(describeError("a string"), "a string");
});

test("a source-mapped SDK frame is the SDK's too", () => {
  const { EmitError } = require("../src/errors") as typeof import("../src/errors");
  const { userFrame } = require("../src/tracebacks") as typeof import("../src/tracebacks");
  const path = require("node:path") as typeof import("node:path");
  // The SDK's sources, as source maps name them: <package>/src/collector.ts.
  const src = path.resolve(path.dirname(require.resolve("../src/errors")), "..", "..", "src");
  const f = new Function("EmitError", `throw new EmitError("x");\n//# sourceURL=${src}/collector.ts`);
  let err: Error | undefined;
  try {
    f(EmitError);
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err);
  assert.match(userFrame(err) ?? "", /tracebacks\.test\.(ts|js)/);
});

// sdkThrows throws as the SDK does, from a frame inside the SDK's folder:
// a function compiled from a source that names a file there.
function sdkThrows(EmitError: new (m: string) => Error): void {
  const dir = require("node:path").dirname(require.resolve("../src/errors"));
  const f = new Function("EmitError", `throw new EmitError("emit on undeclared stream 'x'");\n//# sourceURL=${dir}/collector.js`);
  f(EmitError);
}
