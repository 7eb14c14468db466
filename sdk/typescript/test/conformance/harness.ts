// The node side of the Attach conformance suite (sdk/conformance/README.md):
// a real grpc-js server on 127.0.0.1:0 that plays a case's steps against a
// component started as a subprocess with the managed-process environment.
//
// The harness decodes and encodes frames with the generated ts-proto code,
// not with the SDK's hand-written codec, so that the two check each other.

import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  AttachRequest,
  AttachResponse,
  AttachServiceService,
  LogLevel,
  TaskContext,
} from "../../src/gen/gale/v1/attach";
import type { Value as ProtoValue } from "../../src/gen/gale/v1/value";
import type { Tuple as ProtoTuple } from "../../src/gen/gale/v1/tuple";

/** Where the shared suite lives: sdk/conformance, from dist/test/conformance. */
export const SUITE_DIR = path.resolve(__dirname, "../../../../conformance");
/** The compiled conformance components. */
const COMPONENTS: Record<string, string> = {
  bolt: path.join(__dirname, "conf-bolt.js"),
  spout: path.join(__dirname, "conf-spout.js"),
};

export const TOKEN = "conformance-token";
const EXPECT_MS = 5000;

// deno-lint-ignore no-explicit-any
type Json = any;

export interface Case {
  name: string;
  description?: string;
  component: "bolt" | "spout";
  welcome?: Record<string, Json>;
  steps: Json[];
}

export function loadCases(): Case[] {
  const dir = path.join(SUITE_DIR, "cases");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Case);
}

/** A JSON value of a case as a gale.v1.Value (README "Values"). */
export function jsonToValue(v: Json): ProtoValue {
  if (v === null) return { kind: undefined };
  if (typeof v === "string") return { kind: { $case: "stringValue", value: v } };
  if (typeof v === "boolean") return { kind: { $case: "boolValue", value: v } };
  if (typeof v === "number") {
    return Number.isInteger(v)
      ? { kind: { $case: "intValue", value: BigInt(v) } }
      : { kind: { $case: "doubleValue", value: v } };
  }
  if (typeof v === "object" && "double" in v) return { kind: { $case: "doubleValue", value: Number(v.double) } };
  if (typeof v === "object" && "bytes" in v) return { kind: { $case: "bytesValue", value: Buffer.from(v.bytes, "base64") } };
  throw new Error(`case value ${JSON.stringify(v)} has no Value form`);
}

/** The AttachResponse of a step's "send" form. */
export function responseOf(send: Json): AttachResponse {
  const [kind] = Object.keys(send);
  const body = send[kind];
  switch (kind) {
    case "inputs":
      return {
        frame: {
          $case: "inputs",
          value: {
            tuples: (body as Json[]).map(
              (t): ProtoTuple => ({
                id: BigInt(t.id),
                stream: t.stream ?? "",
                sourceTask: t.source_task ?? 0,
                destTask: 0,
                values: (t.values ?? []).map(jsonToValue),
                roots: [],
                edges: [],
              }),
            ),
          },
        },
      };
    case "next":
      return { frame: { $case: "next", value: { max: body.max ?? 0 } } };
    case "spout_acks":
      return {
        frame: {
          $case: "spoutAcks",
          value: { acked: (body.acked ?? []).map(BigInt), failed: (body.failed ?? []).map(BigInt) },
        },
      };
    case "activate":
      return { frame: { $case: "activate", value: {} } };
    case "deactivate":
      return { frame: { $case: "deactivate", value: {} } };
    case "end_of_input":
      return { frame: { $case: "endOfInput", value: {} } };
    case "heartbeat":
      return { frame: { $case: "heartbeat", value: { busyMillis: 0, busyIn: "" } } };
    case "empty":
      return { frame: undefined };
    default:
      throw new Error(`unknown send form ${JSON.stringify(kind)}`);
  }
}

/** One flattened event of the process's frames (README "Events"). */
export type Event =
  | { emit: { stream: string; values: Json[]; anchors: number[]; message_id: number; direct_task: number } }
  | { ack: number }
  | { fail: number }
  | { reset_timeout: number }
  | { log: { level: string; message: string } }
  | { error: { message: string } }
  | { next_done: { end_of_input: boolean } }
  | { finished: Record<string, never> };

