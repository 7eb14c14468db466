// Errors shared by the collector and the outbox.

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
