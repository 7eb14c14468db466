// Gale's TypeScript SDK: spouts and bolts that run as Gale tasks over the
// Attach protocol (sdk/ATTACH.md), and a builder for topology specs.

export { Bolt, Spout, type MaybePromise } from "./component";
export { BoltCollector, SpoutCollector, EmitError, type Anchors } from "./collector";
export { Config, TaskContext, type Logger, type LogLevel, type OutputStream } from "./context";
export { Tuple, Source, DEFAULT_STREAM, TICK_STREAM, SYSTEM_COMPONENT } from "./tuple";
export { type Value, valueToProto, valueFromProto, toNumber } from "./values";
export { type AckOrder } from "./outbox";
export { run, runTask, AttachError, SDK_NAME, type RunOptions } from "./run";
export { channelCredentials, type TlsFiles, type ConnectionOptions } from "./tls";
export {
  TopologyBuilder,
  SpoutDeclarer,
  BoltDeclarer,
  BuildError,
  SubmitError,
  submit,
  BUILDER_SOURCE,
  type Implementation,
  type StreamDecl,
  type GroupingName,
  type SubmitOptions,
} from "./builder";
export {
  SessionBolt,
  WindowOutput,
  WindowConfigError,
  TimeoutTooShortError,
  validateSessionConfig,
  valueText,
  valueKind,
  compareUtf8,
  END_OF_EVENT_TIME,
  DEFAULT_LATE_STREAM,
  DEFAULT_PUNCTUATION_STREAM,
  type SessionConfig,
  type SessionBoltOptions,
  type Window,
  type WindowFunction,
  type WindowStats,
  type AckMode,
  type TimeoutCheck,
} from "./window";
export type { TopologySpec } from "./gen/gale/v1/topology";
/** The Coordinator API's generated messages and client (CoordinatorServiceClient), for the calls besides submit. */
export * as coordinator from "./gen/gale/v1/coordinator";
