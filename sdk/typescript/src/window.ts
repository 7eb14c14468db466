// Event-time session windows for TypeScript bolts: the same windows as the
// Go SDK's sdk/window (session kind), with the same results on the same
// input. The shared cases in sdk/window/testdata/sessions/ (their README
// states the exact semantics) run against this module too.
//
// Sessions. Two consecutive events of a key (in event-time order) are in
// one session when the later is at most gap after the earlier; an event
// that bridges two sessions merges them. A session fires, once, when the
// watermark passes end + gap + allowedLateness (end: the time of its last
// event); sessions due at the same input fire ordered by end, then key
// (UTF-8 byte order), then start. The window function gets the session's
// events sorted by event time, equal times in arrival order.
//
// Watermark. The largest event time seen minus outOfOrdernessMs;
// punctuated watermarks (one int field on punctuationStream) raise it to at
// least the least punctuation of all source tasks; END_OF_EVENT_TIME there
// fires everything. With idleTimeoutMs, tick tuples advance it as if event
// time followed the wall clock once the input has been quiet that long. At
// end of input (finish) every open session fires.
//
// Late events (time before watermark - allowedLateness) join nothing: they
// are emitted on lateStream with their values unchanged (anchored to
// themselves), then acked.
//
// Delivery guarantee. With "ack-on-fire" (the default) the bolt holds every
// input until the session containing it has fired, anchors the window
// function's emits to all of the session's inputs, then acks them:
// at-least-once results. If the task or its node fails, the held inputs
// time out and the spout replays them, so the sessions are rebuilt (a
// result emitted before the failure may be emitted again). A session's last
// input is held for up to gap + outOfOrderness + allowedLateness of event
// time (or the idle timeout, if longer) plus a tick interval, so prepare
// checks that topology.message.timeout.secs exceeds that (timeoutCheck).
// Its first inputs are held for as long as the session lasts on top of
// that, which only the traffic bounds, so every held input has its message
// timeout reset (BoltCollector.resetTimeout, Storm's resetTimeout) once a
// third of the timeout has passed since the last reset, checked on every
// input and tick tuple (WindowStats.touches counts the rounds): a session
// stays open as long as its events keep coming, without its first inputs
// replaying. A round costs an acker operation per held input. With
// "ack-on-receipt" inputs are acked as soon as they are buffered and
// results are unanchored: at-most-once, no timeout constraint, and a
// failure loses the task's open sessions. Without ackers
// (topology.acker.executors: 0) inputs are acked at once in both modes.
//
// Times are int64 milliseconds as bigint (like int fields of tuples), so
// that arithmetic is exact and saturates like Go's.

import { Bolt } from "./component";
import type { BoltCollector } from "./collector";
import type { Config, TaskContext } from "./context";
import { DEFAULT_STREAM, TICK_STREAM, type Source, type Tuple } from "./tuple";
import type { Value } from "./values";
import { EmitError } from "./errors";
import { describeError, where } from "./tracebacks";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** The punctuated watermark a finite source sends when its input is exhausted: every session fires. */
export const END_OF_EVENT_TIME = INT64_MAX;
export const DEFAULT_PUNCTUATION_STREAM = "watermark";
export const DEFAULT_LATE_STREAM = "late";

/** When a windowed bolt acks its inputs (see "Delivery guarantee" above). */
export type AckMode = "ack-on-fire" | "ack-on-receipt";
/** What prepare does when the message timeout is too short for "ack-on-fire". */
export type TimeoutCheck = "error" | "warn" | "off";

const KEY_ACKERS = "topology.acker.executors";
const KEY_TIMEOUT = "topology.message.timeout.secs";
const KEY_TICK_FREQ = "topology.tick.tuple.freq.secs";
const DEFAULT_TIMEOUT_MS = 30_000;

/** A window setting is invalid (the message names it). */
export class WindowConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WindowConfigError";
  }
}

/** The message timeout is too short for "ack-on-fire" to hold inputs until their session fires. */
export class TimeoutTooShortError extends WindowConfigError {
  constructor(message: string) {
    super(message);
    this.name = "TimeoutTooShortError";
  }
}

