// Errors shared by the modules of the SDK: the collector and the outbox
// (EmitError), the Attach session, and the TLS settings that run and submit
// share (AttachError).

/**
 * EmitError is thrown by emit calls that the node would refuse: an
 * undeclared stream, a wrong number of values, a direct emit on a plain
 * stream (or the reverse), an anchor that was already acked or failed, a
 * tuple larger than a node accepts.
 * Thrown inside execute, it fails the input and is reported as a task
 * error, like any exception.
 */
export class EmitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmitError";
  }
}

/**
 * AttachError is thrown (rejected) when a task ends with an error, and for
 * settings that cannot be used: a GALE_* variable or option that is missing
 * or malformed, TLS files that cannot be read or do not fit together (run,
 * runTask, and submit, which reads the same GALE_TLS_* variables).
 */
export class AttachError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AttachError";
  }
}
