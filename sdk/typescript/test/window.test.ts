// Session windows (src/window.ts): every shared case of
// sdk/window/testdata/sessions in both ack modes, with the acking contract
// checked on the way, plus configuration, failures and Go-compatible keys.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { BoltCollector } from "../src/collector";
import { Outbox } from "../src/outbox";
import { Source, Tuple, TICK_SOURCE } from "../src/tuple";
import { TaskContext, type Logger } from "../src/context";
import { valueToProto, type Value } from "../src/values";
import {
  SessionBolt,
  WindowConfigError,
  TimeoutTooShortError,
  END_OF_EVENT_TIME,
  valueText,
  compareUtf8,
  type SessionConfig,
  type AckMode,
  type Window,
  type WindowFunction,
} from "../src/window";
import { formatDouble, goQuote } from "../src/window";

const CASES_DIR = path.resolve(__dirname, "../../../window/testdata/sessions");
const EVENTS = new Source("events", "default", ["key", "ts", "index"]);
const PUNCT = new Source("events", "watermark", ["watermark"]);

interface Item {
  key?: string;
  ts?: number;
  tick?: boolean;
  watermark?: number;
  end_of_event_time?: boolean;
  end?: boolean;
  wall_ms?: number;
}
interface CaseSession {
  key: string;
  start: number;
  end: number;
  events: number[];
  fired_at: number;
}
interface Case {
  name: string;
  description: string;
  params: { gap_ms: number; out_of_orderness_ms: number; allowed_lateness_ms: number; idle_timeout_ms: number };
  input: Item[];
  expected: { sessions: CaseSession[]; late: { key: string; ts: number; index: number }[] };
}

const ITEM_KEYS = new Set(["key", "ts", "tick", "watermark", "end_of_event_time", "end", "wall_ms"]);

