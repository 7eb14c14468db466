import type { Outbox, StreamInfo } from "./outbox";
import { streamInfo } from "./outbox";
import { Tuple, TupleState, DEFAULT_STREAM } from "./tuple";
import type { Value } from "./values";
import type { OutputStream } from "./context";
import { EmitError } from "./errors";

export { EmitError };

/** An anchor argument: one input tuple, several, or none (null). */
export type Anchors = Tuple | readonly Tuple[] | null;

const INT32_MAX = 2147483647;

/** What both collectors share: the declared streams and the outbox. */
abstract class Emitting {
  private readonly streams = new Map<string, StreamInfo>();
  private readonly defaultStream: StreamInfo | undefined;

  /** @internal */
  constructor(
    protected readonly outbox: Outbox,
    outputs: readonly OutputStream[],
  ) {
    for (const o of outputs) this.streams.set(o.id, streamInfo(o.id, o.fields, o.direct));
    this.defaultStream = this.streams.get(DEFAULT_STREAM);
  }

  /** Reports an error to the task's status (`gale status`, node log); the task goes on. */
  reportError(err: unknown): void {
    this.outbox.error(errorMessage(err));
  }

  protected stream(id: string, values: readonly Value[], directTask: number): StreamInfo {
    const s = id === DEFAULT_STREAM && this.defaultStream !== undefined ? this.defaultStream : this.streams.get(id || DEFAULT_STREAM);
    if (s === undefined) {
      const declared = [...this.streams.keys()].join(", ") || "none";
      throw new EmitError(`emit on undeclared stream '${id}' (declared streams: ${declared})`);
    }
    if (!Array.isArray(values)) {
      throw new EmitError(`emit on stream '${s.id}': values must be an array, got ${typeof values}`);
    }
    if (values.length !== s.fields.length) {
      throw new EmitError(
        `emit on stream '${s.id}' has ${values.length} value${values.length === 1 ? "" : "s"} for ` +
          `${s.fields.length} field${s.fields.length === 1 ? "" : "s"} (${s.fields.join(", ")})`,
      );
    }
    if (s.direct) {
      if (!Number.isInteger(directTask) || directTask < 1 || directTask > INT32_MAX) {
        throw new EmitError(`emit on direct stream '${s.id}' needs a destination task (emitDirect), got ${directTask}`);
      }
    } else if (directTask !== 0) {
      throw new EmitError(`emitDirect on stream '${s.id}', which is not declared direct`);
    }
    return s;
  }
}

/**
 * BoltCollector is what a bolt emits, acks and fails through. Emits are
 * checked against the streams declared in the topology before they are
 * queued, and queued in call order with the acks (see AckOrder).
 */
export class BoltCollector extends Emitting {
  /** @internal inputs delivered and not yet acked or failed. */
  held = 0;

  /** Emits on the default stream, anchored to anchors (null: unanchored). */
  emit(anchors: Anchors, values: readonly Value[]): void {
    this.emitTo(DEFAULT_STREAM, anchors, values);
  }

  /** Emits on a named stream, anchored to anchors (null: unanchored). */
  emitTo(stream: string, anchors: Anchors, values: readonly Value[]): void {
    this.send(stream, anchors, values, 0);
  }

  /** Emits on a direct stream to one task, anchored to anchors. */
  emitDirect(task: number, stream: string, anchors: Anchors, values: readonly Value[]): void {
    if (task === 0) task = NaN; // 0 means "not direct" inside; reject it as a task
    this.send(stream, anchors, values, task);
  }

  /** Acks an input tuple: this task is done with it. Ticks need no ack (a no-op). */
  ack(t: Tuple): void {
    if (this.settle(t, TupleState.Acked)) this.outbox.ack(t.id);
  }

  /** Fails an input tuple: its tree fails and the spout may replay it. A no-op for ticks. */
  fail(t: Tuple): void {
    if (this.settle(t, TupleState.Failed)) this.outbox.fail(t.id);
  }