function valueToJson(v: ProtoValue): Json {
  const k = v.kind;
  if (k === undefined) return null;
  switch (k.$case) {
    case "stringValue":
      return k.value;
    case "intValue":
      return { int: String(k.value) };
    case "doubleValue":
      return { double: k.value };
    case "boolValue":
      return k.value;
    case "bytesValue":
      return { bytes: Buffer.from(k.value).toString("base64") };
  }
}

/** The events of one request frame; heartbeats have none. */
export function eventsOf(req: AttachRequest): Event[] {
  const f = req.frame;
  if (f === undefined) throw new Error("the process sent an AttachRequest with no frame set");
  switch (f.$case) {
    case "emits":
      return f.value.emits.map((e) => ({
        emit: {
          stream: e.stream || "default",
          values: e.values.map(valueToJson),
          anchors: e.anchors.map(Number),
          message_id: Number(e.messageId),
          direct_task: e.directTask,
        },
      }));
    case "acks":
      // As a node reads the frame: timeout resets first.
      return [
        ...f.value.resetTimeout.map((id) => ({ reset_timeout: Number(id) })),
        ...f.value.acked.map((id) => ({ ack: Number(id) })),
        ...f.value.failed.map((id) => ({ fail: Number(id) })),
      ];
    case "log": {
      const lv = f.value.level;
      const level =
        lv === LogLevel.LOG_LEVEL_DEBUG ? "debug" : lv === LogLevel.LOG_LEVEL_WARN ? "warn" : lv === LogLevel.LOG_LEVEL_ERROR ? "error" : "info";
      return [{ log: { level, message: f.value.message } }];
    }
    case "error":
      return [{ error: { message: f.value.message } }];
    case "nextDone":
      return [{ next_done: { end_of_input: f.value.endOfInput } }];
    case "finished":
      return [{ finished: {} }];
    case "heartbeat":
      return [];
    case "hello":
      throw new Error("the process sent a second hello");
  }
}

/** Whether an expected value (case JSON) equals an actual one (valueToJson form). */
function valueMatches(want: Json, got: Json): boolean {
  if (want === null) return got === null;
  if (typeof want === "string" || typeof want === "boolean") return got === want;
  if (typeof want === "number") {
    if (Number.isInteger(want)) return typeof got === "object" && got !== null && "int" in got && got.int === String(want);
    return typeof got === "object" && got !== null && "double" in got && got.double === want;
  }
  if ("double" in want) return typeof got === "object" && got !== null && "double" in got && got.double === Number(want.double);
  if ("bytes" in want) return typeof got === "object" && got !== null && "bytes" in got && got.bytes === want.bytes;
  return false;
}