function loadCase(file: string): Case {
  const c = JSON.parse(fs.readFileSync(file, "utf8")) as Case;
  assert.equal(c.name, path.basename(file, ".json"), `${file}: name differs from the file name`);
  assert.deepEqual(Object.keys(c.params).sort(), ["allowed_lateness_ms", "gap_ms", "idle_timeout_ms", "out_of_orderness_ms"], file);
  c.input.forEach((it, i) => {
    for (const k of Object.keys(it)) assert.ok(ITEM_KEYS.has(k), `${file}: input ${i}: unknown key ${k}`);
    assert.equal("key" in it, "ts" in it, `${file}: input ${i}: an event needs both key and ts`);
    const kinds = Number("key" in it) + Number(!!it.tick) + Number("watermark" in it) + Number(!!it.end_of_event_time) + Number(!!it.end);
    assert.equal(kinds, 1, `${file}: input ${i}: want exactly one of event, tick, watermark, end_of_event_time, end`);
  });
  return c;
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function context(
  conf: Record<string, Value> = {},
  outputs = ["default", "late"],
  tasks: Record<string, number[]> = {},
  inputs: { component: string; stream: string }[] = [],
  log: Logger = quiet,
  sourceFields: Record<string, string[]> = {},
): TaskContext {
  const streams: Record<string, string[]> = { default: ["key", "start", "end", "events"], late: ["key", "ts", "index"] };
  const config: Record<string, ReturnType<typeof valueToProto>> = {};
  for (const [k, v] of Object.entries(conf)) config[k] = valueToProto(v);
  const componentTasks: Record<string, { ids: number[] }> = { events: { ids: [1] }, sessions: { ids: [10] } };
  for (const [k, ids] of Object.entries(tasks)) componentTasks[k] = { ids };
  return new TaskContext(
    {
      topology: "test",
      topologyId: "test-1",
      component: "sessions",
      taskId: 10,
      taskIndex: 0,
      config,
      componentTasks,
      outputs: outputs.map((id) => ({ id, fields: streams[id], direct: false })),
      inputs,
      sourceFields: Object.fromEntries(Object.entries(sourceFields).map(([k, names]) => [k, { names }])),
      heartbeatMillis: 1000,
    } as unknown as ConstructorParameters<typeof TaskContext>[0],
    log,
  );
}

type Step = { kind: "emit"; stream: string; values: readonly Value[]; anchors: Tuple[] } | { kind: "ack" | "fail" | "reset"; t: Tuple };

/** A real collector (emits and anchors checked as in a task) that records what the bolt does, in order. */
class Recorder extends BoltCollector {
  steps: Step[] = [];
  errors: string[] = [];
  constructor(ctx: TaskContext) {
    super(new Outbox("batch"), ctx.outputs);
  }
  override emitTo(stream: string, anchors: Tuple | readonly Tuple[] | null, values: readonly Value[]): void {
    super.emitTo(stream, anchors, values);
    const a = anchors === null ? [] : anchors instanceof Tuple ? [anchors] : [...anchors];
    this.steps.push({ kind: "emit", stream, values: [...values], anchors: a });
  }
  override ack(t: Tuple): void {
    super.ack(t);
    this.steps.push({ kind: "ack", t });
  }
  override fail(t: Tuple): void {
    super.fail(t);
    this.steps.push({ kind: "fail", t });
  }
  override resetTimeout(t: Tuple): void {
    super.resetTimeout(t);
    this.steps.push({ kind: "reset", t });
  }
  override reportError(err: unknown): void {
    this.errors.push(String(err));
  }
}

function start(cfg: SessionConfig, fn: WindowFunction, ctx = context(), opts = {}): { b: SessionBolt; rec: Recorder } {
  const b = new SessionBolt(cfg, fn, opts);
  const rec = new Recorder(ctx);
  b.prepare(ctx, rec);
  return { b, rec };
}

function deliver(b: SessionBolt, rec: Recorder, t: Tuple): void {
  if (t.id !== 0) rec.held++;
  b.execute(t);
}

function runCase(c: Case, mode: AckMode) {
  const p = c.params;
  const sessions: CaseSession[] = [];
  let at = 0;
  let clock = 0;
  const fn: WindowFunction = (w, events, out) => {
    assert.equal(w.kind, "session");
    sessions.push({ key: w.key, start: Number(w.start), end: Number(w.end), events: events.map((e) => Number(e.values[2])), fired_at: at });
    out.emit([w.key, w.start, w.end, BigInt(events.length)]);
  };
  const cfg: SessionConfig = {
    gapMs: p.gap_ms,
    keyField: "key",
    timeField: "ts",
    outOfOrdernessMs: p.out_of_orderness_ms,
    allowedLatenessMs: p.allowed_lateness_ms,
    idleTimeoutMs: p.idle_timeout_ms,
    ack: mode,
    timeoutCheck: "off",
  };
  const { b, rec } = start(cfg, fn, context({ "topology.tick.tuple.freq.secs": 1n }), { clock: () => 1e9 + clock });
  c.input.forEach((it, i) => {
    at = i;
    if (it.wall_ms !== undefined) clock = it.wall_ms;
    if (it.key !== undefined) deliver(b, rec, new Tuple(1 + i, [it.key, BigInt(it.ts!), BigInt(i)], EVENTS, 1));
    else if (it.tick) deliver(b, rec, new Tuple(0, [], TICK_SOURCE, 0));
    else if (it.watermark !== undefined) deliver(b, rec, new Tuple(1 + i, [BigInt(it.watermark)], PUNCT, 1));
    else if (it.end_of_event_time) deliver(b, rec, new Tuple(1 + i, [END_OF_EVENT_TIME], PUNCT, 1));
    else if (it.end) b.finish();
  });
  const late = rec.steps
    .filter((s): s is Extract<Step, { kind: "emit" }> => s.kind === "emit" && s.stream === "late")
    .map((s) => ({ key: s.values[0] as string, ts: Number(s.values[1]), index: Number(s.values[2]) }));
  return { sessions, late, b, rec };
}

/** Every event acked exactly once, nothing failed; "ack-on-fire": a result is anchored to exactly its events, none acked before it. */
function checkSettled(c: Case, rec: Recorder, mode: AckMode): void {
  const acked = new Map<number, number>();
  for (const s of rec.steps) {
    assert.notEqual(s.kind, "fail");
    if (s.kind === "ack" && s.t.source === EVENTS) {
      const i = Number(s.t.values[2]);
      acked.set(i, (acked.get(i) ?? 0) + 1);
    }
    if (s.kind === "emit" && s.stream === "default") {
      if (mode === "ack-on-receipt") assert.equal(s.anchors.length, 0, "result anchored in ack-on-receipt mode");
      else {
        assert.equal(BigInt(s.anchors.length), s.values[3], `result ${s.values} anchored to ${s.anchors.length} inputs`);
        for (const a of s.anchors) assert.ok(!acked.has(Number(a.values[2])), `result anchored to event ${a.values[2]}, acked before`);
      }
    }
  }
  c.input.forEach((it, i) => {
    if (it.key !== undefined) assert.equal(acked.get(i), 1, `event ${i} acked ${acked.get(i) ?? 0} times, want once`);
  });
  assert.equal(rec.held, 0, "inputs left unacked");
}

const files = fs
  .readdirSync(CASES_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => path.join(CASES_DIR, f));

test("the shared cases are there", () => assert.ok(files.length >= 8, `want the shared cases in ${CASES_DIR}`));

for (const file of files) {
  for (const mode of ["ack-on-fire", "ack-on-receipt"] as AckMode[]) {
    test(`case ${path.basename(file, ".json")} ${mode}`, () => {
      const c = loadCase(file);
      const { sessions, late, b, rec } = runCase(c, mode);
      assert.deepEqual(sessions, c.expected.sessions, c.description);
      assert.deepEqual(late, c.expected.late, c.description);
      checkSettled(c, rec, mode);
      const st = b.stats();
      assert.deepEqual([st.openWindows, st.heldEvents, st.fired, st.late], [0, 0, sessions.length, late.length]);
    });
  }
}

// ---- beyond the cases ----

const base = (o: Partial<SessionConfig> = {}): SessionConfig => ({ gapMs: 10, keyField: "key", timeField: "ts", timeoutCheck: "off", ...o });
const ev = (id: number, key: Value, ts: Value) => new Tuple(id, [key, ts, BigInt(id)], EVENTS, 1);
const collect = (out: [string, bigint, bigint, bigint[]][]): WindowFunction => (w: Window, events) =>
  out.push([w.key, w.start, w.end, events.map((e) => e.values[1] as bigint)]);

test("config errors name the setting", () => {
  const bad: [Partial<SessionConfig>, RegExp][] = [
    [{ gapMs: -1 }, /gapMs: must be >= 0/],
    [{ gapMs: 1.5 }, /gapMs: want integer milliseconds/],
    [{ allowedLatenessMs: -3n }, /allowedLatenessMs/],
    [{ timeField: "" }, /timeField: required/],
    [{ ack: "sometimes" as AckMode }, /ack: unknown mode/],
    [{ punctuationStream: "" }, /punctuationStream/],
  ];
  for (const [o, re] of bad) assert.throws(() => start(base(o), collect([])), (e: Error) => e instanceof WindowConfigError && re.test(e.message));
});

test("an undeclared late stream is refused unless late events are dropped", () => {
  assert.throws(() => start(base(), collect([]), context({}, ["default"])), /lateStream: stream "late" is not declared/);
  const { b, rec } = start(base({ lateStream: "" }), collect([]), context({}, ["default"]));
  deliver(b, rec, ev(1, "a", 100n));
  deliver(b, rec, ev(2, "a", 5n));
  assert.equal(b.stats().late, 1);
  assert.deepEqual(rec.steps.map((s) => s.kind), ["ack"]);
});

test("the message timeout must cover what ack-on-fire holds", () => {
  const cases: [Record<string, Value>, Partial<SessionConfig>, string][] = [
    [{}, {}, "ok"],
    [{ "topology.message.timeout.secs": 1n }, { gapMs: 1000 }, "error"],
    [{ "topology.message.timeout.secs": "1s" }, { gapMs: 900, outOfOrdernessMs: 100 }, "error"],
    [{ "topology.message.timeout.secs": "1m30s" }, { gapMs: 60_000 }, "ok"],
    [{ "topology.message.timeout.secs": 2n, "topology.tick.tuple.freq.secs": 1n }, { gapMs: 500, idleTimeoutMs: 1000 }, "error"],
    [{ "topology.message.timeout.secs": 3n, "topology.tick.tuple.freq.secs": 1n }, { gapMs: 500, idleTimeoutMs: 1000 }, "ok"],
    [{ "topology.message.timeout.secs": 1n }, { gapMs: 1000, ack: "ack-on-receipt" }, "ok"],
    [{ "topology.message.timeout.secs": 1n, "topology.acker.executors": 0n }, { gapMs: 1000 }, "ok"],
    [{ "topology.message.timeout.secs": 1n }, { gapMs: 1000, timeoutCheck: "warn" }, "warn"],
  ];
  for (const [conf, o, outcome] of cases) {
    const cfg = base({ timeoutCheck: "error", ...o });
    if (outcome === "error") {
      assert.throws(() => start(cfg, collect([]), context(conf)), (e: Error) => e instanceof TimeoutTooShortError && /topology.message.timeout.secs/.test(e.message));
      continue;
    }
    const { rec } = start(cfg, collect([]), context(conf));
    assert.equal(rec.errors.length > 0, outcome === "warn", JSON.stringify(o));
  }
  assert.throws(() => start(base({ idleTimeoutMs: 1000, timeoutCheck: "error" }), collect([])), /needs tick tuples/);
});

test("invalid inputs are acked and reported", () => {
  const other = new Source("events", "default", ["key", "when"]);
  const { b, rec } = start(base(), collect([]));
  deliver(b, rec, new Tuple(1, ["a", 1n], other, 1));
  deliver(b, rec, ev(2, "a", "soon"));
  deliver(b, rec, ev(3, "a", 1.5));
  deliver(b, rec, ev(4, "a", true));
  deliver(b, rec, new Tuple(5, ["x"], PUNCT, 1));
  deliver(b, rec, new Tuple(6, [3], PUNCT, 1)); // a double is not an int punctuation (as in Go)
  assert.equal(b.stats().invalid, 6);
  assert.equal(b.stats().events, 0);
  assert.deepEqual(rec.steps.map((s) => s.kind), Array(6).fill("ack"));
  assert.match(rec.errors[0], /no time field "ts"/);
  assert.match(rec.errors[1], /want integer milliseconds/);
  assert.match(rec.errors[4], /punctuation on stream "watermark"/);
});

test("keys are the Go text of the value; integral doubles are times", () => {
  const res: [string, bigint, bigint, bigint[]][] = [];
  const { b, rec } = start(base(), collect(res));
  deliver(b, rec, ev(1, 7n, 0n));
  deliver(b, rec, ev(2, 1e6, 2));
  deliver(b, rec, ev(3, new Uint8Array([0, 107]), 3n));
  deliver(b, rec, ev(4, null, 4n));
  deliver(b, rec, ev(5, false, 5n));
  b.finish();
  assert.deepEqual(res.map((r) => r[0]).sort(), ['"\\x00k"', "1e+06", "7", "false", "null"].sort());
});

test("double and bytes formatting match Go's strconv", () => {
  // strconv.FormatFloat(f, 'g', -1, 64) and strconv.Quote, from Go.
  const doubles: [number, string][] = [
    [0, "0"], [1, "1"], [-1, "-1"], [0.1, "0.1"], [1e-5, "1e-05"], [1.5e-5, "1.5e-05"], [0.0001, "0.0001"],
    [0.00012345, "0.00012345"], [123456, "123456"], [1e6, "1e+06"], [1234567, "1.234567e+06"], [123456.7, "123456.7"],
    [1e21, "1e+21"], [1.5e300, "1.5e+300"], [5e-324, "5e-324"], [-2.5, "-2.5"], [100, "100"], [99999.5, "99999.5"],
    [1e5, "100000"], [3.14159, "3.14159"], [-0, "-0"], [NaN, "NaN"], [-Infinity, "-Inf"],
  ];
  for (const [f, want] of doubles) assert.equal(formatDouble(f), want, String(f));
  const bytes = Buffer.from('a"b\\\x00\x7f', "latin1");
  const all = Buffer.concat([bytes, Buffer.from([0xff]), Buffer.from(" é \u200b 😀 \u{e0001} \t")]);
  assert.equal(goQuote(all), '"a\\"b\\\\\\x00\\x7f\\xff é \\u200b 😀 \\U000e0001 \\t"');
  assert.equal(goQuote(Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0x80])), '"\\xed\\xa0\\x80\\xc0\\x80"'); // surrogate, overlong
  assert.equal(valueText(12345678901234567890n % (1n << 63n)), (12345678901234567890n % (1n << 63n)).toString());
});

