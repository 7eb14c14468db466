// The sessions example's Sessionize bolt in TypeScript, on the SDK's
// SessionBolt (src/window.ts). Same contract as the Go sessions.Sessionize
// (../README.md), so the output file is byte-for-byte the Go topology's:
//
// - session windows keyed by "visitor" on "ts", configured from
//   sessions.gap_ms (default 30 min), sessions.out_of_orderness_ms
//   (default 10 s), sessions.allowed_lateness_ms (0) and
//   sessions.timeout_check (off); acks on fire;
// - each session is emitted as (visitor, start, end, events), anchored to
//   its events; late events go to stream "late" and are counted;
// - at end of input every task merges its sessions into the file at
//   sessions.output as visitor<TAB>start<TAB>end<TAB>events lines sorted by
//   visitor (UTF-8 bytes) then start, under the Go bolts' merge protocol
//   (examples/internal/mergefile, implemented in mergefile.ts: it needs
//   util-linux flock(1)), or logs the count when that key is unset.
//
//   node examples/sessions/typescript/dist/sessionize.js   (run by a Gale node)

import {
  compareUtf8,
  run,
  SessionBolt,
  valueKind,
  valueText,
  type Config,
  type SessionConfig,
  type TaskContext,
  type TimeoutCheck,
  type Value,
  type Window,
  type WindowOutput,
} from "@gale-stream/gale";
import { merge } from "./mergefile";

export const KEY_OUTPUT = "sessions.output";
export const KEY_GAP_MS = "sessions.gap_ms";
export const KEY_OUT_OF_ORDERNESS = "sessions.out_of_orderness_ms";
export const KEY_LATENESS = "sessions.allowed_lateness_ms";
export const KEY_TIMEOUT_CHECK = "sessions.timeout_check";
export const DEFAULT_GAP_MS = 30n * 60n * 1000n;
export const DEFAULT_OUT_OF_ORDERNESS = 10_000n;
const CLASS = "Sessionize";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** One line of the output. */
export interface Session {
  visitor: string;
  start: bigint;
  end: bigint;
  events: bigint;
}

/** The session as an output line, with its newline. */
export function sessionLine(s: Session): string {
  return `${s.visitor}\t${s.start}\t${s.end}\t${s.events}\n`;
}

/** Orders sessions by visitor (UTF-8 byte order, as Go's strings.Compare) then start. */
export function compareSessions(a: Session, b: Session): number {
  const c = compareUtf8(a.visitor, b.visitor);
  if (c !== 0) return c;
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/** The output of the current run cannot be merged. */
export class CorruptOutputError extends Error {
  constructor(message: string) {
    super(message + ": corrupt sessions output");
    this.name = "CorruptOutputError";
  }
}

/** Sessions of visitors, written to sessions.output at end of input. */
export class Sessionize extends SessionBolt {
  private readonly state: { output: string; sessions: Session[]; late: number };

  constructor() {
    const state = { output: "", sessions: [] as Session[], late: 0 };
    const cfg: SessionConfig = { gapMs: DEFAULT_GAP_MS, keyField: "visitor", timeField: "ts" };
    super(
      cfg,
      (w: Window, events, out: WindowOutput) => {
        const n = BigInt(events.length);
        state.sessions.push({ visitor: w.key, start: w.start, end: w.end, events: n });
        out.emit([w.key, w.start, w.end, n]);
      },
      {
        onPrepare: (context, c) => {
          state.output = configure(context, c);
        },
        onLate: () => {
          state.late++;
        },
      },
    );
    this.state = state;
  }

  /** The sessions this task fired so far. */
  sessions(): readonly Session[] {
    return this.state.sessions;
  }

  /** Fires the open sessions (SessionBolt.finish), then merges this task's sessions into the output. */
  override async finish(): Promise<void> {
    super.finish();
    const { output, sessions, late } = this.state;
    const ctx = this.context;
    if (late > 0) {
      this.log.warn(`late events are in no session late=${late} hint="raise ${KEY_OUT_OF_ORDERNESS} or ${KEY_LATENESS}"`);
    }
    sessions.sort(compareSessions);
    if (output === "") {
      this.log.info(`sessions (no ${KEY_OUTPUT} set, nothing written) sessions=${sessions.length}`);
      return;
    }
    try {
      await mergeOutput(output, ctx.topologyId, Math.max(1, ctx.tasks.length), sessions);
    } catch (e) {
      throw new Error(`${CLASS}: task ${ctx.taskId}: write sessions (${KEY_OUTPUT}): ${(e as Error).message}`);
    }
    this.log.info(`sessions merged output=${output} sessions=${sessions.length}`);
  }
}

/** Reads the sessions.* keys into the window config; returns sessions.output. Throws naming a bad key. */
function configure(context: TaskContext, cfg: SessionConfig): string {
  const conf = context.config;
  const ms = (key: string, def: bigint): bigint => {
    const v = configInt(conf, key, def);
    if (v < 0n) throw new Error(`${CLASS}: config ${key}: must be >= 0 ms, got ${v}`);
    return v;
  };
  cfg.gapMs = ms(KEY_GAP_MS, DEFAULT_GAP_MS);
  cfg.outOfOrdernessMs = ms(KEY_OUT_OF_ORDERNESS, DEFAULT_OUT_OF_ORDERNESS);
  cfg.allowedLatenessMs = ms(KEY_LATENESS, 0n);
  const check = configString(conf, KEY_TIMEOUT_CHECK, "off");
  if (check !== "error" && check !== "warn" && check !== "off") {
    throw new Error(`${CLASS}: config ${KEY_TIMEOUT_CHECK}: want error, warn or off, got ${JSON.stringify(check)}`);
  }
  cfg.timeoutCheck = check as TimeoutCheck;
  return configString(conf, KEY_OUTPUT, "");
}

/** Go's sdk.Config.Int: an int, an integral double or a decimal string; def when unset. */
function configInt(conf: Config, key: string, def: bigint): bigint {
  const v = conf.get(key);
  if (v === undefined || v === null) return def;
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 2 ** 63) return BigInt(v);
  if (typeof v === "string" && /^[+-]?[0-9]+$/.test(v)) {
    const n = BigInt(v);
    if (n >= INT64_MIN && n <= INT64_MAX) return n;
  }
  throw new Error(`${CLASS}: config ${key}: want an integer, got ${valueKind(v)} ${JSON.stringify(valueText(v))}`);
}

