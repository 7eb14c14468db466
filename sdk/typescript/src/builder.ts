// TopologyBuilder builds a gale.v1.TopologySpec in TypeScript, in the
// manner of Storm's TopologyBuilder and the Go SDK's (sdk/builder.go):
//
//   const b = new TopologyBuilder("wordcount");
//   b.setSpout("sentences", { className: "wordcount.SentenceSpout" }, 1);
//   b.setBolt("split", { run: ["node", "dist/split.js"] }, 2)
//     .outputs({ id: "default", fields: ["word"] })
//     .shuffleGrouping("sentences");
//   b.setBolt("count", { run: ["node", "dist/count.js"] }, 2)
//     .fieldsGrouping("split", ["word"]);
//   const spec = b.build();
//   const id = await submit("127.0.0.1:7700", spec);
//
// The setters never throw: mistakes are collected and build() reports them
// all at once in one BuildError, each naming the component and field. The
// node validates the spec again on submit (and knows the outputs of Go
// classes, which this builder cannot check).

import * as grpc from "@grpc/grpc-js";
import {
  ComponentKind,
  ExternalProtocol,
  GroupingType,
  type ComponentSpec,
  type StreamSpec,
  type TopologySpec,
} from "./gen/gale/v1/topology";
import { CoordinatorServiceClient } from "./gen/gale/v1/coordinator";
import type { Value as ProtoValue } from "./gen/gale/v1/value";
import { type Value, valueToProto, invalidValue } from "./values";
import { AttachError } from "./errors";
import { callFailure, resolveCredentials, type ResolvedCredentials, type TlsFiles } from "./tls";

/** The spec's source for specs made by this builder. */
export const BUILDER_SOURCE = "ts-builder";

/** How a component's tasks run. */
export type Implementation =
  /** A Go component registered in the gale binary under this class name. */
  | { className: string }
  /** One external process per task, started by the node with argv `run`. */
  | { run: string[]; dir?: string; env?: Record<string, string>; protocol?: "attach" | "storm-multilang" }
  /** Tasks served by processes that attach to a node by themselves. */
  | { attached: true | { token?: string } };

/** An output stream declaration. */
export interface StreamDecl {
  id: string;
  fields: string[];
  direct?: boolean;
}

/** Stream groupings by name (GroupingType without its prefix). */
export type GroupingName = "shuffle" | "fields" | "all" | "global" | "direct" | "local_or_shuffle" | "partial_key" | "none";

const GROUPINGS: Record<GroupingName, GroupingType> = {
  shuffle: GroupingType.GROUPING_TYPE_SHUFFLE,
  fields: GroupingType.GROUPING_TYPE_FIELDS,
  all: GroupingType.GROUPING_TYPE_ALL,
  global: GroupingType.GROUPING_TYPE_GLOBAL,
  direct: GroupingType.GROUPING_TYPE_DIRECT,
  local_or_shuffle: GroupingType.GROUPING_TYPE_LOCAL_OR_SHUFFLE,
  partial_key: GroupingType.GROUPING_TYPE_PARTIAL_KEY,
  none: GroupingType.GROUPING_TYPE_NONE,
};

/**
 * Rejected by submit when the node refuses the topology or cannot be
 * reached: code is the gRPC status code's name ("INVALID_ARGUMENT",
 * "ALREADY_EXISTS", "UNAVAILABLE"...), as Python's SubmitError.code.
 */
export class SubmitError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "SubmitError";
  }
}