test("keys fire in UTF-8 byte order, not UTF-16 order", () => {
  const keys = ["\uffff", "😀", "\ue000", "z", "é"];
  const sorted = [...keys].sort(compareUtf8);
  assert.deepEqual(sorted, [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const res: [string, bigint, bigint, bigint[]][] = [];
  const { b, rec } = start(base(), collect(res));
  keys.forEach((k, i) => deliver(b, rec, ev(i + 1, k, 0n)));
  b.finish();
  assert.deepEqual(res.map((r) => r[0]), sorted);
});

test("punctuation is the least of all source tasks", () => {
  const res: [string, bigint, bigint, bigint[]][] = [];
  const { b, rec } = start(base(), collect(res), context({}, ["default", "late"], { events: [1, 2] }));
  deliver(b, rec, ev(1, "a", 0n));
  deliver(b, rec, new Tuple(2, [100n], PUNCT, 1));
  assert.equal(res.length, 0);
  assert.equal(b.stats().watermark, 0n);
  deliver(b, rec, new Tuple(3, [50n], PUNCT, 2));
  assert.deepEqual(res, [["a", 0n, 0n, [0n]]]);
  assert.equal(b.stats().watermark, 50n);
  deliver(b, rec, new Tuple(4, [END_OF_EVENT_TIME], PUNCT, 1));
  deliver(b, rec, ev(5, "b", 60n));
  deliver(b, rec, new Tuple(6, [END_OF_EVENT_TIME], PUNCT, 2));
  assert.deepEqual(res[1], ["b", 60n, 60n, [60n]]);
  assert.equal(b.stats().watermark, END_OF_EVENT_TIME);
  assert.equal(rec.held, 0);
});

test("a failing window function fails its events once in ack-on-fire", async () => {
  const fn: WindowFunction = (w, events, out) => {
    out.emit([w.key, w.start, w.end, BigInt(events.length)]);
    if (w.key === "bad") throw new Error("boom");
  };
  const { b, rec } = start(base(), fn);
  deliver(b, rec, ev(1, "bad", 0n));
  deliver(b, rec, ev(2, "ok", 1n));
  deliver(b, rec, ev(3, "bad", 2n));
  b.finish();
  const settled = rec.steps.filter((s) => s.kind !== "emit").map((s) => `${s.kind}${(s as { t: Tuple }).t.id}`);
  assert.deepEqual(settled.sort(), ["ack2", "fail1", "fail3"]);
  assert.match(rec.errors[0], /exception in the window function for key "bad" \[0, 2\] \(2 events\): Error: boom \(at window\.test\.(js|ts):\d+\)$/);
  assert.equal(rec.held, 0);

  // An async window function is refused: its emits after an await would go
  // out unanchored after its events were acked.
  const r3 = start(base(), async (w, events, out) => {
    await Promise.resolve();
    out.emit([w.key, w.start, w.end, BigInt(events.length)]);
  });
  deliver(r3.b, r3.rec, ev(1, "a", 0n));
  r3.b.finish();
  await new Promise((r) => setImmediate(r)); // its continuation runs, and is refused
  assert.match(r3.rec.errors[0], /the window function returned a promise/);
  assert.equal(r3.rec.steps.filter((s) => s.kind === "emit").length, 0);

  const r2 = start(base({ ack: "ack-on-receipt" }), () => {
    throw new Error("nope");
  });
  deliver(r2.b, r2.rec, ev(1, "a", 0n));
  r2.b.finish();
  assert.deepEqual(r2.rec.steps.map((s) => s.kind), ["ack"]);
  assert.equal(r2.rec.errors.length, 1);
});

test("without ackers inputs are acked at once; hooks run; finish twice throws", () => {
  const calls: string[] = [];
  const res: [string, bigint, bigint, bigint[]][] = [];
  const { b, rec } = start(base(), collect(res), context({ "topology.acker.executors": 0n }), {
    onFinish: () => calls.push("finish"),
    onCleanup: () => calls.push("cleanup"),
    onLate: (k: string, ts: bigint) => calls.push(`late ${k} ${ts}`),
    onPrepare: (_c: TaskContext, cfg: SessionConfig) => {
      cfg.gapMs = 20;
    },
  });
  deliver(b, rec, ev(1, "a", 100n));
  deliver(b, rec, ev(2, "a", 120n)); // joins with the gap set by onPrepare
  deliver(b, rec, ev(3, "a", 50n));
  assert.deepEqual(rec.steps.map((s) => s.kind), ["ack", "ack", "emit", "ack"]);
  b.finish();
  assert.throws(() => b.finish(), /finish called twice/);
  b.cleanup();
  assert.deepEqual(res, [["a", 100n, 120n, [100n, 120n]]]);
  assert.deepEqual(calls, ["late a 50", "finish", "cleanup"]);
});

test("times are exact int64 and saturate like Go's", () => {
  const res: [string, bigint, bigint, bigint[]][] = [];
  const big = (1n << 62n) + 1n; // not representable as a double
  const { b, rec } = start(base({ gapMs: 10n, outOfOrdernessMs: 5n }), collect(res));
  deliver(b, rec, ev(1, "a", -(1n << 63n)));
  deliver(b, rec, ev(2, "a", big));
  deliver(b, rec, ev(3, "a", big + 10n));
  deliver(b, rec, ev(4, "a", END_OF_EVENT_TIME - 1n));
  assert.deepEqual(res, [["a", -(1n << 63n), -(1n << 63n), [-(1n << 63n)]], ["a", big, big + 10n, [big, big + 10n]]]);
  b.finish();
  assert.deepEqual(res[2], ["a", END_OF_EVENT_TIME - 1n, END_OF_EVENT_TIME - 1n, [END_OF_EVENT_TIME - 1n]]);
});

test("a field the input lacks is refused at start", () => {
  const cases: [string, string, Record<string, string[]>, RegExp | null][] = [
    ["key", "ts", { "events:default": ["key", "ts"] }, null],
    ["key", "time", { "events:default": ["key", "ts", "x"] }, /timeField: "time" is not a field of input events\/default \(its fields: key, ts, x\)/],
    ["user", "ts", { "events:default": ["key", "ts"] }, /keyField: "user" is not a field of input events\/default/],
    ["key", "ts", { "events:default": ["key", "ts"], "events:watermark": ["wm"] }, null], // the watermark stream is not checked
    ["user", "time", {}, null], // fields not known
    ["key", "ts", { "events:default": ["key", "ts"], "clicks:default": ["ts"] }, /keyField: "key" is not a field of input clicks\/default/],
  ];
  for (const [keyField, timeField, sources, error] of cases) {
    let inputs = Object.keys(sources).map((k) => ({ component: k.split(":")[0], stream: k.split(":")[1] }));
    if (inputs.length === 0) inputs = [{ component: "events", stream: "" }];
    const ctx = context({}, ["default", "late"], {}, inputs, quiet, sources);
    // lateStream "": the late stream's width is checked below.
    const run = () => start(base({ keyField, timeField, lateStream: "" }), () => {}, ctx);
    if (error === null) run();
    else assert.throws(run, (e: unknown) => e instanceof WindowConfigError && error.test(e.message), `${keyField}/${timeField}`);
  }
});

test("a late stream of another width is refused at start", () => {
  // Every late event would be refused on emit, fail, replay and be late
  // again: a run that never ends.
  const cases: [Record<string, string[]>, RegExp | null][] = [
    [{ "events:default": ["key", "ts", "index"] }, null],
    [
      { "events:default": ["key", "ts"] },
      /lateStream: stream "late" of component 'sessions' declares 3 fields \(key, ts, index\), but late events are emitted with the 2 values of input events\/default \(key, ts\)/,
    ],
    [{ "events:default": ["key", "ts", "index"], "events:watermark": ["wm"] }, null], // the watermark stream is not checked
  ];
  for (const [sources, error] of cases) {
    const inputs = Object.keys(sources).map((k) => ({ component: k.split(":")[0], stream: k.split(":")[1] }));
    const ctx = context({}, ["default", "late"], {}, inputs, quiet, sources);
    const run = () => start(base({ keyField: "key", timeField: "ts" }), () => {}, ctx);
    if (error === null) run();
    else assert.throws(run, (e: unknown) => e instanceof WindowConfigError && error.test(e.message), JSON.stringify(sources));
  }
});

test("late events are warned of at the 1st, 10th, 100th", () => {
  const warnings: string[] = [];
  const log: Logger = { ...quiet, warn: (m: string) => void warnings.push(m) };
  const { b, rec } = start(base({ lateStream: "" }), () => {}, context({}, ["default"], {}, [], log));
  deliver(b, rec, ev(1, "a", 100n)); // watermark 100
  for (let i = 0; i < 150; i++) deliver(b, rec, ev(i + 2, "a", 5n));
  const warned = warnings.filter((w) => w.includes("late events so far"));
  assert.deepEqual(warned.map((w) => w.split(" late")[0]), ["window: 1", "window: 10", "window: 100"]);
  assert.match(warned[0], /the last, at 5 \(key "a", from events\/default\), came after the watermark 100/);
});

test("no watermark input and no idle timeout is warned of", () => {
  for (const [inputs, warned] of [
    [[{ component: "events", stream: "default" }], true],
    [[{ component: "events", stream: "default" }, { component: "events", stream: "watermark" }], false],
  ] as const) {
    const warnings: string[] = [];
    const log: Logger = { ...quiet, warn: (m: string) => void warnings.push(m) };
    start(base(), () => {}, context({}, ["default", "late"], {}, [...inputs], log));
    assert.equal(warnings.some((w) => w.includes('no input on stream "watermark" and no idleTimeoutMs')), warned, JSON.stringify(warnings));
  }
});

test("held inputs have their timeout reset while the session lasts", () => {
  // A session longer than the message timeout (30 s): its held inputs get
  // their timeout reset every 10 s, the first one included, so it does not
  // replay while the session is open; once fired and acked they are no
  // longer touched.
  let clock = 0;
  const res: [string, bigint, bigint, bigint[]][] = [];
  const { b, rec } = start({ ...base(), gapMs: 10_000 }, collect(res), context({ "topology.message.timeout.secs": 30n }), { clock: () => clock });
  const resets = (id: number) => rec.steps.filter((s) => s.kind === "reset" && s.t.id === id).length;
  let id = 0;
  for (let s = 0; s <= 60; s += 5) {
    clock = s * 1000;
    deliver(b, rec, ev(++id, "a", BigInt(s * 1000)));
  }
  assert.equal(resets(1), 6); // at 10, 20, ... 60 s
  assert.equal(b.stats().touches, 6);
  assert.equal(res.length, 0);
  deliver(b, rec, ev(++id, "b", 200_000n)); // a's session fires
  assert.equal(res.length, 1);
  clock = 70_000;
  deliver(b, rec, ev(++id, "b", 201_000n));
  assert.equal(resets(1), 6);
  assert.equal(resets(id - 1), 1);
  assert.equal(b.stats().touches, 7);
});