/** Configures a SessionBolt; times are integer milliseconds (number or bigint). */
export interface SessionConfig {
  /** Two consecutive events of a key are in one session when the later is at most this after the earlier (>= 0). */
  gapMs: number | bigint;
  /**
   * The input field that keys sessions (its value's text: strings as they
   * are, ints in decimal, as Go's Value.String). "" or absent: every event
   * of the task has key "". Use fields grouping on it.
   */
  keyField?: string;
  /** The input field with the event time: an int (bigint) or an integral double. Required. */
  timeField: string;
  /** Bounded out-of-orderness of the watermark. Default 0. */
  outOfOrdernessMs?: number | bigint;
  /** Allowed lateness. Default 0. */
  allowedLatenessMs?: number | bigint;
  /** Idle timeout of the tick-driven watermark advance; 0 (default): off. Needs topology.tick.tuple.freq.secs. */
  idleTimeoutMs?: number | bigint;
  /** Default "ack-on-fire". */
  ack?: AckMode;
  /** Default "error". */
  timeoutCheck?: TimeoutCheck;
  /** Where late events go; "" drops them (still counted and acked). Default "late"; the topology must declare it. */
  lateStream?: string;
  /** The input stream of punctuated watermarks (one int field). Default "watermark". */
  punctuationStream?: string;
}

/** A window as the window function sees it: for sessions, start and end are the times of the first and last event (inclusive). */
export interface Window {
  readonly kind: "session";
  readonly key: string;
  readonly start: bigint;
  readonly end: bigint;
}

/** A task's counters, for tests and tools. */
export interface WindowStats {
  events: number;
  late: number;
  invalid: number;
  fired: number;
  /** Rounds in which held inputs had their message timeout reset. */
  touches: number;
  openWindows: number;
  heldEvents: number;
  watermark: bigint;
}

/**
 * What a window function emits through: anchored to every event of the
 * session in "ack-on-fire" mode, unanchored in "ack-on-receipt" mode.
 */
export class WindowOutput {
  /** @internal */
  anchors: Tuple[] | null = null;
  /** @internal true while the window function runs: it emits only then. */
  active = false;
  /** @internal */
  constructor(private readonly collector: () => BoltCollector) {}

  /** Emits on the default stream. */
  emit(values: readonly Value[]): void {
    this.check();
    this.collector().emit(this.anchors, values);
  }

  /** Emits on a stream declared in the topology. */
  emitTo(stream: string, values: readonly Value[]): void {
    this.check();
    this.collector().emitTo(stream, this.anchors, values);
  }

  // An emit after the window function returned (after an await in it)
  // would go out unanchored, after its session's events were acked.
  private check(): void {
    if (!this.active) throw new EmitError("emit after the window function returned (an await in it?): a window function emits before it returns");
  }

  /** Records an error in the task's status. */
  reportError(err: unknown): void {
    this.collector().reportError(err);
  }
}

/**
 * A window function: called once per session that fires, synchronously,
 * with the events sorted by event time (ties in arrival order). It must
 * not ack or fail them (the bolt does); it emits through out.
 */
export type WindowFunction = (w: Window, events: Tuple[], out: WindowOutput) => void;

/** Optional hooks of a SessionBolt. */
export interface SessionBoltOptions {
  /** Runs in prepare before the config is validated and may change it (read the task's config into it). */
  onPrepare?: (context: TaskContext, config: SessionConfig) => void;
  /** Runs at end of input, after every session fired. */
  onFinish?: () => void;
  /** Runs in cleanup. */
  onCleanup?: () => void;
  /** Runs for every late event, before it goes to the late stream. */
  onLate?: (key: string, ts: bigint, tuple: Tuple) => void;
  /** The wall clock in ms for the idle advance (default performance.now); tests replace it. */
  clock?: () => number;
}

// ---- the session engine ----

interface Event {
  ts: bigint;
  seq: number;
  t: Tuple;
}

class Session {
  start: bigint;
  end: bigint;
  events: Event[];
  index = -1; // position in the heap
  constructor(
    readonly key: string,
    ev: Event,
  ) {
    this.start = ev.ts;
    this.end = ev.ts;
    this.events = [ev];
  }
}

