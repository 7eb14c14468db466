import type { InputSpec, StreamSpec } from "./gen/gale/v1/topology";
import { type TaskContext as ProtoTaskContext } from "./gen/gale/v1/attach";
import { type Value, valueFromProto, toNumber, formatValue } from "./values";

/** Severity of a log record, as in gale.v1.LogLevel. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Logger sends log records to the node log, with the task's identity (as
 * `log` frames of the Attach stream). Before the stream is up and after it
 * ended, records go to stderr, which a managed process's node logs too.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Config is the merged topology and component config of a task. Keys are
 * the topology's (`topology.*`, see sdk/CONFIG.md) and the application's
 * own; values follow the Value mapping (int64 is bigint).
 */
export class Config {
  constructor(private readonly values: ReadonlyMap<string, Value>) {}

  /** Whether the key is set. */
  has(key: string): boolean {
    return this.values.has(key);
  }

  /** The value of key, or undefined. */
  get(key: string): Value | undefined {
    return this.values.get(key);
  }

  /** Every key, sorted. */
  keys(): string[] {
    return [...this.values.keys()].sort();
  }

  /** A string setting; def when unset. Throws when set to a non-string. */
  getString(key: string, def = ""): string {
    const v = this.values.get(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== "string") throw new TypeError(`config ${key}: want a string, got ${formatValue(v)}`);
    return v;
  }

  /**
   * A numeric setting as a number (an int64 within the safe range, or a
   * double); def when unset. Throws when set to something else.
   */
  getNumber(key: string, def: number): number {
    const v = this.values.get(key);
    if (v === undefined || v === null) return def;
    const n = toNumber(v);
    if (n === undefined) throw new TypeError(`config ${key}: want a number, got ${formatValue(v)}`);
    return n;
  }

  /** An integer setting as a bigint; def when unset. Throws when set to a non-integer. */
  getInt(key: string, def: bigint): bigint {
    const v = this.values.get(key);
    if (v === undefined || v === null) return def;
    if (typeof v === "bigint") return v;
    if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
    throw new TypeError(`config ${key}: want an integer, got ${formatValue(v)}`);
  }

  /** A boolean setting; def when unset. Throws when set to a non-boolean. */
  getBoolean(key: string, def: boolean): boolean {
    const v = this.values.get(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") throw new TypeError(`config ${key}: want a boolean, got ${formatValue(v)}`);
    return v;
  }
}

/** An output stream of the task's component, from the welcome. */
export interface OutputStream {
  readonly id: string;
  readonly fields: readonly string[];
  readonly direct: boolean;
}

/** TaskContext is what a task knows about itself and its topology (the welcome). */
export class TaskContext {
  /** The topology name. */
  readonly topology: string;
  /** The id of this run of the topology. */
  readonly topologyId: string;
  /** This task's component id. */
  readonly component: string;
  /** This task's global task id. */
  readonly taskId: number;
  /** This task's index among its component's tasks (0..parallelism-1). */
  readonly taskIndex: number;
  /** The merged topology and component config. */
  readonly config: Config;
  /** Every component's task ids, increasing. */
  readonly componentTasks: ReadonlyMap<string, readonly number[]>;
  /** This component's declared output streams. */
  readonly outputs: readonly OutputStream[];
  /** This component's subscriptions. */
  readonly inputs: readonly InputSpec[];
  /** Field names of each input stream, keyed "component:stream". */
  readonly sourceFields: ReadonlyMap<string, readonly string[]>;
  /** How often the process must send something (ms). */
  readonly heartbeatMillis: number;
  /** The task's logger. */
  readonly log: Logger;

  private readonly taskComponent = new Map<number, string>();

  constructor(p: ProtoTaskContext, log: Logger) {
    this.topology = p.topology;
    this.topologyId = p.topologyId;
    this.component = p.component;
    this.taskId = p.taskId;
    this.taskIndex = p.taskIndex;
    const config = new Map<string, Value>();
    for (const [k, v] of Object.entries(p.config)) config.set(k, valueFromProto(v));
    this.config = new Config(config);
    const tasks = new Map<string, readonly number[]>();
    for (const [c, ids] of Object.entries(p.componentTasks)) {
      tasks.set(c, [...ids.ids]);
      for (const id of ids.ids) this.taskComponent.set(id, c);
    }
    this.componentTasks = tasks;
    this.outputs = p.outputs.map((s: StreamSpec) => ({ id: s.id || "default", fields: [...s.fields], direct: s.direct }));
    this.inputs = p.inputs;
    const fields = new Map<string, readonly string[]>();
    for (const [k, f] of Object.entries(p.sourceFields)) fields.set(k, [...f.names]);
    this.sourceFields = fields;
    this.heartbeatMillis = p.heartbeatMillis > 0 ? p.heartbeatMillis : 1000;
    this.log = log;
  }

  /** The component that owns a task id, or undefined. */
  componentOf(taskId: number): string | undefined {
    return this.taskComponent.get(taskId);
  }

  /** This component's task ids. */
  get tasks(): readonly number[] {
    return this.componentTasks.get(this.component) ?? [];
  }
}
