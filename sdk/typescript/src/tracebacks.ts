// Stack traces of a bolt's execute, printed without flooding stderr.
//
// A bolt whose execute throws on every tuple would print a stack trace per
// tuple: thousands of lines a second on the process's stderr (which the
// node copies into its log) for one bug. The first trace of each kind of
// failure (the error's name and the line that threw) is printed in full;
// later ones of the same kind are counted, and a one-line count is printed
// at most every `summaryEveryMs`, when one occurs. The node still records
// every failure as a task error (`gale status` counts them).

import { basename, resolve, sep } from "node:path";

/** Kinds of failure remembered; beyond them, new kinds are counted together. */
export const MAX_KINDS = 100;

export class Tracebacks {
  private readonly kinds = new Map<string, { unprinted: number; since: number }>();

  constructor(
    public who: string,
    private readonly summaryEveryMs = 10_000,
    private readonly clock: () => number = () => performance.now(),
    private readonly write: (s: string) => void = (s) => void process.stderr.write(s),
  ) {}

  /** Prints e's trace in full the first time its kind fails, then counts. */
  print(e: unknown, what: string): void {
    const now = this.clock();
    let kind = kindOf(e);
    let seen = this.kinds.get(kind);
    if (seen === undefined && this.kinds.size < MAX_KINDS) {
      this.kinds.set(kind, { unprinted: 0, since: now });
      const trace = e instanceof Error && e.stack ? e.stack : String(e);
      this.write(`gale: ${this.who}: ${what}:\n${trace}\n`);
      return;
    }
    if (seen === undefined) {
      kind = OTHER;
      seen = this.kinds.get(kind) ?? { unprinted: 0, since: now };
      this.kinds.set(kind, seen);
    }
    seen.unprinted++;
    if (now - seen.since >= this.summaryEveryMs) this.count(kind, seen, now);
  }

  /** Prints the counts not printed yet (when the task stops). */
  flush(): void {
    const now = this.clock();
    for (const [kind, seen] of this.kinds) if (seen.unprinted > 0) this.count(kind, seen, now);
  }

  private count(kind: string, seen: { unprinted: number; since: number }, now: number): void {
    const secs = Math.round((now - seen.since) / 1000);
    const above = kind === OTHER ? "" : "the first trace is above; ";
    this.write(`gale: ${this.who}: ${seen.unprinted} more ${kind} in ${secs}s (${above}each failure is a task error in gale status)\n`);
    seen.unprinted = 0;
    seen.since = now;
  }
}

// Failures of kinds beyond MAX_KINDS, counted together.
const OTHER = "other errors at various places";

// kindOf names a failure by the error's name and the user's frame that
// threw it: the same bug thrown again is the same kind.
function kindOf(e: unknown): string {
  if (!(e instanceof Error)) return `${typeof e} thrown`;
  return `${e.name} ${userFrame(e) ?? "at ?"}`;
}

// The SDK's own folders: frames in them are not where a user's code
// failed. Its compiled code (dist/src, here) and, for frames mapped back
// by source maps (node --enable-source-maps, ts-node), its sources.
const SDK_DIRS = [__dirname + sep, resolve(__dirname, "..", "..", "src") + sep];

/**
 * The innermost frame of e's stack outside the SDK ("at Split.execute
 * (/app/split.js:12:9)"): the line that threw, or, for an error the SDK
 * threw in a call (an emit on an undeclared stream), the user's line that
 * made the call.
 */
export function userFrame(e: Error): string | undefined {
  const frames = (e.stack ?? "").split("\n").map((l) => l.trim()).filter((l) => l.startsWith("at "));
  return frames.find((f) => !SDK_DIRS.some((d) => f.includes(d))) ?? frames[0];
}

/**
 * describeError is an error's message for a task error: the error's name
 * and message, like a stack trace's first line ("TypeError: x is not a
 * function"); for one the SDK threw in a call (EmitError), its message and
 * the user's line that made the call.
 */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e.name === "EmitError") return e.message + where(e);
  return e.message ? `${e.name}: ${e.message}` : e.name;
}

/** " (at split.js:12)": the file's base name and line of userFrame(e), to end a message with; "" when it has none. */
export function where(e: unknown): string {
  if (!(e instanceof Error)) return "";
  const m = /\(?([^()\s]+):(\d+):\d+\)?$/.exec(userFrame(e) ?? "");
  return m ? ` (at ${basename(m[1])}:${m[2]})` : "";
}