/** Compares strings in UTF-8 byte order (code point order), not UTF-16 order. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: they
    // sort after 0xE000-0xFFFF in code point order.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function sessionLess(a: Session, b: Session): boolean {
  if (a.end !== b.end) return a.end < b.end;
  if (a.key !== b.key) return compareUtf8(a.key, b.key) < 0;
  return a.start < b.start;
}

/** A min-heap of sessions by (end, key, start) that knows their positions. */
class SessionHeap {
  items: Session[] = [];

  get length(): number {
    return this.items.length;
  }
  peek(): Session {
    return this.items[0];
  }
  push(s: Session): void {
    this.items.push(s);
    s.index = this.items.length - 1;
    this.up(s.index);
  }
  pop(): Session {
    return this.remove(0);
  }
  remove(i: number): Session {
    const items = this.items;
    const n = items.length - 1;
    const x = items[i];
    if (i !== n) this.swap(i, n);
    items.pop();
    if (i !== n) this.fix(i);
    x.index = -1;
    return x;
  }
  fix(i: number): void {
    if (!this.down(i)) this.up(i);
  }
  private swap(i: number, j: number): void {
    const items = this.items;
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
    items[i].index = i;
    items[j].index = j;
  }
  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!sessionLess(this.items[i], this.items[p])) return;
      this.swap(i, p);
      i = p;
    }
  }
  private down(i: number): boolean {
    const start = i;
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let m = l;
      const r = l + 1;
      if (r < n && sessionLess(this.items[r], this.items[l])) m = r;
      if (!sessionLess(this.items[m], this.items[i])) break;
      this.swap(i, m);
      i = m;
    }
    return i > start;
  }
}

function sortEvents(evs: Event[]): void {
  evs.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.seq - b.seq));
}

/**
 * Each key's open sessions sorted by start (disjoint and more than gap
 * apart, so sorted by end too) and all sessions in a heap by end.
 * Bigints do not overflow, so the bounds need no saturation: comparisons
 * of exact sums with int64 times give what Go's saturating ones give.
 */
class SessionEngine {
  readonly keys = new Map<string, Session[]>();
  readonly heap = new SessionHeap();
  events = 0;

  constructor(
    private readonly gap: bigint,
    private readonly lateness: bigint,
    private readonly fire: (w: Window, evs: Event[]) => void,
    private readonly release: (evs: Event[]) => void,
  ) {}

  /** An event at t joins a session [start, end] when start - gap <= t <= end + gap, merging every session it joins. */
  add(key: string, ev: Event): void {
    let list = this.keys.get(key);
    if (list === undefined) {
      list = [];
      this.keys.set(key, list);
    }
    const gap = this.gap;
    const ts = ev.ts;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].end + gap >= ts) hi = mid;
      else lo = mid + 1;
    }
    const i = lo;
    let j = i;
    while (j < list.length && list[j].start - gap <= ts) j++;
    this.events++;
    if (i === j) {
      const s = new Session(key, ev);
      list.splice(i, 0, s);
      this.heap.push(s);
      return;
    }
    const s = list[i];
    for (let k = i + 1; k < j; k++) {
      const o = list[k];
      for (const e of o.events) s.events.push(e);
      if (o.start < s.start) s.start = o.start;
      if (o.end > s.end) s.end = o.end;
      this.heap.remove(o.index);
    }
    s.events.push(ev);
    if (ts < s.start) s.start = ts;
    if (ts > s.end) s.end = ts;
    if (j > i + 1) list.splice(i + 1, j - i - 1);
    this.heap.fix(s.index);
  }

  fireDue(wm: bigint): void {
    const span = this.gap + this.lateness;
    while (this.heap.length > 0 && this.heap.peek().end + span < wm) this.fireOne(this.heap.pop());
  }

  flush(): void {
    while (this.heap.length > 0) this.fireOne(this.heap.pop());
  }

  private fireOne(s: Session): void {
    // A key's sessions fire in order of end, their order in the list.
    const list = this.keys.get(s.key)!;
    if (list.length === 1) this.keys.delete(s.key);
    else list.shift();
    const evs = s.events;
    s.events = [];
    this.events -= evs.length;
    sortEvents(evs);
    this.fire({ kind: "session", key: s.key, start: s.start, end: s.end }, evs);
    this.release(evs);
  }
}

// ---- the bolt ----

function clamp(v: bigint): bigint {
  return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : v;
}