function sameSet(a: number[], b: number[]): boolean {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Why one event does not match one expectation, or undefined. */
function mismatch(want: Json, got: Event): string | undefined {
  const [kind] = Object.keys(want);
  if (!(kind in got)) return `want ${kind}`;
  const w = want[kind];
  const g = (got as Json)[kind];
  switch (kind) {
    case "emit": {
      const stream = w.stream || "default";
      if (g.stream !== stream) return `stream ${g.stream}, want ${stream}`;
      const values: Json[] = w.values ?? [];
      if (g.values.length !== values.length || !values.every((v, i) => valueMatches(v, g.values[i]))) {
        return `values ${JSON.stringify(g.values)}, want ${JSON.stringify(values)}`;
      }
      if (!sameSet(g.anchors, w.anchors ?? [])) return `anchors ${JSON.stringify(g.anchors)}, want ${JSON.stringify(w.anchors ?? [])}`;
      if (g.message_id !== (w.message_id ?? 0)) return `message_id ${g.message_id}, want ${w.message_id ?? 0}`;
      if (g.direct_task !== (w.direct_task ?? 0)) return `direct_task ${g.direct_task}, want ${w.direct_task ?? 0}`;
      return undefined;
    }
    case "log":
    case "error": {
      if (kind === "log" && w.level !== undefined && g.level !== w.level) return `level ${g.level}, want ${w.level}`;
      const msg = String(g.message).toLowerCase();
      for (const c of w.contains ?? []) if (!msg.includes(String(c).toLowerCase())) return `message ${JSON.stringify(g.message)} lacks ${JSON.stringify(c)}`;
      return undefined;
    }
    case "next_done":
      return g.end_of_input === (w.end_of_input ?? false) ? undefined : `end_of_input ${g.end_of_input}, want ${w.end_of_input}`;
    case "finished":
      return undefined;
    default:
      return `unknown expected event ${kind}`;
  }
}

/** Acks, fails and timeout resets: the events that compare as a multiset. */
const isAckFail = (e: Json): boolean => "ack" in e || "fail" in e || "reset_timeout" in e;
const ackKind = (e: object): string => ("ack" in e ? "ack" : "fail" in e ? "fail" : "reset_timeout");

/**
 * Compares events with expectations in order, except that a run of
 * consecutive ack/fail expectations matches the same number of ack/fail
 * events as a multiset. Returns why they differ, or undefined.
 */
export function compareEvents(want: Json[], got: Event[]): string | undefined {
  const show = () => `\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`;
  if (got.length < want.length) return `got ${got.length} events, want ${want.length}${show()}`;
  for (let i = 0; i < want.length; ) {
    if (isAckFail(want[i])) {
      let j = i;
      while (j < want.length && isAckFail(want[j])) j++;
      const key = (e: Json) => `${ackKind(e)}:${idOf(e)}`;
      const a = want.slice(i, j).map(key).sort();
      const b = got.slice(i, j).map((e) => (isAckFail(e) ? key(e) : JSON.stringify(e))).sort();
      if (a.join() !== b.join()) return `events ${i}..${j - 1}: acks/fails ${JSON.stringify(b)}, want ${JSON.stringify(a)}${show()}`;
      i = j;
      continue;
    }
    const why = mismatch(want[i], got[i]);
    if (why !== undefined) return `event ${i}: ${why}${show()}`;
    i++;
  }
  return undefined;
}

/** An async queue of the requests of one stream. */
class Inbox {
  private items: AttachRequest[] = [];
  private waiter: (() => void) | undefined;
  ended = false;
  /** How the stream ended first: "half-close", "error", or "exit" (the process exited first). */
  how: string | undefined;

  push(r: AttachRequest): void {
    this.items.push(r);
    this.waiter?.();
  }

  end(how: string): void {
    this.how ??= how;
    this.ended = true;
    this.waiter?.();
  }

  /** The next request; "end" when the stream ended, "timeout" after ms. */
  async next(ms: number): Promise<AttachRequest | "end" | "timeout"> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = this.items.shift();
      if (r !== undefined) return r;
      if (this.ended) return "end";
      const left = deadline - Date.now();
      if (left <= 0) return "timeout";
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }
}

/** Merges the case's welcome over the base of its kind, key by key. */
export function welcomeOf(c: Case): TaskContext {
  const base = JSON.parse(fs.readFileSync(path.join(SUITE_DIR, "welcome.json"), "utf8"))[c.component];
  return TaskContext.fromJSON({ ...base, ...(c.welcome ?? {}) });
}

export interface ComponentCommand {
  /** argv of the component process for a case kind. */
  argv(kind: "bolt" | "spout"): string[];
  /** Extra environment for the process. */
  env?: Record<string, string>;
}

export const DEFAULT_COMMAND: ComponentCommand = {
  argv: (kind) => [process.execPath, COMPONENTS[kind]],
};

/**
 * Runs one case; resolves when it passes and rejects with what went wrong.
 * `compare` may replace the event comparison (the relaxed ordering test).
 */