/** Thrown by build() with every problem found. */
export class BuildError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid topology: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  ${problems.join("\n  ")}`);
    this.name = "BuildError";
  }
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The most tasks one component may have (the node's sdk/spec MaxParallelism). */
export const MAX_PARALLELISM = 10000;

export class TopologyBuilder {
  private readonly components: ComponentSpec[] = [];
  private readonly config: Record<string, ProtoValue> = {};
  /** @internal problems found by the setters. */
  readonly problems: string[] = [];

  /** Starts a topology with the given name (1 to 64 characters of [A-Za-z0-9._-]). */
  constructor(readonly name: string) {}

  /** Sets a topology config key, read by every component (and by Gale for topology.* keys). */
  setConfig(key: string, value: Value): this {
    const v = this.value(`config ${key}`, value);
    if (v !== undefined) this.config[key] = v;
    return this;
  }

  /** Adds a spout with the given number of tasks. */
  setSpout(id: string, impl: Implementation, parallelism = 1): SpoutDeclarer {
    return new SpoutDeclarer(this, this.add(id, ComponentKind.COMPONENT_KIND_SPOUT, impl, parallelism));
  }

  /** Adds a bolt with the given number of tasks; subscribe it with the grouping methods. */
  setBolt(id: string, impl: Implementation, parallelism = 1): BoltDeclarer {
    return new BoltDeclarer(this, this.add(id, ComponentKind.COMPONENT_KIND_BOLT, impl, parallelism));
  }

  /** @internal */
  value(what: string, v: Value): ProtoValue | undefined {
    const bad = invalidValue(v);
    if (bad !== undefined) {
      this.problems.push(`${what}: ${bad}`);
      return undefined;
    }
    return valueToProto(v);
  }

  private add(id: string, kind: ComponentKind, impl: Implementation, parallelism: number): ComponentSpec {
    const c: ComponentSpec = {
      id,
      kind,
      parallelism: Number.isInteger(parallelism) && parallelism <= 2147483647 ? parallelism : 0,
      implementation: undefined,
      outputs: [],
      inputs: [],
      config: {},
    };
    const who = `${kind === ComponentKind.COMPONENT_KIND_SPOUT ? "spout" : "bolt"} '${id}'`;
    if (!Number.isInteger(parallelism)) {
      this.problems.push(`${who}: parallelism must be an integer, got ${parallelism}`);
    } else if (parallelism < 1) {
      this.problems.push(`${who}: parallelism must be at least 1, got ${parallelism}`);
    } else if (parallelism > MAX_PARALLELISM) {
      this.problems.push(`${who}: parallelism must be at most ${MAX_PARALLELISM}, got ${parallelism}`);
    }
    if ("className" in impl) {
      c.implementation = { $case: "class", value: impl.className };
      if (!impl.className) this.problems.push(`${who}: className is empty`);
    } else if ("run" in impl) {
      if (!Array.isArray(impl.run) || impl.run.length === 0 || impl.run.some((a) => typeof a !== "string" || a === "")) {
        this.problems.push(`${who}: run must be a non-empty argv of non-empty strings, e.g. ["node", "dist/split.js"]`);
      }
      c.implementation = {
        $case: "command",
        value: {
          argv: [...(impl.run ?? [])],
          dir: impl.dir ?? "",
          env: { ...(impl.env ?? {}) },
          protocol:
            impl.protocol === "storm-multilang"
              ? ExternalProtocol.EXTERNAL_PROTOCOL_STORM_MULTILANG
              : ExternalProtocol.EXTERNAL_PROTOCOL_ATTACH,
        },
      };
    } else if ("attached" in impl) {
      const token = impl.attached === true ? "" : (impl.attached.token ?? "");
      c.implementation = { $case: "attached", value: { token } };
    } else {
      this.problems.push(`${who}: implementation must be { className }, { run } or { attached }`);
    }
    this.components.push(c);
    return c;
  }

  /**
   * Checks the topology and returns its spec (source "ts-builder"). Throws
   * a BuildError listing every problem. Each call returns a new spec.
   */
  build(): TopologySpec {
    const problems = [...this.problems];
    if (!NAME.test(this.name)) problems.push(`topology name ${JSON.stringify(this.name)}: want 1 to 64 characters of [A-Za-z0-9._-]`);
    if (this.components.length === 0) problems.push("the topology has no components");
    const byId = new Map<string, ComponentSpec>();
    for (const c of this.components) {
      const who = whoOf(c);
      if (!NAME.test(c.id) || c.id.startsWith("__")) {
        problems.push(`${who}: id: want 1 to 64 characters of [A-Za-z0-9._-], not starting with "__"`);
      }
      if (byId.has(c.id)) problems.push(`${who}: id is used by another component`);
      byId.set(c.id, c);
      const seen = new Set<string>();
      for (const s of c.outputs) {
        if (seen.has(s.id)) problems.push(`${who}: outputs: stream '${s.id}' is declared twice`);
        seen.add(s.id);
        if (!NAME.test(s.id) || s.id.startsWith("__")) problems.push(`${who}: outputs: stream id '${s.id}' is not a valid name`);
        const fields = new Set<string>();
        for (const f of s.fields) {
          if (f === "") problems.push(`${who}: outputs: stream '${s.id}' has an empty field name`);
          if (fields.has(f)) problems.push(`${who}: outputs: stream '${s.id}' declares field '${f}' twice`);
          fields.add(f);
        }
      }
    }
    if (this.components.length > 0 && !this.components.some((c) => c.kind === ComponentKind.COMPONENT_KIND_SPOUT)) {
      problems.push("the topology has no spout");
    }
    for (const c of this.components) {
      const who = whoOf(c);
      if (c.kind === ComponentKind.COMPONENT_KIND_BOLT && c.inputs.length === 0) {
        problems.push(`${who} has no inputs: a bolt must subscribe to at least one stream`);
      }
      const subscribed = new Set<string>();
      c.inputs.forEach((in_, i) => {
        const where = `${who}: inputs[${i}] (${in_.component}:${in_.stream || "default"})`;
        const type = in_.grouping!.type;
        if (type === undefined) {
          problems.push(`${where}: unknown grouping; use one of ${Object.keys(GROUPINGS).join(", ")}`);
          return;
        }
        const from = byId.get(in_.component);
        if (from === undefined) {
          problems.push(`${where}: no component '${in_.component}'`);
          return;
        }
        const key = `${in_.component}\u0000${in_.stream || "default"}`;
        if (subscribed.has(key)) problems.push(`${where}: subscribes to '${in_.component}' stream '${in_.stream || "default"}' twice`);
        subscribed.add(key);
        if (in_.component === c.id) problems.push(`${who} subscribes to itself: cycle: ${c.id} -> ${c.id}`);
        const keyed = type === GroupingType.GROUPING_TYPE_FIELDS || type === GroupingType.GROUPING_TYPE_PARTIAL_KEY;
        if (keyed && in_.grouping!.fields.length === 0) problems.push(`${where}: a ${groupingName(type)} grouping needs fields`);
        if (!keyed && in_.grouping!.fields.length > 0) problems.push(`${where}: a ${groupingName(type)} grouping takes no fields`);
        // A Go class declares its streams itself: only the node can check them.
        if (from.implementation?.$case === "class") return;
        const stream = from.outputs.find((s) => s.id === (in_.stream || "default"));
        if (stream === undefined) {
          const declared = from.outputs.map((s) => s.id).join(", ") || "none";
          problems.push(`${where}: '${in_.component}' declares no stream '${in_.stream || "default"}' (declared: ${declared})`);
          return;
        }
        for (const f of in_.grouping!.fields) {
          if (!stream.fields.includes(f)) problems.push(`${where}: grouping field '${f}' is not a field of the stream (${stream.fields.join(", ")})`);
        }
        if (stream.direct !== (type === GroupingType.GROUPING_TYPE_DIRECT)) {
          problems.push(
            stream.direct
              ? `${where}: direct stream '${stream.id}' must be subscribed with a direct grouping`
              : `${where}: a direct grouping needs a stream declared direct`,
          );
        }
      });
    }
    problems.push(...cycles(this.components, byId));
    if (problems.length > 0) throw new BuildError(problems);
    return structuredClone({
      name: this.name,
      components: this.components,
      config: this.config,
      source: BUILDER_SOURCE,
    });
  }
}

/**
 * Cycles among components other than a bolt subscribed to itself, as the
 * node reports them: one shortest cycle through the first-declared
 * component of each, in the order tuples flow.
 */
function cycles(components: ComponentSpec[], byId: Map<string, ComponentSpec>): string[] {
  const out: string[] = [];
  const reported = new Set<string>();
  for (const start of components) {
    if (reported.has(start.id)) continue;
    // Breadth-first from start's inputs back to start.
    const prev = new Map<string, string>();
    const queue = [start.id];
    let found: string | undefined;
    while (queue.length > 0 && found === undefined) {
      const cur = queue.shift()!;
      for (const in_ of byId.get(cur)?.inputs ?? []) {
        const src = in_.component;
        if (src === cur || !byId.has(src)) continue;
        if (src === start.id) {
          found = cur;
          break;
        }
        if (!prev.has(src)) {
          prev.set(src, cur);
          queue.push(src);
        }
      }
    }
    if (found === undefined) continue;
    const path = [start.id];
    for (let node = found; node !== start.id; node = prev.get(node)!) path.push(node);
    path.push(start.id);
    path.forEach((id) => reported.add(id));
    out.push(`${whoOf(start)}: cycle: ${path.join(" -> ")}`);
  }
  return out;
}

function whoOf(c: ComponentSpec): string {
  return `${c.kind === ComponentKind.COMPONENT_KIND_SPOUT ? "spout" : "bolt"} '${c.id}'`;
}

function groupingName(t: GroupingType): string {
  return (Object.keys(GROUPINGS) as GroupingName[]).find((k) => GROUPINGS[k] === t) ?? String(t);
}

class Declarer {
  /** @internal */
  constructor(
    protected readonly b: TopologyBuilder,
    protected readonly c: ComponentSpec,
  ) {}

  protected get who(): string {
    return whoOf(this.c);
  }

  /** Declares the streams of an external or attached component. */
  outputs(...streams: StreamDecl[]): this {
    if (this.c.implementation?.$case === "class") {
      this.b.problems.push(`${this.who}: outputs are only for external and attached components; class '${this.c.implementation.value}' declares its own`);
      return this;
    }
    for (const s of streams) {
      this.c.outputs.push({ id: s.id, fields: [...s.fields], direct: s.direct ?? false } satisfies StreamSpec);
    }
    return this;
  }

  /** Sets a config key for this component's tasks, overriding the topology's. */
  setConfig(key: string, value: Value): this {
    const v = this.b.value(`${this.who}: config ${key}`, value);
    if (v !== undefined) this.c.config[key] = v;
    return this;
  }
}

/** Configures a spout; methods chain. */
export class SpoutDeclarer extends Declarer {}

/** Configures a bolt and subscribes it to streams; methods chain. An omitted stream is "default". */
export class BoltDeclarer extends Declarer {
  /** Subscribes to a stream of `from` with any grouping. */
  grouping(from: string, stream: string, type: GroupingName, fields: string[] = []): this {
    if (this.c.kind === ComponentKind.COMPONENT_KIND_SPOUT) {
      this.b.problems.push(`${this.who}: a spout has no inputs`);
      return this;
    }
    const t = GROUPINGS[type] as GroupingType | undefined; // JavaScript callers pass any string
    if (t === undefined) {
      this.b.problems.push(`${this.who}: input from '${from}': unknown grouping '${type}'; use one of ${Object.keys(GROUPINGS).join(", ")}`);
      return this;
    }
    this.c.inputs.push({ component: from, stream: stream === "default" ? "" : stream, grouping: { type: t, fields: [...fields] } });
    return this;
  }

  /** Spreads the tuples evenly over this bolt's tasks. */
  shuffleGrouping(from: string, stream = ""): this {
    return this.grouping(from, stream, "shuffle");
  }

  /** Sends tuples with equal values of fields to the same task. */
  fieldsGrouping(from: string, fields: string[], stream = ""): this {
    return this.grouping(from, stream, "fields", fields);
  }

  /** Sends each key to the less loaded of two candidate tasks (skewed keys). */
  partialKeyGrouping(from: string, fields: string[], stream = ""): this {
    return this.grouping(from, stream, "partial_key", fields);
  }

  /** Replicates every tuple to every task. */
  allGrouping(from: string, stream = ""): this {
    return this.grouping(from, stream, "all");
  }

  /** Sends every tuple to the task with the lowest id. */
  globalGrouping(from: string, stream = ""): this {
    return this.grouping(from, stream, "global");
  }

  /** Lets the emitter choose the task; the stream must be declared direct. */
  directGrouping(from: string, stream = ""): this {
    return this.grouping(from, stream, "direct");
  }

  /** Prefers tasks in the emitter's process, else shuffles. */
  localOrShuffleGrouping(from: string, stream = ""): this {
    return this.grouping(from, stream, "local_or_shuffle");
  }

  /** No preference (Gale shuffles). */
  noneGrouping(from: string, stream = ""): this {
    return this.grouping(from, stream, "none");
  }
}

/** Options of submit. */
export interface SubmitOptions {
  /** Overrides of the spec's config (the CLI's --conf key=value). */
  config?: Record<string, Value>;
  /** Submits without activating the spouts. */
  startInactive?: boolean;
  /**
   * PEM files of mutual TLS to the node; unset, they come from GALE_TLS_CA,
   * GALE_TLS_CERT and GALE_TLS_KEY, as for run. Given, they replace the
   * three variables as a whole. Without either, the connection is
   * plaintext.
   */
  tls?: TlsFiles;
  /** Where GALE_TLS_* are read from; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Channel credentials; they take precedence over tls and the GALE_TLS_* variables. */
  credentials?: grpc.ChannelCredentials;
  /** Deadline of the call in ms (default 30 s). */
  timeoutMs?: number;
}

/**
 * Submits a spec through gale.v1.CoordinatorService/SubmitTopology of the
 * node at addr (HOST:PORT) and resolves to the run id. Rejects with a
 * SubmitError carrying the node's status code and message
 * (INVALID_ARGUMENT names the component and field; ALREADY_EXISTS for a
 * name in use; UNAVAILABLE for no node there). TLS files that cannot be used
 * (see SubmitOptions.tls) reject with an AttachError naming the variable or
 * option and the file, before anything is sent.
 */
export function submit(addr: string, spec: TopologySpec, options: SubmitOptions = {}): Promise<string> {
  const config: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(options.config ?? {})) {
    const bad = invalidValue(v);
    if (bad !== undefined) return Promise.reject(new TypeError(`submit: config ${k}: ${bad}`));
    config[k] = valueToProto(v);
  }
  let conn: ResolvedCredentials;
  try {
    conn = resolveCredentials(options);
  } catch (e) {
    return Promise.reject(e instanceof AttachError ? new AttachError(`submit ${spec.name} to ${addr}: ${e.message}`) : e);
  }
  const client = new CoordinatorServiceClient(addr, conn.credentials);
  return new Promise<string>((resolve, reject) => {
    client.submitTopology(
      { spec, config, startInactive: options.startInactive ?? false },
      new grpc.Metadata(),
      { deadline: Date.now() + (options.timeoutMs ?? 30_000) },
      (err, res) => {
        client.close();
        if (err) reject(new SubmitError(grpc.status[err.code] ?? String(err.code), `submit ${spec.name} to ${addr}: ${callFailure(err, conn.tls)}`));
        else resolve(res!.id);
      },
    );
  });
}