function msSetting(name: string, v: number | bigint | undefined): bigint {
  if (v === undefined) return 0n;
  let b: bigint;
  if (typeof v === "bigint") b = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
  else throw new WindowConfigError(`window config: ${name}: want integer milliseconds, got ${typeof v} ${String(v)}`);
  if (b < 0n || b > INT64_MAX) throw new WindowConfigError(`window config: ${name}: must be >= 0, got ${b}`);
  return b;
}

/** The settings in effect, after validation. */
interface Settings {
  gap: bigint;
  ooo: bigint;
  lateness: bigint;
  idle: bigint;
  keyField: string;
  timeField: string;
  ack: AckMode;
  timeoutCheck: TimeoutCheck;
  lateStream: string;
  punctuationStream: string;
}

/** Checks a SessionConfig and returns it with the defaults filled in; throws WindowConfigError naming the first bad setting. */
export function validateSessionConfig(c: SessionConfig): Readonly<Settings> {
  const s: Settings = {
    gap: msSetting("gapMs", c.gapMs ?? NaN),
    ooo: msSetting("outOfOrdernessMs", c.outOfOrdernessMs),
    lateness: msSetting("allowedLatenessMs", c.allowedLatenessMs),
    idle: msSetting("idleTimeoutMs", c.idleTimeoutMs),
    keyField: c.keyField ?? "",
    timeField: c.timeField ?? "",
    ack: c.ack ?? "ack-on-fire",
    timeoutCheck: c.timeoutCheck ?? "error",
    lateStream: c.lateStream ?? DEFAULT_LATE_STREAM,
    punctuationStream: c.punctuationStream ?? DEFAULT_PUNCTUATION_STREAM,
  };
  if (!s.timeField) throw new WindowConfigError("window config: timeField: required for session windows: the input field with the event time in ms");
  if (s.ack !== "ack-on-fire" && s.ack !== "ack-on-receipt") {
    throw new WindowConfigError(`window config: ack: unknown mode ${JSON.stringify(s.ack)} (want "ack-on-fire" or "ack-on-receipt")`);
  }
  if (s.timeoutCheck !== "error" && s.timeoutCheck !== "warn" && s.timeoutCheck !== "off") {
    throw new WindowConfigError(`window config: timeoutCheck: unknown check ${JSON.stringify(s.timeoutCheck)}`);
  }
  if (!s.punctuationStream) {
    throw new WindowConfigError(`window config: punctuationStream: must not be empty (default "${DEFAULT_PUNCTUATION_STREAM}")`);
  }
  if (s.lateStream === s.punctuationStream) {
    throw new WindowConfigError(`window config: lateStream: "${s.lateStream}" is also the punctuation stream`);
  }
  return s;
}

/**
 * SessionBolt buffers its inputs in event-time session windows and calls
 * fn(window, events, out) for every session that fires. One instance per
 * task (make it in the script the node runs).
 */
export class SessionBolt extends Bolt {
  private s!: Readonly<Settings>;
  private engine: SessionEngine | null = null;
  private hold = false;
  private readonly clock: () => number;
  private readonly ix = new Map<Source, [number, number]>();
  private maxTs = 0n;
  private haveTs = false;
  private wm = INT64_MIN;
  private lastEventAt = 0;
  private readonly punct = new Map<string, Map<number, bigint>>();
  private seq = 0;
  private failed = new Set<Tuple>();
  private readonly output = new WindowOutput(() => this.collector);
  private counters = { events: 0, late: 0, invalid: 0, fired: 0, touches: 0 };
  private touchEvery = 0; // ms; a third of the message timeout ("ack-on-fire")
  private lastTouch = 0;
  private finished = false;

  constructor(
    /** The configuration (onPrepare may change it). */
    readonly windowConfig: SessionConfig,
    private readonly fn: WindowFunction,
    private readonly options: SessionBoltOptions = {},
  ) {
    super();
    this.clock = options.clock ?? (() => performance.now());
  }