/** Go's sdk.Config.String: the value's text; def when unset. */
function configString(conf: Config, key: string, def: string): string {
  const v = conf.get(key);
  if (v === undefined || v === null) return def;
  return valueText(v);
}

/** Merges one task's sorted sessions into the output file under the lock. */
export function mergeOutput(file: string, topologyId: string, tasks: number, sessions: readonly Session[]): Promise<void> {
  return merge(file, topologyId, tasks, (prev) => mergeSessions(file, prev, sessions));
}

/** Parses an output line (without its newline). */
export function parseLine(l: string): Session {
  const f = l.split("\t");
  if (f.length !== 4 || f[0] === "") throw new Error(`${JSON.stringify(l)} is not visitor<TAB>start<TAB>end<TAB>events`);
  const n = f.slice(1).map((p) => {
    const v = /^[+-]?[0-9]+$/.test(p) ? BigInt(p) : undefined;
    if (v === undefined || v < INT64_MIN || v > INT64_MAX) throw new Error(`${JSON.stringify(l)}: bad number ${JSON.stringify(p)}`);
    return v;
  });
  return { visitor: f[0], start: n[0], end: n[1], events: n[2] };
}

/** The merge of prev's sorted lines (first on ties; undefined: none) and mine (sorted), as file text. */
export function mergeSessions(name: string, prev: string | undefined, mine: readonly Session[]): string {
  const theirs: Session[] = [];
  if (prev !== undefined && prev !== "") {
    const lines = (prev.endsWith("\n") ? prev.slice(0, -1) : prev).split("\n");
    lines.forEach((l, i) => {
      let s: Session;
      try {
        s = parseLine(l);
      } catch (e) {
        throw new CorruptOutputError(`read ${name} line ${i + 1}: ${(e as Error).message}`);
      }
      if (theirs.length > 0 && compareSessions(theirs[theirs.length - 1], s) > 0) {
        throw new CorruptOutputError(`read ${name} line ${i + 1}: not sorted by visitor, start`);
      }
      theirs.push(s);
    });
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < theirs.length || j < mine.length) {
    if (i < theirs.length && (j === mine.length || compareSessions(theirs[i], mine[j]) <= 0)) out.push(sessionLine(theirs[i++]));
    else out.push(sessionLine(mine[j++]));
  }
  return out.join("");
}

if (require.main === module) run(new Sessionize());
