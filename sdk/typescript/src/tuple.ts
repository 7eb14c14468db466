import { type Value, toNumber } from "./values";

/** The stream plain emits go to. */
export const DEFAULT_STREAM = "default";
/** The stream of tick tuples. */
export const TICK_STREAM = "__tick";
/** The source component of tick tuples. */
export const SYSTEM_COMPONENT = "__system";

/**
 * Source describes where tuples come from: the emitting component, the
 * stream and its field names. One Source is shared, read-only, by every
 * tuple of that stream.
 */
export class Source {
  private readonly index: Map<string, number>;

  constructor(
    readonly component: string,
    readonly stream: string,
    readonly fields: readonly string[],
  ) {
    this.index = new Map(fields.map((f, i) => [f, i]));
  }

  /** The position of a field name, or -1. */
  fieldIndex(name: string): number {
    return this.index.get(name) ?? -1;
  }
}

/** The Source of every tick tuple. */
export const TICK_SOURCE = new Source(SYSTEM_COMPONENT, TICK_STREAM, []);

// Tuple states: an input is acked or failed once.
export const enum TupleState {
  Pending = 0,
  Acked = 1,
  Failed = 2,
}

/**
 * Tuple is one input tuple as a bolt sees it. A bolt may keep tuples past
 * execute (to ack later, or to anchor a later emit to them): they stay
 * valid until acked or failed.
 */
export class Tuple {
  /** @internal acked, failed or pending; managed by the collector. */
  state: TupleState = TupleState.Pending;

  constructor(
    /** The input id the node gave the tuple (0 for ticks). */
    readonly id: number,
    /** The fields, in the order of source.fields. */
    readonly values: readonly Value[],
    /** The emitting component and stream. */
    readonly source: Source,
    /** The emitting task's global id (0 for ticks). */
    readonly sourceTask: number,
  ) {}

  /** The stream the tuple came on. */
  get stream(): string {
    return this.source.stream;
  }

  /** The id of the emitting component. */
  get sourceComponent(): string {
    return this.source.component;
  }

  /** The field names, in order. */
  get fields(): readonly string[] {
    return this.source.fields;
  }

  /** Whether this is a tick tuple (stream __tick); ticks need no ack. */
  get isTick(): boolean {
    return this.source === TICK_SOURCE;
  }

  /** The field with the given name, or undefined when the stream has no such field. */
  get(name: string): Value | undefined {
    const i = this.source.fieldIndex(name);
    return i < 0 ? undefined : this.values[i];
  }

  /** The field with the given name; throws when the stream has no such field. */
  value(name: string): Value {
    return this.field(name);
  }

  /**
   * The field by name or position; throws a RangeError naming the stream
   * and its fields when the stream has no such field (a typo in a field
   * name must not read as an empty value).
   */
  private field(field: string | number): Value {
    const i = typeof field === "number" ? field : this.source.fieldIndex(field);
    if (!Number.isInteger(i) || i < 0 || i >= this.values.length) {
      const what = typeof field === "number" ? `field ${field}` : `field '${field}'`;
      throw new RangeError(
        `no ${what} on ${this.source.component}:${this.source.stream} (fields: ${this.source.fields.join(", ") || "none"})`,
      );
    }
    return this.values[i];
  }

  /**
   * A field as a string: by name or position; "" unless it is a string.
   * A name or position the stream does not have throws a RangeError.
   */
  getString(field: string | number): string {
    const v = this.field(field);
    return typeof v === "string" ? v : "";
  }

  /**
   * A field as an int64 (bigint): by name or position; undefined unless it
   * is one. A name or position the stream does not have throws a RangeError.
   */
  getInt(field: string | number): bigint | undefined {
    const v = this.field(field);
    return typeof v === "bigint" ? v : undefined;
  }

  /**
   * A field as a number: a double, or an int64 within the safe integer
   * range; undefined otherwise. A name or position the stream does not
   * have throws a RangeError.
   */
  getNumber(field: string | number): number | undefined {
    return toNumber(this.field(field));
  }

  /** For logs: "input 7 from conf-spout:default (sent by task 1)". */
  describe(): string {
    if (this.isTick) return "tick tuple";
    return `input ${this.id} from ${this.source.component}:${this.source.stream} (sent by task ${this.sourceTask})`;
  }
}