  override prepare(context: TaskContext, collector: BoltCollector): void {
    this.context = context;
    this.collector = collector;
    if (typeof this.fn !== "function") throw new WindowConfigError("window config: no window function");
    this.options.onPrepare?.(context, this.windowConfig);
    const s = validateSessionConfig(this.windowConfig);
    this.s = s;
    const ackers = context.config.getNumber(KEY_ACKERS, 1);
    this.hold = s.ack === "ack-on-fire" && ackers > 0;
    if (s.lateStream && !context.outputs.some((o) => o.id === s.lateStream)) {
      throw new WindowConfigError(
        `window config: lateStream: stream "${s.lateStream}" is not declared by component '${context.component}': ` +
          `declare it in the topology with the input's fields, or set lateStream to "" to drop late events`,
      );
    }
    this.checkInputFields(context);
    if (this.hold && s.idle === 0n && context.inputs.length > 0 && !context.inputs.some((i) => i.stream === s.punctuationStream)) {
      this.log.warn(
        `window: no input on stream "${s.punctuationStream}" and no idleTimeoutMs: the sessions still open when a finite input ends ` +
          `never fire, their events are never acked, and the run does not end; subscribe to the spout's "${s.punctuationStream}" ` +
          `stream (all grouping) or set idleTimeoutMs`,
      );
    }
    this.checkTimeout(context.config);
    this.touchEvery = this.hold ? durationMs(context.config, KEY_TIMEOUT, DEFAULT_TIMEOUT_MS) / 3 : 0;
    this.lastTouch = this.clock();
    this.engine = new SessionEngine(s.gap, s.lateness, (w, evs) => this.fire(w, evs), (evs) => this.release(evs));
  }

  /**
   * Refuses at start a key or time field that an input stream (other than
   * the watermark stream) does not declare: every event of it would be
   * skipped as invalid, one at a time, and the run would produce nothing.
   */
  private checkInputFields(context: TaskContext): void {
    const s = this.s;
    for (const input of context.inputs) {
      const stream = input.stream || DEFAULT_STREAM;
      if (stream === s.punctuationStream || stream === TICK_STREAM) continue;
      const fields = context.sourceFields.get(`${input.component}:${stream}`);
      if (fields === undefined) continue;
      for (const [setting, name] of [["keyField", s.keyField], ["timeField", s.timeField]] as const) {
        if (name && !fields.includes(name)) {
          throw new WindowConfigError(
            `window config: ${setting}: "${name}" is not a field of input ${input.component}/${stream} (its fields: ${fields.join(", ")})`,
          );
        }
      }
      // Late events go out with their values unchanged: a late stream of
      // another width would refuse every one of them, failing it, and its
      // replay is late again (a loop, not a run that ends).
      const late = s.lateStream ? context.outputs.find((o) => o.id === s.lateStream) : undefined;
      if (late !== undefined && late.fields.length !== fields.length) {
        throw new WindowConfigError(
          `window config: lateStream: stream "${s.lateStream}" of component '${context.component}' declares ` +
            `${late.fields.length} fields (${late.fields.join(", ")}), but late events are emitted with the ` +
            `${fields.length} values of input ${input.component}/${stream} (${fields.join(", ")}): declare it with the input's fields`,
        );
      }
    }
  }

  private checkTimeout(conf: Config): void {
    const s = this.s;
    if (!this.hold || s.timeoutCheck === "off") return;
    const timeout = durationMs(conf, KEY_TIMEOUT, DEFAULT_TIMEOUT_MS);
    const tick = durationMs(conf, KEY_TICK_FREQ, 0);
    if (s.idle > 0n && tick <= 0) {
      throw new WindowConfigError(`window config: idleTimeoutMs: ${s.idle}ms needs tick tuples: set ${KEY_TICK_FREQ} on the component`);
    }
    let bound = s.gap + s.ooo + s.lateness;
    if (s.idle > bound) bound = s.idle;
    const need = Number(bound) + tick;
    if (s.idle === 0n) {
      this.log.info(
        `window: no idleTimeoutMs: on a quiet input, open sessions and their unacked inputs wait for the next event (message timeout ${timeout / 1000}s)`,
      );
    }
    if (timeout > need) return;
    const msg =
      `message timeout too short for the window: ${KEY_TIMEOUT}=${timeout / 1000}s must exceed what ack-on-fire holds an input: ` +
      `${need / 1000}s (span ${Number(bound) / 1000}s + tick ${tick / 1000}s); raise the timeout, shorten the window, use ack-on-receipt, or (replaying a file, where event time runs far ahead of the wall clock) set timeoutCheck: "off"`;
    if (s.timeoutCheck === "error") throw new TimeoutTooShortError(msg);
    this.log.warn("window: " + msg);
    this.collector.reportError("window: " + msg);
  }

