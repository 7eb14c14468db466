// The process side of the Attach protocol (sdk/ATTACH.md): one
// bidirectional gRPC stream runs one task.
//
// Incoming frames are queued and handled one at a time, in order; a hook
// that returns a promise holds the queue until it settles. Outgoing items
// go through the Outbox (one ordered queue, merged into frames) and are
// written at the flush points ATTACH.md names: after each handled frame
// (the end of an inputs batch, a next_done...) and on the heartbeat timer,
// at least every heartbeat_millis / 4.

import * as grpc from "@grpc/grpc-js";
import { AttachHello, AttachRequest, AttachServiceService, TaskContext as ProtoTaskContext } from "./gen/gale/v1/attach";
import { Bolt, Spout, type MaybePromise } from "./component";
import { BoltCollector, SpoutCollector, errorMessage } from "./collector";
import { TaskContext, type Logger, type LogLevel } from "./context";
import { Outbox, LOG_LEVELS, type AckOrder } from "./outbox";
import { Reader, readTupleBatch, readTwoIdLists, type RawTuple } from "./wire";
import { Source, Tuple, TICK_SOURCE, TICK_STREAM, DEFAULT_STREAM } from "./tuple";
import { AttachError } from "./errors";
import { Tracebacks, describeError } from "./tracebacks";
import { callFailure, resolveCredentials, type TlsFiles } from "./tls";

/** The SDK's name and version, sent in hello. */
export const SDK_NAME = "gale-typescript/0.1.0";

/** How long the node may take to answer hello. */
const WELCOME_TIMEOUT_MS = 10_000;

/** How long the end of a task waits for a hook still running before cleanup. */
const CLOSE_WAIT_MS = 5_000;

/** How long a process giving up waits for the node to end the stream. */
const HANG_UP_GRACE_MS = 2_000;
/** The same signal again within this long is the first one delivered twice (see run). */
const DUPLICATE_SIGNAL_MS = 1_000;

/** Options of run and runTask; unset ones come from the GALE_* environment. */
export interface RunOptions {
  /** HOST:PORT of the node (GALE_ATTACH_ADDR). */
  addr?: string;
  /** Topology name (GALE_TOPOLOGY). */
  topology?: string;
  /** Component id (GALE_COMPONENT). */
  component?: string;
  /** Task id (GALE_TASK_ID); 0 asks for any free task (attached processes). */
  taskId?: number;
  /** Token presented in hello (GALE_TOKEN). */
  token?: string;
  /** Largest input batch wanted; 0 lets the node choose (GALE_MAX_BATCH). */
  maxBatch?: number;
  /** Ack ordering (GALE_ACK_ORDER): "batch" (default) or "strict"; see AckOrder. */
  ackOrder?: AckOrder;
  /** Where unset options are read from; process.env by default. */
  env?: Record<string, string | undefined>;
  /**
   * PEM files of mutual TLS to the node; unset, they come from GALE_TLS_CA,
   * GALE_TLS_CERT and GALE_TLS_KEY (a node with TLS sets them for the
   * processes it manages). Given, they replace the three variables as a
   * whole. Without either, the connection is plaintext.
   */
  tls?: TlsFiles;
  /** Channel credentials; they take precedence over tls and the GALE_TLS_* variables. */
  credentials?: grpc.ChannelCredentials;
}

// AttachError lives in errors.ts, which submit's TLS settings share; it is
// exported from here as before.
export { AttachError };

interface Settings {
  addr: string;
  topology: string;
  component: string;
  taskId: number;
  token: string;
  maxBatch: number;
  ackOrder: AckOrder;
  credentials: grpc.ChannelCredentials;
  /** The TLS files in use, for connection errors (undefined: no TLS from files). */
  tls: string | undefined;
}