  /**
   * Says that this task still holds an input and works on it (Storm's
   * resetTimeout): the message timeout (`topology.message.timeout.secs`) of
   * its trees starts again, and their spouts do not replay them meanwhile.
   * For an input kept longer than the timeout on purpose (a window until it
   * fires, a batch until it is written), call it at intervals shorter than
   * the timeout, a third of it say, until you ack or fail the input. A no-op
   * for ticks.
   */
  resetTimeout(t: Tuple): void {
    if (!(t instanceof Tuple)) throw new TypeError(`resetTimeout takes an input Tuple, got ${typeof t}`);
    if (t.id === 0) return;
    if (t.state !== TupleState.Pending) {
      throw new EmitError(`reset timeout of input ${t.id}, which was already ${t.state === TupleState.Acked ? "acked" : "failed"}`);
    }
    this.outbox.resetTimeout(t.id);
  }

  private settle(t: Tuple, to: TupleState): boolean {
    if (!(t instanceof Tuple)) throw new TypeError(`ack/fail takes an input Tuple, got ${typeof t}`);
    if (t.id === 0) return false; // ticks (and unanchored system tuples) are not acked
    if (t.state !== TupleState.Pending) {
      throw new EmitError(`input ${t.id} was already ${t.state === TupleState.Acked ? "acked" : "failed"}`);
    }
    t.state = to;
    this.held--;
    return true;
  }

  private send(stream: string, anchors: Anchors, values: readonly Value[], directTask: number): void {
    const s = this.stream(stream, values, directTask);
    let one: Tuple | null = null;
    let many: readonly Tuple[] | null = null;
    if (anchors instanceof Tuple) {
      checkAnchor(anchors);
      one = anchors;
    } else if (anchors !== null && anchors !== undefined) {
      if (!Array.isArray(anchors)) throw new EmitError(`anchors must be a Tuple, an array of Tuples or null`);
      for (const a of anchors) checkAnchor(a);
      many = anchors;
    }
    this.outbox.emit(s, values, one, many, 0, directTask);
  }
}

function checkAnchor(a: unknown): void {
  if (!(a instanceof Tuple)) throw new EmitError(`an anchor must be an input Tuple, got ${typeof a}`);
  if (a.state !== TupleState.Pending) {
    // The node no longer holds it: the emit would be refused there, and
    // refusing it here is what lets acks be reordered safely (AckOrder).
    throw new EmitError(`emit anchored to input ${a.id}, which was already ${a.state === TupleState.Acked ? "acked" : "failed"}`);
  }
}

/** SpoutCollector is what a spout emits through. */
export class SpoutCollector extends Emitting {
  /** @internal emits since the runtime last reset it (per next request). */
  emitted = 0;
  /** @internal set by end(). */
  ended = false;

  /**
   * Emits on the default stream. A messageId (a safe integer >= 1) makes
   * the emit reliable: the spout's ack or fail is called with it when its
   * tree completes or fails. Without one the tuple is not tracked.
   */
  emit(values: readonly Value[], messageId?: number): void {
    this.send(DEFAULT_STREAM, values, messageId, 0);
  }

  /** Emits on a named stream; messageId as for emit. */
  emitTo(stream: string, values: readonly Value[], messageId?: number): void {
    this.send(stream, values, messageId, 0);
  }

  /** Emits on a direct stream to one task; messageId as for emit. */
  emitDirect(task: number, stream: string, values: readonly Value[], messageId?: number): void {
    if (task === 0) task = NaN;
    this.send(stream, values, messageId, task);
  }

  /**
   * Declares end of input: the spout will emit nothing new, though it may
   * still replay failed messages. Downstream bolts get their finish hook
   * once every tree is done.
   */
  end(): void {
    this.ended = true;
  }

  private send(stream: string, values: readonly Value[], messageId: number | undefined, directTask: number): void {
    const s = this.stream(stream, values, directTask);
    const id = messageId ?? 0;
    if (id !== 0 && !(Number.isSafeInteger(id) && id > 0)) {
      throw new EmitError(`message id must be a safe integer >= 1, got ${messageId}`);
    }
    this.outbox.emit(s, values, null, null, id, directTask);
    this.emitted++;
  }
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