export async function runCase(
  c: Case,
  cmd: ComponentCommand = DEFAULT_COMMAND,
  compare: (want: Json[], got: Event[]) => string | undefined = byOrderingRule,
): Promise<void> {
  const welcome = welcomeOf(c);
  const hb = welcome.heartbeatMillis || 1000;
  const server = new grpc.Server();
  let stream: grpc.ServerDuplexStream<AttachRequest, AttachResponse> | undefined;
  const inbox = new Inbox();
  let connected: () => void = () => {};
  const whenConnected = new Promise<void>((r) => (connected = r));
  server.addService(AttachServiceService, {
    attach: (call: grpc.ServerDuplexStream<AttachRequest, AttachResponse>) => {
      if (stream !== undefined) {
        call.emit("error", { code: grpc.status.ALREADY_EXISTS, details: "one stream per case" });
        return;
      }
      stream = call;
      call.on("data", (r: AttachRequest) => inbox.push(r));
      call.on("end", () => inbox.end("half-close"));
      call.on("error", (e) => inbox.end(`error (${e.message})`));
      connected();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const [prog, ...args] = cmd.argv(c.component);
  const child: ChildProcess = spawn(prog, args, {
    env: {
      ...process.env,
      ...cmd.env,
      GALE_ATTACH_ADDR: `127.0.0.1:${port}`,
      GALE_TOPOLOGY: "conformance",
      GALE_COMPONENT: welcome.component,
      GALE_TASK_ID: String(welcome.taskId),
      GALE_TOKEN: TOKEN,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    // "close", not "exit": the process's last output (its cleanup line)
    // may still be in the pipes when it exits.
    child.on("close", (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      inbox.end("exit"); // a stream the node ended first sees no half-close
      resolve(exitCode);
    }),
  );
  const fail = (msg: string): never => {
    throw new Error(`${c.name}: ${msg}${output ? `\n--- component output ---\n${output}` : ""}`);
  };
  /** Waits for the process to exit within ms; undefined on timeout. */
  const exitWithin = async (ms: number): Promise<number | null | undefined> => {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([exited, new Promise<undefined>((res) => (t = setTimeout(() => res(undefined), ms)))]);
    clearTimeout(t);
    return r;
  };

  let endedByCase = false;
  try {
    await Promise.race([whenConnected, exited.then(() => fail("the process exited before opening the stream"))]);
    const hello = await inbox.next(EXPECT_MS);
    if (hello === "end" || hello === "timeout") fail(`no hello (${hello})`);
    const h = (hello as AttachRequest).frame;
    if (h?.$case !== "hello") fail(`first frame is ${h?.$case ?? "empty"}, want hello`);
    const hv = (h as { $case: "hello"; value: { topology: string; component: string; taskId: number; token: string; sdk: string; pid: number } }).value;
    if (hv.topology !== "conformance" || hv.component !== welcome.component || hv.taskId !== welcome.taskId || hv.token !== TOKEN) {
      fail(`hello ${JSON.stringify(hv)} does not name conformance/${welcome.component}/${welcome.taskId} with the token`);
    }
    if (!hv.sdk || !(hv.pid > 0)) fail(`hello ${JSON.stringify(hv)} lacks sdk or pid`);
    stream!.write({ frame: { $case: "welcome", value: welcome } });

    let pending: Event[] = [];
    for (const [n, step] of c.steps.entries()) {
      const [kind] = Object.keys(step);
      const where = `step ${n} (${kind})`;
      switch (kind) {
        case "send":
          stream!.write(responseOf(step.send));
          break;
        case "expect":
        case "expect_live": {
          // expect_live: the component must also stay live meanwhile: no
          // gap between its frames (heartbeats count) longer than 3
          // heartbeat intervals, after which a node gives it up; and, like
          // a node, the harness sends a heartbeat every interval.
          const live = kind === "expect_live";
          const want: Json[] = live ? step.expect_live : step.expect;
          const deadline = Date.now() + EXPECT_MS;
          let last = Date.now();
          let nextBeat = last;
          while (pending.length < want.length) {
            const now = Date.now();
            if (now >= deadline) fail(`${where}: timeout after ${JSON.stringify(pending)}, want ${JSON.stringify(want)}`);
            let wait = deadline - now;
            if (live) {
              if (now >= nextBeat) {
                stream!.write({ frame: { $case: "heartbeat", value: { busyMillis: 0, busyIn: "" } } });
                nextBeat = now + hb;
              }
              if (now - last >= 3 * hb) fail(`${where}: no frame for 3 x heartbeat = ${3 * hb} ms with events ${JSON.stringify(pending)} so far`);
              wait = Math.max(0, Math.min(deadline, nextBeat, last + 3 * hb) - now);
            }
            const r = await inbox.next(wait);
            if (r === "timeout") continue;
            if (r === "end") fail(`${where}: end after ${JSON.stringify(pending)}, want ${JSON.stringify(want)}`);
            if (live && Date.now() - last > 3 * hb) fail(`${where}: no frame for 3 x heartbeat = ${3 * hb} ms with events ${JSON.stringify(pending)} so far`);
            last = Date.now();
            pending.push(...eventsOf(r as AttachRequest));
          }
          const why = compare(want, pending.slice(0, want.length));
          if (why !== undefined) fail(`${where}: ${why}`);
          pending = pending.slice(want.length);
          break;
        }
        case "expect_heartbeat": {
          if (pending.length > 0) fail(`${where}: unexpected events ${JSON.stringify(pending)}`);
          const r = await inbox.next(3 * hb);
          if (r === "end" || r === "timeout") fail(`${where}: no heartbeat within ${3 * hb} ms (${r})`);
          const f = (r as AttachRequest).frame;
          if (f?.$case !== "heartbeat") fail(`${where}: got ${f?.$case}, want heartbeat`);
          else if (f.value.busyMillis !== 0) fail(`${where}: an idle process's heartbeat says busyMillis ${f.value.busyMillis} (busyIn ${f.value.busyIn})`);
          break;
        }
        case "expect_busy": {
          // Sending heartbeats as a node does, wait for a heartbeat whose
          // busy_millis is at least min_ms and whose busy_in is the hook;
          // any other frame before it fails the case.
          if (pending.length > 0) fail(`${where}: unexpected events ${JSON.stringify(pending)}`);
          const { hook, min_ms: minMs } = step.expect_busy as { hook: string; min_ms: number };
          const limit = minMs + 5 * hb + 2000;
          const deadline = Date.now() + limit;
          let nextBeat = Date.now();
          let most = 0;
          for (;;) {
            const now = Date.now();
            if (now >= deadline) fail(`${where}: no heartbeat with busyMillis >= ${minMs} within ${limit} ms (the most was ${most})`);
            if (now >= nextBeat) {
              stream!.write({ frame: { $case: "heartbeat", value: { busyMillis: 0, busyIn: "" } } });
              nextBeat = now + hb;
            }
            const r = await inbox.next(Math.max(0, Math.min(deadline, nextBeat) - now));
            if (r === "timeout") continue;
            if (r === "end") fail(`${where}: the process ended its stream while ${hook} ran`);
            const f = (r as AttachRequest).frame;
            if (f?.$case !== "heartbeat") {
              fail(`${where}: want only heartbeats while ${hook} runs, got ${JSON.stringify(eventsOf(r as AttachRequest))}`);
            } else {
              if (f.value.busyMillis > 0 && f.value.busyIn !== hook) fail(`${where}: a heartbeat says busyIn ${f.value.busyIn}, want ${hook}`);
              if (f.value.busyMillis >= minMs) break;
              most = Math.max(most, f.value.busyMillis);
            }
          }
          break;
        }
        case "silence_ms": {
          if (pending.length > 0) fail(`${where}: unexpected events ${JSON.stringify(pending)}`);
          const deadline = Date.now() + step.silence_ms;
          for (;;) {
            const left = deadline - Date.now();
            if (left <= 0) break;
            const r = await inbox.next(left);
            if (r === "timeout") break;
            if (r === "end") fail(`${where}: the process ended its stream`);
            const evs = eventsOf(r as AttachRequest);
            if ((r as AttachRequest).frame?.$case !== "heartbeat") fail(`${where}: got ${JSON.stringify(evs)} during silence`);
          }
          break;
        }
        case "close":
          endedByCase = true;
          stream!.end();
          break;
        case "expect_end": {
          endedByCase = true;
          if (step.expect_end === "ok") {
            const deadline = Date.now() + EXPECT_MS;
            for (;;) {
              const r = await inbox.next(deadline - Date.now());
              if (r === "end") break;
              if (r === "timeout") {
                if (exitCode === undefined) fail(`${where}: the process did not end within ${EXPECT_MS} ms`);
                break;
              }
              if ((r as AttachRequest).frame?.$case !== "heartbeat") fail(`${where}: got ${(r as AttachRequest).frame?.$case} while ending`);
            }
            const code = await exitWithin(EXPECT_MS);
            if (code !== 0) fail(`${where}: the process exited with ${code === undefined ? "nothing (still running)" : code}, want 0`);
          } else {
            const code = await exitWithin(5 * hb + 2000);
            if (code === undefined) fail(`${where}: the process did not end within ${5 * hb + 2000} ms`);
            if (code === 0) fail(`${where}: the process exited 0, want an error exit`);
          }
          break;
        }
        case "expect_output": {
          const deadline = Date.now() + EXPECT_MS;
          while (!output.includes(step.expect_output)) {
            if (Date.now() >= deadline) fail(`${where}: no ${JSON.stringify(step.expect_output)} on the process's stderr within ${EXPECT_MS} ms`);
            await new Promise((r) => setTimeout(r, 5));
          }
          break;
        }
        case "signal":
          if (step.signal !== "SIGTERM" && step.signal !== "SIGINT") fail(`${where}: unknown signal ${step.signal}`);
          child.kill(step.signal);
          break;
        case "expect_stop": {
          // A graceful stop: a half-close with nothing but heartbeats
          // first; then the node ends the stream and the process exits
          // with the code given.
          endedByCase = true;
          if (pending.length > 0) fail(`${where}: unexpected events ${JSON.stringify(pending)}`);
          const deadline = Date.now() + EXPECT_MS;
          for (;;) {
            const r = await inbox.next(deadline - Date.now());
            if (r === "end") break;
            if (r === "timeout") fail(`${where}: the process did not half-close its stream within ${EXPECT_MS} ms`);
            if ((r as AttachRequest).frame?.$case !== "heartbeat") fail(`${where}: got ${JSON.stringify(eventsOf(r as AttachRequest))} before the half-close`);
          }
          if (inbox.how !== "half-close") fail(`${where}: the stream ended by ${inbox.how}, want a half-close`);
          const hook = c.component === "bolt" ? "cleanup" : "close";
          const early = await exitWithin(300); // it waits for the node to end the stream
          if (early !== undefined) fail(`${where}: the process exited with ${early} before the node ended the stream`);
          if (output.includes(`conformance: ${hook}`)) fail(`${where}: the ${hook} hook ran before the node ended the stream`);
          stream!.end();
          const code = await exitWithin(EXPECT_MS);
          if (code !== step.expect_stop.exit) fail(`${where}: the process exited with ${code === undefined ? "nothing (still running)" : code}, want ${step.expect_stop.exit}`);
          if (!output.includes(`conformance: ${hook}`)) fail(`${where}: the process exited without running its ${hook} hook`);
          break;
        }
        default:
          fail(`${where}: unknown step`);
      }
    }
    if (pending.length > 0) fail(`unexpected events at the end: ${JSON.stringify(pending)}`);
    if (!endedByCase) {
      stream!.end();
      const code = await exitWithin(EXPECT_MS);
      if (code !== 0) fail(`after the node ended the stream the process exited with ${code === undefined ? "nothing (still running)" : code}, want 0`);
    }
  } finally {
    if (exitCode === undefined) child.kill("SIGKILL");
    server.forceShutdown();
  }
}

const idOf = (e: object): number => (e as Record<string, number>)[ackKind(e)];

/**
 * The suite's comparison (sdk/conformance/README.md): every event but acks
 * and fails in order; the same acks and fails, each after every emit
 * anchored to its input and before the next_done/finished listed after it.
 */
export function byOrderingRule(want: Json[], got: Event[]): string | undefined {
  const show = `\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`;
  const rest = compareEvents(want.filter((e) => !isAckFail(e)), got.filter((e) => !isAckFail(e)));
  if (rest !== undefined) return `without acks: ${rest}`;
  const key = (e: object) => `${ackKind(e)}:${idOf(e)}`;
  const a = want.filter(isAckFail).map(key).sort().join();
  const b = got.filter(isAckFail).map(key).sort().join();
  if (a !== b) return `acks/fails ${b}, want ${a}${show}`;
  for (let p = 0; p < got.length; p++) {
    if (!isAckFail(got[p]) || "reset_timeout" in got[p]) continue;
    const id = idOf(got[p]);
    for (let q = p + 1; q < got.length; q++) {
      const e = got[q];
      if ("emit" in e && e.emit.anchors.includes(id)) return `input ${id} settled at event ${p}, before an emit anchored to it (event ${q})${show}`;
      if ("reset_timeout" in e && idOf(e) === id) return `input ${id} settled at event ${p}, before a reset of its timeout (event ${q})${show}`;
    }
  }
  // An ack or fail listed before a next_done or finished comes before it.
  const barrier = (e: object) => "next_done" in e || "finished" in e;
  for (let i = 0; i < want.length; i++) {
    if (!isAckFail(want[i])) continue;
    const j = want.findIndex((e, k) => k > i && barrier(e));
    if (j < 0) continue;
    const allowed = want.slice(0, j).filter((e) => !isAckFail(e)).length;
    const p = got.findIndex((e) => isAckFail(e) && key(e) === key(want[i]));
    if (got.slice(0, p).filter((e) => !isAckFail(e)).length > allowed) return `${key(want[i])} came after the next_done/finished it must precede${show}`;
  }
  return undefined;
}