function settings(o: RunOptions): Settings {
  const env = o.env ?? process.env;
  const need = (v: string | undefined, name: string, what: string): string => {
    if (v === undefined || v === "") {
      throw new AttachError(`${name} is not set: the ${what} (a managed process gets it from its node; an attached one needs it set or passed as an option)`);
    }
    return v;
  };
  const int = (v: string | undefined, name: string, def: number): number => {
    if (v === undefined || v === "") return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 2147483647) throw new AttachError(`${name}=${JSON.stringify(v)} is not a non-negative integer`);
    return n;
  };
  const ackOrder = o.ackOrder ?? ((env.GALE_ACK_ORDER || "batch") as AckOrder);
  if (ackOrder !== "strict" && ackOrder !== "batch") {
    throw new AttachError(`ack order ${JSON.stringify(ackOrder)} is not "strict" or "batch" (GALE_ACK_ORDER)`);
  }
  return {
    addr: o.addr ?? need(env.GALE_ATTACH_ADDR, "GALE_ATTACH_ADDR", "node address HOST:PORT"),
    topology: o.topology ?? need(env.GALE_TOPOLOGY, "GALE_TOPOLOGY", "topology name"),
    component: o.component ?? need(env.GALE_COMPONENT, "GALE_COMPONENT", "component id"),
    taskId: o.taskId ?? int(env.GALE_TASK_ID, "GALE_TASK_ID", 0),
    token: o.token ?? env.GALE_TOKEN ?? "",
    maxBatch: o.maxBatch ?? int(env.GALE_MAX_BATCH, "GALE_MAX_BATCH", 0),
    ackOrder,
    // Last: the TLS files are read and checked once the rest is known good.
    ...resolveCredentials({ credentials: o.credentials, tls: o.tls, env }),
  };
}

const identity = (b: Buffer): Buffer => b;

function isBolt(c: unknown): c is Bolt {
  return c instanceof Bolt || (typeof c === "object" && c !== null && typeof (c as Bolt).execute === "function");
}

function isSpout(c: unknown): c is Spout {
  return c instanceof Spout || (typeof c === "object" && c !== null && typeof (c as Spout).nextTuple === "function");
}

function isPromise(r: unknown): r is Promise<void> {
  return typeof r === "object" && r !== null && typeof (r as Promise<void>).then === "function";
}

/**
 * Runs a component as one Gale task and resolves when the node ends the
 * stream normally (after the component's cleanup/close). It rejects with an
 * AttachError when the task ends with an error: the node refused the hello,
 * the connection broke, the node went silent, or prepare/open threw. It
 * never exits the process; see run for that.
 */
export function runTask(component: Bolt | Spout, options: RunOptions = {}): Promise<void> {
  let s: Settings;
  try {
    s = settings(options);
  } catch (e) {
    return Promise.reject(e);
  }
  return new Session(component, s).start();
}

/**
 * Runs a component as one Gale task, the main of a component process:
 * exits 0 when the node ends the stream normally, and otherwise prints the
 * error to stderr and exits 1. SIGTERM or SIGINT stop it gracefully: the
 * running hook finishes and no other starts, its acks and emits are sent,
 * the stream is half-closed and, once the node has ended it, the cleanup
 * hook runs; the process exits 0 after SIGTERM, 130 after SIGINT (the node
 * fails and replays the inputs the task still held). A second signal ends
 * the process at once (the same signal within a second counts as the
 * first, delivered twice).
 */