  override execute(t: Tuple): void {
    if (t.isTick) this.tick();
    else if (t.source.stream === this.s.punctuationStream) this.punctuate(t);
    else this.event(t);
    if (this.touchEvery > 0) this.touch();
  }

  /**
   * Resets the message timeout of every held input once a third of it has
   * passed since the last time, so that the first inputs of a session
   * longer than the timeout do not replay while it is open. On an input
   * quiet for longer than the timeout only tick tuples keep them alive.
   */
  private touch(): void {
    const now = this.clock();
    if (now - this.lastTouch < this.touchEvery || this.engine === null) return;
    this.lastTouch = now;
    this.counters.touches++;
    for (const sessions of this.engine.keys.values()) {
      for (const s of sessions) for (const ev of s.events) this.collector.resetTimeout(ev.t);
    }
  }

  /** Fires every open session (the end of input is the end of event time), then runs onFinish. */
  override finish(): void {
    if (this.finished) throw new Error("window: finish called twice");
    this.finished = true;
    if (this.engine !== null) {
      this.wm = END_OF_EVENT_TIME;
      this.engine.flush();
    }
    this.options.onFinish?.();
  }

  override cleanup(): void {
    this.options.onCleanup?.();
  }

  /** The task's counters and what is buffered now. */
  stats(): WindowStats {
    return {
      ...this.counters,
      openWindows: this.engine?.heap.length ?? 0,
      heldEvents: this.engine?.events ?? 0,
      watermark: this.wm,
    };
  }

  private fields(src: Source): [number, number] {
    let ix = this.ix.get(src);
    if (ix === undefined) {
      ix = [this.s.keyField ? src.fieldIndex(this.s.keyField) : -1, src.fieldIndex(this.s.timeField)];
      this.ix.set(src, ix);
    }
    return ix;
  }

  /** Acks an input that cannot be windowed; reports the first ten and then every thousandth. */
  private invalid(t: Tuple, reason: string): void {
    const n = ++this.counters.invalid;
    if (n <= 10 || n % 1000 === 0) {
      this.collector.reportError(`window: skipping input ${n} from ${t.source.component}/${t.source.stream}: not a windowable event: ${reason}`);
    }
    this.collector.ack(t);
  }

