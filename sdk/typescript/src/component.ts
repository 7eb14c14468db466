import type { BoltCollector, SpoutCollector } from "./collector";
import type { Logger, TaskContext } from "./context";
import type { Tuple } from "./tuple";

/** A hook's result: synchronous, or a promise the runtime waits for. */
export type MaybePromise = void | Promise<void>;

/**
 * Bolt processes tuples. One instance runs per task. The runtime calls its
 * hooks one at a time, in order: execute gets the inputs in the order the
 * node sent them, and when a hook returns a promise the next call waits for
 * it (so async code is fine, but each awaited input holds up the next).
 *
 * execute must eventually ack or fail every input (now, or later with a
 * kept tuple), or its tree times out and replays. An exception (or a
 * rejected promise) in execute fails the input and is reported as a task
 * error; the task goes on.
 */
export abstract class Bolt {
  /** The task's context; set before prepare. */
  context!: TaskContext;
  /** Emit, ack and fail through this; set before prepare. */
  collector!: BoltCollector;

  /** The task's logger (log frames in the node log). */
  get log(): Logger {
    return this.context.log;
  }

  /** Prepares the task. A throw ends the task with that error. */
  prepare(_context: TaskContext, _collector: BoltCollector): MaybePromise {}

  /** Processes one input tuple; tick tuples come here too (tuple.isTick). */
  abstract execute(tuple: Tuple): MaybePromise;

  /**
   * Called once at end of input (finite topologies): every upstream task
   * ended and every input was delivered. Emit final results here and ack
   * what is still held; the runtime then tells the node it finished.
   */
  finish(): MaybePromise {}

  /** Releases resources when the task stops; called once. */
  cleanup(): MaybePromise {}
}

/**
 * Spout is a source of tuples. One instance runs per task; the runtime
 * calls its hooks one at a time.
 *
 * nextTuple is called when the node asks for tuples; it emits what is
 * ready (up to max) and returns, and is called again in the same request
 * while it keeps emitting and the node wants more. ack and fail report the
 * outcome of reliable emits by message id; a spout replays a failed message
 * by emitting it again from nextTuple.
 */
export abstract class Spout {
  /** The task's context; set before open. */
  context!: TaskContext;
  /** Emit through this; set before open. */
  collector!: SpoutCollector;

  /** The task's logger (log frames in the node log). */
  get log(): Logger {
    return this.context.log;
  }

  /** Prepares the task. A throw ends the task with that error. */
  open(_context: TaskContext, _collector: SpoutCollector): MaybePromise {}

  /** Emits up to max tuples that are ready. */
  abstract nextTuple(max: number): MaybePromise;

  /** The tree of a reliable emit completed. */
  ack(_messageId: number): MaybePromise {}

  /** The tree of a reliable emit failed or timed out. */
  fail(_messageId: number): MaybePromise {}

  /** The topology was activated. */
  activate(): MaybePromise {}

  /** The topology was deactivated: no nextTuple until activate. */
  deactivate(): MaybePromise {}

  /** Releases resources when the task stops; called once. */
  close(): MaybePromise {}
}