export function run(component: Bolt | Spout, options: RunOptions = {}): void {
  const name = options.component ?? (options.env ?? process.env).GALE_COMPONENT ?? "component";
  let session: Session | undefined;
  let s: Settings;
  try {
    s = settings(options);
  } catch (e) {
    process.stderr.write(`gale: ${name}: ${errorMessage(e)}\n`);
    process.exit(1);
  }
  session = new Session(component, s);
  let exitCode = 0;
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (code: number) => (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      // The same signal within DUPLICATE_SIGNAL_MS is the first request
      // delivered twice (npm or a shell script forwarding it to a process
      // that got it too, systemd signalling the control group). A second
      // request ends the process at once, by the signal's default effect.
      if (signal === first.signal && Date.now() - first.at < DUPLICATE_SIGNAL_MS) return;
      process.removeListener("SIGINT", onInt).removeListener("SIGTERM", onTerm);
      process.kill(process.pid, signal);
      return;
    }
    first = { signal, at: Date.now() };
    exitCode = code;
    session?.stop();
  };
  const onInt = onSignal(130);
  const onTerm = onSignal(0);
  process.on("SIGINT", onInt).on("SIGTERM", onTerm);
  session.start().then(
    () => process.exit(exitCode),
    (e) => {
      const who = session?.context ? `${session.context.component} task ${session.context.taskId}` : name;
      process.stderr.write(`gale: ${who}: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}

/** One Attach stream: the protocol's state machine for one task. */
class Session {
  context: TaskContext | undefined;
  private readonly bolt: Bolt | undefined;
  private readonly spout: Spout | undefined;
  private readonly outbox: Outbox;
  private boltOut: BoltCollector | undefined;
  private spoutOut: SpoutCollector | undefined;
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private readonly queue: Buffer[] = [];
  private busy = false;
  // The promise of the hook that holds the queue, while busy.
  private current: Promise<void> | undefined;
  private done = false;
  /** Set while the process gives up: the error it will end with (see fatal). */
  private hangUpErr: AttachError | undefined;
  private hangUpTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Set once stop() half-closed the stream: nothing may be written after. */
  private halfClosed = false;
  private lastRecv = Date.now();
  private lastSent = Date.now();
  private lastTick = Date.now();
  // The component's call that returned a promise not yet settled, for the
  // heartbeats' busy_millis: its hook ("" when none) and when it began.
  private busyHook = "";
  private busySince = 0;
  private busyCalls = 0;
  private timer: NodeJS.Timeout | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private resolve!: () => void;
  private reject!: (e: Error) => void;
  // Sources by source task, then stream: built on first use from the welcome.
  private readonly sources = new Map<number, Map<string, Source | string>>();

  constructor(
    component: Bolt | Spout,
    private readonly s: Settings,
  ) {
    if (isBolt(component)) this.bolt = component;
    else if (isSpout(component)) this.spout = component;
    else throw new AttachError("run takes a Bolt (with execute) or a Spout (with nextTuple)");
    this.outbox = new Outbox(s.ackOrder);
  }

  // Execute's stack traces: one in full per kind of failure, then counts.
  private readonly tracebacks = new Tracebacks("");

  private get who(): string {
    return `${this.s.component} task ${this.context?.taskId ?? this.s.taskId}`;
  }

  start(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Send tuple frames as written (no per-message delay) and allow large
    // input batches: the node sends up to max_batch tuples per frame.
    this.client = new grpc.Client(this.s.addr, this.s.credentials, {
      "grpc.max_receive_message_length": 64 << 20,
      "grpc.max_send_message_length": 64 << 20,
    });
    const call = this.client.makeBidiStreamRequest(AttachServiceService.attach.path, identity, identity);
    this.call = call;
    call.on("data", (b: Buffer) => this.onData(b));
    call.on("status", (st: grpc.StatusObject) => {
      if (st.code === grpc.status.OK) this.end(undefined);
      else this.end(new AttachError(`the node ended the stream: ${grpc.status[st.code]}: ${st.details}`));
    });
    call.on("error", (e: grpc.ServiceError) => {
      const addr = this.s.addr;
      if (this.context === undefined) {
        this.end(new AttachError(`attach to ${addr} failed: ${callFailure(e, this.s.tls)}`));
      } else {
        this.end(new AttachError(`the node ended the stream: ${grpc.status[e.code] ?? e.code}: ${e.details || e.message}`));
      }
    });
    call.on("drain", () => call.resume());
    const hello = AttachHello.create({
      topology: this.s.topology,
      component: this.s.component,
      taskId: this.s.taskId,
      token: this.s.token,
      sdk: SDK_NAME,
      pid: process.pid,
      maxBatch: this.s.maxBatch,
    });
    this.write(Buffer.from(AttachRequest.encode({ frame: { $case: "hello", value: hello } }).finish()));
    this.welcomeTimer = setTimeout(() => {
      this.fatal(`no welcome from the node at ${this.s.addr} within ${WELCOME_TIMEOUT_MS / 1000} s`);
    }, WELCOME_TIMEOUT_MS);
    return p;
  }

  /**
   * Stops the task gracefully (a signal): the running hook finishes (at
   * most CLOSE_WAIT_MS) and no other starts, what it produced is sent, and
   * the stream is half-closed; the node, having read it, ends the call
   * (end, then the cleanup hook), or after HANG_UP_GRACE_MS it is
   * cancelled.
   */
  stop(): void {
    if (this.done || this.stopping || this.hangUpErr !== undefined) return;
    this.stopping = true;
    const call = this.call;
    if (call === undefined || this.context === undefined) {
      // Not attached yet: nothing to finish or send.
      call?.cancel();
      return this.end(undefined);
    }
    const halfClose = () => {
      if (!this.done && this.hangUpErr === undefined) this.hangUp(call, undefined); // else fatal() hung up
    };
    const running = this.current;
    if (running === undefined) return halfClose();
    let t: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => (t = setTimeout(r, CLOSE_WAIT_MS)));
    Promise.race([running.catch(() => {}), bound]).then(() => {
      clearTimeout(t);
      halfClose();
    });
  }

  private write(b: Buffer): void {
    const call = this.call;
    // After a half-close a write would destroy the stream (write after
    // end) and with it what is still buffered: the frames the node awaits.
    if (call === undefined || this.done || this.halfClosed) return;
    this.lastSent = Date.now();
    // A full write buffer means the node is not reading (its queues are
    // full): stop reading inputs until it drains, so that backpressure
    // reaches the node's side of this task too.
    if (!call.write(b)) call.pause();
  }

  private flush(): void {
    if (!this.outbox.pending) return;
    const frames = this.outbox.take();
    for (let i = 0; i < frames.length; i++) this.write(frames[i]);
  }

  private onData(b: Buffer): void {
    this.lastRecv = Date.now();
    if (this.done || this.hangUpErr !== undefined) return;
    this.queue.push(b);
    if (!this.busy) this.pump();
  }

  /** Handles queued frames in order until one returns a promise. */
  private pump(): void {
    while (this.queue.length > 0 && !this.done && this.hangUpErr === undefined && !this.stopping) {
      const b = this.queue.shift()!;
      let r: MaybePromise;
      try {
        r = this.handle(b);
      } catch (e) {
        this.fatal(errorMessage(e));
        return;
      }
      if (isPromise(r)) {
        this.busy = true;
        this.current = r;
        r.then(
          () => {
            this.busy = false;
            this.current = undefined;
            this.flush();
            this.pump();
          },
          (e) => this.fatal(errorMessage(e)),
        );
        return;
      }
    }
    this.flush();
  }

  /** Handles one AttachResponse frame. */
  private handle(b: Buffer): MaybePromise {
    const r = new Reader(b);
    // A oneof: the last frame field wins, as protobuf parsing has it.
    let field = 0;
    let start = 0;
    let end = 0;
    while (r.pos < r.end) {
      const tag = r.varint();
      if ((tag & 7) === 2) {
        field = tag >>> 3;
        end = r.lenEnd();
        start = r.pos;
        r.pos = end;
      } else {
        r.skip(tag & 7);
      }
    }
    if (this.context === undefined) {
      if (field !== 1) {
        throw new AttachError(`the node broke the protocol: the first frame must be welcome, got ${frameName(field)}`);
      }
      return this.welcome(ProtoTaskContext.decode(b.subarray(start, end)));
    }
    const kind = this.bolt ? "bolt" : "spout";
    const wrongKind = () => {
      this.outbox.error(`${frameName(field)} frame sent to a ${kind} task (${this.who}): ignored`);
    };
    r.pos = start;
    switch (field) {
      case 0:
        this.outbox.error("empty AttachResponse frame (no frame set): ignored");
        return;
      case 1:
        this.outbox.error("a second welcome frame: ignored");
        return;
      case 2:
        if (!this.bolt) return wrongKind();
        return this.inputs(readTupleBatch(r, end), 0);
      case 3: {
        if (!this.spout) return wrongKind();
        let max = 0;
        while (r.pos < end) {
          const tag = r.varint();
          if (tag === 0x08) max = r.int32();
          else r.skip(tag & 7);
        }
        return this.next(max);
      }
      case 4: {
        if (!this.spout) return wrongKind();
        const [acked, failed] = readTwoIdLists(r, end);
        return this.spoutAcks(acked, failed, 0);
      }
      case 5:
        return; // heartbeat: lastRecv is updated already
      case 6:
        if (!this.spout) return wrongKind();
        return this.spoutHook(() => this.spout!.activate(), "activate");
      case 7:
        if (!this.spout) return wrongKind();
        return this.spoutHook(() => this.spout!.deactivate(), "deactivate");
      case 8:
        if (!this.bolt) return wrongKind();
        return this.endOfInput();
      case 9: {
        // The node refused something this process sent: say so where a
        // person looks (stderr goes to the node log for managed processes).
        let msg = "";
        while (r.pos < end) {
          const tag = r.varint();
          if (tag === 0x12) msg = r.string();
          else r.skip(tag & 7);
        }
        process.stderr.write(`gale: ${this.who}: the node refused a frame: ${msg}\n`);
        return;
      }
      default:
        this.outbox.error(`unknown AttachResponse frame (field ${field}): ignored`);
        return;
    }
  }

  private welcome(p: ProtoTaskContext): MaybePromise {
    clearTimeout(this.welcomeTimer);
    const ctx = new TaskContext(p, this.logger());
    this.context = ctx;
    const hb = ctx.heartbeatMillis;
    this.lastRecv = this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(hb), Math.max(5, Math.floor(hb / 4)));
    const started = (r: MaybePromise): MaybePromise => {
      const failed = (e: unknown) => {
        const what = this.bolt ? "prepare" : "open";
        const msg = `${what} failed: ${errorMessage(e)}`;
        this.outbox.error(msg);
        this.flush();
        throw new AttachError(msg);
      };
      if (isPromise(r)) return r.catch(failed);
      return r;
    };
    try {
      if (this.bolt) {
        const out = new BoltCollector(this.outbox, ctx.outputs);
        this.boltOut = out;
        this.bolt.context = ctx;
        this.bolt.collector = out;
        return started(this.bolt.prepare(ctx, out));
      }
      const out = new SpoutCollector(this.outbox, ctx.outputs);
      this.spoutOut = out;
      this.spout!.context = ctx;
      this.spout!.collector = out;
      return started(this.spout!.open(ctx, out));
    } catch (e) {
      const msg = `${this.bolt ? "prepare" : "open"} failed: ${errorMessage(e)}`;
      this.outbox.error(msg);
      this.flush();
      throw new AttachError(msg);
    }
  }

  private logger(): Logger {
    const send = (level: LogLevel, message: string) => {
      if (this.done || this.context === undefined) {
        process.stderr.write(`gale: ${this.who}: ${level}: ${message}\n`);
        return;
      }
      this.outbox.log(LOG_LEVELS[level], message);
    };
    return {
      debug: (m) => send("debug", m),
      info: (m) => send("info", m),
      warn: (m) => send("warn", m),
      error: (m) => send("error", m),
    };
  }

  /**
   * Executes inputs from index i on, one at a time. A batch that takes
   * longer than heartbeat_millis / 4 (a slow, synchronous execute) flushes
   * what it produced and yields to the event loop at that pace, so that its
   * frames go out and the heartbeat timer runs: a node gives up a process
   * it hears nothing from for 3 x heartbeat_millis (case bolt-busy).
   */
  private inputs(batch: RawTuple[], i: number): MaybePromise {
    if (this.done) return; // the session ended while this batch waited
    const bolt = this.bolt!;
    const out = this.boltOut!;
    const every = Math.max(1, Math.floor(this.context!.heartbeatMillis / 4));
    const start = i;
    const since = Date.now();
    for (; i < batch.length; i++) {
      if (this.stopping) return; // the node fails the inputs not executed
      if (i > start && Date.now() - since >= every) {
        this.flush();
        const next = i;
        return yieldToEvents().then(() => this.inputs(batch, next));
      }
      const t = this.tuple(batch[i]);
      if (t === undefined) continue;
      if (t.id !== 0) out.held++;
      let r: MaybePromise;
      try {
        r = bolt.execute(t);
      } catch (e) {
        this.executeFailed(t, e);
        continue;
      }
      if (isPromise(r)) {
        const next = i + 1;
        return this.awaiting("execute", r).then(
          () => this.inputs(batch, next),
          (e) => {
            this.executeFailed(t, e);
            return this.inputs(batch, next);
          },
        );
      }
    }
  }

  /** Turns a raw input into a Tuple, or answers an unreadable one with an error and a fail. */
  private tuple(raw: RawTuple): Tuple | undefined {
    const stream = raw.stream || DEFAULT_STREAM;
    if (stream === TICK_STREAM) return new Tuple(raw.id, raw.values, TICK_SOURCE, raw.sourceTask);
    let byStream = this.sources.get(raw.sourceTask);
    if (byStream === undefined) {
      byStream = new Map();
      this.sources.set(raw.sourceTask, byStream);
    }
    let src = byStream.get(stream);
    if (src === undefined) {
      src = this.resolveSource(raw.sourceTask, stream);
      byStream.set(stream, src);
    }
    let problem: string | undefined;
    if (typeof src === "string") problem = src;
    else if (raw.values.length !== src.fields.length) {
      problem =
        `input ${raw.id} from ${src.component}:${stream} (task ${raw.sourceTask}) has ` +
        `${raw.values.length} value${raw.values.length === 1 ? "" : "s"} for ${src.fields.length} ` +
        `field${src.fields.length === 1 ? "" : "s"} (${src.fields.join(", ")})`;
    }
    if (problem === undefined) return new Tuple(raw.id, raw.values, src as Source, raw.sourceTask);
    this.outbox.error(`${problem}: failed without calling the bolt`);
    if (raw.id !== 0) this.outbox.fail(raw.id);
    return undefined;
  }

  private resolveSource(task: number, stream: string): Source | string {
    const ctx = this.context!;
    const component = ctx.componentOf(task);
    if (component === undefined) {
      return `input from unknown task ${task} on stream '${stream}' (no component has that task in the welcome)`;
    }
    const fields = ctx.sourceFields.get(`${component}:${stream}`);
    if (fields === undefined) {
      const known = [...ctx.sourceFields.keys()].join(", ") || "none";
      return `input on unknown stream '${component}:${stream}' from task ${task} (source streams: ${known})`;
    }
    return new Source(component, stream, fields);
  }

  // A spout hook threw: its stack trace (the first of each kind, then
  // counts) and a task error.
  private hookFailed(what: string, e: unknown): void {
    this.tracebacks.who = this.who;
    this.tracebacks.print(e, what);
    this.outbox.error(`${what}: ${describeError(e)}`);
  }

  private executeFailed(t: Tuple, e: unknown): void {
    this.tracebacks.who = this.who;
    this.tracebacks.print(e, `execute threw on ${t.describe()}`);
    this.outbox.error(`execute failed on ${t.describe()}: ${describeError(e)}`);
    if (t.id !== 0 && t.state === 0) this.boltOut!.fail(t);
  }

  private endOfInput(): MaybePromise {
    const done = () => {
      const held = this.boltOut!.held;
      if (held > 0) {
        this.context!.log.warn(`finish left ${held} input${held === 1 ? "" : "s"} neither acked nor failed: the node fails them now (their spouts replay them)`);
      }
      this.outbox.finished();
    };
    const failed = (e: unknown) => this.outbox.error(`finish failed: ${errorMessage(e)}`);
    let r: MaybePromise;
    try {
      r = this.bolt!.finish();
    } catch (e) {
      failed(e);
      return done();
    }
    if (isPromise(r)) return this.awaiting("finish", r).then(done, (e) => (failed(e), done()));
    done();
  }

  private next(max: number): MaybePromise {
    const out = this.spoutOut!;
    out.emitted = 0;
    const every = Math.max(1, Math.floor(this.context!.heartbeatMillis / 4));
    const loop = (): MaybePromise => {
      if (this.done) return; // the session ended while this waited
      // A slow, synchronous nextTuple yields at heartbeat_millis / 4, as
      // inputs do (case spout-busy).
      const since = Date.now();
      while (out.emitted < max && !this.stopping) {
        const before = out.emitted;
        let r: MaybePromise;
        try {
          r = this.spout!.nextTuple(max - out.emitted);
        } catch (e) {
          this.hookFailed("nextTuple failed", e);
          break;
        }
        if (isPromise(r)) {
          return this.awaiting("next_tuple", r).then(
            () => (out.emitted === before ? this.outbox.nextDone(out.ended) : loop()),
            (e) => {
              this.hookFailed("nextTuple failed", e);
              this.outbox.nextDone(out.ended);
            },
          );
        }
        if (out.emitted === before) break;
        if (out.emitted < max && Date.now() - since >= every) {
          this.flush();
          return yieldToEvents().then(loop);
        }
      }
      this.outbox.nextDone(out.ended);
    };
    return loop();
  }

  private spoutAcks(acked: number[], failed: number[], i: number): MaybePromise {
    const spout = this.spout!;
    const n = acked.length + failed.length;
    for (; i < n; i++) {
      const ok = i < acked.length;
      const id = ok ? acked[i] : failed[i - acked.length];
      let r: MaybePromise;
      try {
        r = ok ? spout.ack(id) : spout.fail(id);
      } catch (e) {
        this.hookFailed(`${ok ? "ack" : "fail"}(${id}) failed`, e);
        continue;
      }
      if (isPromise(r)) {
        const next = i + 1;
        return this.awaiting(ok ? "ack" : "fail", r).then(
          () => this.spoutAcks(acked, failed, next),
          (e) => {
            this.hookFailed(`${ok ? "ack" : "fail"}(${id}) failed`, e);
            return this.spoutAcks(acked, failed, next);
          },
        );
      }
    }
  }

  private spoutHook(f: () => MaybePromise, name: string): MaybePromise {
    const failed = (e: unknown) => this.hookFailed(`${name} failed`, e);
    try {
      const r = f();
      if (isPromise(r)) return this.awaiting(name, r).catch(failed);
    } catch (e) {
      failed(e);
    }
  }

  /**
   * Notes that the component's call of hook runs until r settles, for the
   * heartbeats' busy_millis: the heartbeat timer runs between awaits, so a
   * call whose promise never settles would look alive for ever, and a node
   * replaces a process whose call runs longer than its
   * topology.subprocess.timeout.secs. (A synchronous call that never
   * returns stops the timer too, and with it the heartbeats.)
   */
  private awaiting(hook: string, r: Promise<void>): Promise<void> {
    const call = ++this.busyCalls;
    this.busyHook = hook;
    this.busySince = Date.now();
    const settled = () => {
      if (this.busyCalls === call) this.busyHook = "";
    };
    return r.then(
      () => settled(),
      (e: unknown) => {
        settled();
        throw e;
      },
    );
  }

  /** The timer: silence check, periodic flush, heartbeat. */
  private tick(hb: number): void {
    const now = Date.now();
    const late = now - this.lastTick > hb;
    this.lastTick = now;
    // A timer that fires late means this process was busy (a long
    // synchronous hook): frames may be waiting unread, so silence is
    // only judged on a timer that ran on time.
    if (!late && now - this.lastRecv > 3 * hb) {
      this.fatal(`no frame from the node for ${now - this.lastRecv} ms (3 x heartbeat_millis = ${3 * hb} ms): giving up`);
      return;
    }
    this.flush();
    if (now - this.lastSent >= hb) {
      const busy = this.busyHook === "" ? 0 : now - this.busySince;
      this.outbox.heartbeat(busy >= hb ? busy : 0, this.busyHook);
      this.flush();
    }
  }

  /** Ends the task with an error from this side (see hangUp). */
  private fatal(message: string): void {
    if (this.done || this.hangUpErr !== undefined) return;
    const err = new AttachError(message);
    const call = this.call;
    if (call === undefined) return this.end(err);
    if (this.halfClosed) {
      this.hangUpErr = err; // stop() hung up already: end with this reason
      return;
    }
    this.hangUp(call, err);
  }

  /**
   * Half-closes the stream after what is flushed (for fatal, often the
   * reason, as an error frame) and lets the node end the call, for at most
   * HANG_UP_GRACE_MS: cancelling at once could overtake those frames
   * (grpc-js writes them later), and the node would only learn that the
   * stream was cancelled. The session then ends with err (undefined: a
   * graceful stop). Nothing is written after.
   */
  private hangUp(call: grpc.ClientDuplexStream<Buffer, Buffer>, err: AttachError | undefined): void {
    this.flush();
    this.hangUpErr = err;
    this.halfClosed = true;
    call.end();
    this.hangUpTimer = setTimeout(() => {
      this.end(err);
      call.cancel();
    }, HANG_UP_GRACE_MS);
  }

  /** Ends the session once: stop timers, run the component's close hook, settle. */
  private end(err: Error | undefined): void {
    if (this.done) return;
    clearTimeout(this.hangUpTimer);
    // After our half-close the node ends the call, or it is cancelled: end
    // with our reason (fatal), or cleanly (stop).
    if (this.hangUpErr !== undefined) err = this.hangUpErr;
    else if (this.stopping) err = undefined;
    this.done = true;
    clearInterval(this.timer);
    clearTimeout(this.welcomeTimer);
    if (err === undefined && !this.halfClosed) this.call?.end(); // half-close our side too
    const finish = () => {
      this.client?.close();
      if (err) this.reject(err);
      else this.resolve();
    };
    if (this.context === undefined) return finish();
    // The close hook waits for a hook still running (busy), so that
    // cleanup never overlaps execute.
    const close = async () => {
      const running = this.current;
      if (running !== undefined) {
        // Bounded: a hook that never settles must not keep the process up.
        let t: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((r) => (t = setTimeout(r, CLOSE_WAIT_MS)));
        await Promise.race([running.catch(() => {}), bound]);
        clearTimeout(t);
      }
      this.tracebacks.flush();
      try {
        await (this.bolt ? this.bolt.cleanup() : this.spout!.close());
      } catch (e) {
        process.stderr.write(`gale: ${this.who}: ${this.bolt ? "cleanup" : "close"} failed: ${errorMessage(e)}\n`);
        if (!err) err = new AttachError(`${this.bolt ? "cleanup" : "close"} failed: ${errorMessage(e)}`);
      }
    };
    close().then(finish, finish);
  }
}

/**
 * Lets the event loop run timers, I/O and signals before resuming. Two
 * turns: a signal that arrived while a hook ran is read in the poll phase,
 * which comes after this turn's immediates and before the next turn's, so
 * that stop() sees it before another input starts.
 */
function yieldToEvents(): Promise<void> {
  return new Promise<void>((resume) => setImmediate(() => setImmediate(resume)));
}

function frameName(field: number): string {
  return (
    ["empty", "welcome", "inputs", "next", "spout_acks", "heartbeat", "activate", "deactivate", "end_of_input", "error"][field] ??
    `field ${field}`
  );
}