  private event(t: Tuple): void {
    const s = this.s;
    const [ki, ti] = this.fields(t.source);
    const values = t.values;
    let key = "";
    if (s.keyField) {
      if (ki < 0 || ki >= values.length) {
        this.invalid(t, `no key field "${s.keyField}" (fields ${t.fields.join(", ")})`);
        return;
      }
      key = valueText(values[ki]);
    }
    if (ti < 0 || ti >= values.length) {
      this.invalid(t, `no time field "${s.timeField}" (fields ${t.fields.join(", ")})`);
      return;
    }
    const v = values[ti];
    let ts: bigint;
    if (typeof v === "bigint") ts = v;
    else if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 2 ** 62) ts = BigInt(v);
    else {
      this.invalid(t, `time field "${s.timeField}" is ${valueKind(v)} ${JSON.stringify(valueText(v))}, want integer milliseconds`);
      return;
    }
    this.counters.events++;
    this.lastEventAt = this.clock();
    if (ts < clamp(this.wm - s.lateness)) {
      this.late(key, ts, t);
      return;
    }
    if (!this.hold) this.collector.ack(t);
    this.engine!.add(key, { ts, seq: ++this.seq, t });
    if (!this.haveTs || ts > this.maxTs) {
      this.maxTs = ts;
      this.haveTs = true;
    }
    this.advance(clamp(this.maxTs - s.ooo));
  }

  private late(key: string, ts: bigint, t: Tuple): void {
    this.counters.late++;
    const n = this.counters.late;
    if (/^10*$/.test(String(n))) {
      // Late events leave silently otherwise (the late stream is dropped
      // unless subscribed): say so at the 1st, 10th, 100th...
      const lateness = this.s.lateness > 0n ? ` less its allowed lateness ${this.s.lateness} ms` : "";
      this.log.warn(
        `window: ${n} late events so far; the last, at ${ts} (key "${key}", from ${t.sourceComponent}/${t.stream}), came after the watermark ` +
          `${this.wm}${lateness}: late events go to the late stream or are dropped; they come from a watermark punctuation that reached ` +
          `this bolt before events still on their way (through another bolt: send the watermark stream along the events' path), ` +
          `from inputs more out of order than outOfOrdernessMs, or from replays of inputs whose trees timed out while a session held ` +
          `them (an input quiet for longer than the message timeout without tick tuples), or from replays and resends after a ` +
          `failure (a node died: the events in flight replay to this task's new copy after newer events moved its watermark on; ` +
          `a client sent a batch again)`,
      );
    }
    this.options.onLate?.(key, ts, t);
    if (this.s.lateStream) this.collector.emitTo(this.s.lateStream, t, t.values);
    this.collector.ack(t);
  }

  /** Raises the watermark (it never goes back) and fires what became due. */
  private advance(wm: bigint): void {
    if (wm > this.wm) {
      this.wm = wm;
      this.engine!.fireDue(wm);
    }
  }

  private tick(): void {
    const s = this.s;
    if (s.idle <= 0n || !this.haveTs) return;
    const quiet = this.clock() - this.lastEventAt;
    if (quiet < Number(s.idle)) return;
    this.advance(clamp(clamp(this.maxTs - s.ooo) + BigInt(Math.trunc(quiet))));
  }

  /**
   * Records a source task's watermark. The punctuated watermark is the least
   * over every task of every component that sent one (tasks not heard from
   * yet count as minus infinity).
   */
  private punctuate(t: Tuple): void {
    const v = t.values.length > 0 ? t.values[0] : null;
    if (typeof v !== "bigint") {
      this.invalid(t, `punctuation on stream "${t.stream}": field 0 is ${valueKind(v)} ${JSON.stringify(valueText(v))}, want integer milliseconds`);
      return;
    }
    let m = this.punct.get(t.source.component);
    if (m === undefined) {
      m = new Map();
      this.punct.set(t.source.component, m);
    }
    const old = m.get(t.sourceTask);
    if (old === undefined || v > old) m.set(t.sourceTask, v);
    let least = INT64_MAX;
    outer: for (const [comp, seen] of this.punct) {
      if (seen.size < (this.context.componentTasks.get(comp)?.length ?? 0)) {
        least = INT64_MIN;
        break outer;
      }
      for (const w of seen.values()) if (w < least) least = w;
    }
    if (least === END_OF_EVENT_TIME) {
      this.wm = END_OF_EVENT_TIME;
      this.engine!.flush();
    } else {
      this.advance(least);
    }
    this.collector.ack(t);
  }

  private fire(w: Window, evs: Event[]): void {
    this.counters.fired++;
    const tuples = evs.map((e) => e.t);
    this.output.anchors = this.hold ? tuples : null;
    this.output.active = true;
    try {
      const r = this.fn(w, tuples, this.output) as unknown;
      if (r !== null && typeof r === "object" && typeof (r as PromiseLike<unknown>).then === "function") {
        // Its failure is this one: never an unhandled rejection.
        (r as PromiseLike<unknown>).then(undefined, () => undefined);
        throw new WindowConfigError("the window function returned a promise (async?): it must emit before it returns, and emits after an await are refused; make it a plain function");
      }
    } catch (e) {
      this.collector.reportError(
        `window: exception in the window function for key ${JSON.stringify(w.key)} [${w.start}, ${w.end}] (${tuples.length} event${tuples.length === 1 ? "" : "s"}): ${describeError(e)}${where(e)}`,
      );
      if (this.hold) {
        // The events replay from their spouts. A bug that fails them every
        // time fails them again, and once the watermark has passed their
        // session they come back as late events.
        for (const t of tuples) {
          if (!this.failed.has(t)) {
            this.failed.add(t);
            this.collector.fail(t);
          }
        }
      }
    } finally {
      this.output.anchors = null;
      this.output.active = false;
    }
  }

  /** Acks the events of a session that fired ("ack-on-fire"). */
  private release(evs: Event[]): void {
    if (!this.hold) return;
    for (const e of evs) {
      if (this.failed.size > 0 && this.failed.delete(e.t)) continue;
      this.collector.ack(e.t);
    }
  }
}

// ---- helpers ----

/** The kind of a value as error messages name it: int, double, bool, string, bytes or null. */
export function valueKind(v: Value | undefined): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "bigint":
      return "int";
    case "number":
      return "double";
    case "boolean":
      return "bool";
    case "string":
      return "string";
  }
  return "bytes";
}

/**
 * The text of a value as Go's Value.String gives it: strings as they are,
 * ints in decimal, doubles in Go's shortest %g form, booleans true/false,
 * bytes Go-quoted, null "null". Session keys use it, so a non-string key
 * field keys the same sessions in every SDK.
 */
export function valueText(v: Value | undefined): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return v;
    case "bigint":
      return v.toString();
    case "number":
      return formatDouble(v);
    case "boolean":
      return v ? "true" : "false";
  }
  return goQuote(v);
}

/** strconv.FormatFloat(f, 'g', -1, 64). */
export function formatDouble(f: number): string {
  if (Number.isNaN(f)) return "NaN";
  if (f === Infinity) return "+Inf";
  if (f === -Infinity) return "-Inf";
  const neg = f < 0 || Object.is(f, -0);
  if (f === 0) return neg ? "-0" : "0";
  // toExponential() without digits gives the shortest round-trip digits.
  const [mant, exp] = Math.abs(f).toExponential().split("e");
  const digits = mant.replace(".", "").replace(/0+$/, "") || "0";
  const x = Number(exp);
  const dp = x + 1;
  const nd = digits.length;
  let s: string;
  // Go's shortest %g uses the exponent form when the exponent is below -4
  // or at least 6.
  if (x < -4 || x >= 6) {
    s = digits[0] + (nd > 1 ? "." + digits.slice(1) : "") + "e" + (x < 0 ? "-" : "+") + String(Math.abs(x)).padStart(2, "0");
  } else if (dp <= 0) {
    s = "0." + "0".repeat(-dp) + digits;
  } else if (dp >= nd) {
    s = digits + "0".repeat(dp - nd);
  } else {
    s = digits.slice(0, dp) + "." + digits.slice(dp);
  }
  return neg ? "-" + s : s;
}

const ESCAPES: Record<number, string> = { 7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 0x5c: "\\\\", 0x22: '\\"' };
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** strconv.Quote of bytes as a Go string: printable runes as they are, invalid UTF-8 bytes as \xNN. */
export function goQuote(b: Uint8Array): string {
  let out = '"';
  const hex = (c: number) => "\\x" + c.toString(16).padStart(2, "0");
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      if (ESCAPES[c] !== undefined) out += ESCAPES[c];
      else if (c < 0x20 || c === 0x7f) out += hex(c);
      else out += String.fromCharCode(c);
      continue;
    }
    const cp = decodeRune(b, i);
    if (cp < 0) {
      out += hex(c);
      i++;
      continue;
    }
    i += cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    const ch = String.fromCodePoint(cp);
    if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x10000) out += "\\u" + cp.toString(16).padStart(4, "0");
    else out += "\\U" + cp.toString(16).padStart(8, "0");
  }
  return out + '"';
}

/** Decodes the UTF-8 sequence at b[i] (a lead byte >= 0x80) like Go's utf8.DecodeRune; -1 when invalid. */
function decodeRune(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? ((c & 0x1f) << 6) | (b[i + 1] & 0x3f) : -1;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2)) return -1;
    return ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return -1;
    return ((c & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
  }
  return -1;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go's sdk.Config.Duration with unit seconds, in ms: a number of seconds,
 * or a duration string such as "30s" or "1m30s".
 */
function durationMs(conf: Config, key: string, def: number): number {
  const v = conf.get(key);
  if (v === undefined || v === null) return def;
  if (typeof v === "bigint" || typeof v === "number") return Number(v) * 1000;
  if (typeof v === "string") {
    const str = v.trim();
    const m = /^([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(str);
    if (m) {
      let total = 0;
      for (const p of m[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(p[1]) * DURATION_UNITS[p[2]];
      return m[1] === "-" ? -total : total;
    }
    if (str === "0") return 0;
    const f = Number(str);
    if (str !== "" && Number.isFinite(f)) return f * 1000;
  }
  throw new WindowConfigError(`config ${key}: want a duration such as 30s, got ${valueKind(v)} ${JSON.stringify(valueText(v))}`);
}

