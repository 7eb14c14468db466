// The ordered outgoing queue of an Attach stream.
//
// ATTACH.md: an emit anchored to an input must reach the node before that
// input's ack, so emits and acks share one ordered queue, and only
// consecutive items of the same kind are merged into one frame. The Outbox
// encodes items straight into frames (wire.ts) as they are queued; the
// runtime takes the finished frames and writes them at each flush point.

import { Writer, varintSize } from "./wire";
import { EmitError } from "./errors";
import type { Value } from "./values";
import type { Tuple } from "./tuple";

/**
 * How acks are ordered relative to emits.
 *
 * - "strict": every item keeps its place; a bolt that emits and acks per
 *   input (emit, emit, ack, emit, ack...) sends two frames per input.
 * - "batch" (the default; sdk/ATTACH.md and the conformance suite allow
 *   it): acks and fails are held back and sent after the emits queued
 *   up to the next flush point (the end of the input batch). That still
 *   obeys ATTACH.md's ordering rule (every emit anchored to an input goes
 *   before its ack, since an emit anchored to an acked input is refused
 *   locally), and it turns a batch of inputs into two frames instead of two
 *   per input: each gRPC message costs a grpc-js stream write and a socket
 *   write, so this is several times faster for split-shaped bolts.
 */
export type AckOrder = "strict" | "batch";

/** Where an emit goes, precomputed from the welcome's outputs. */
export interface StreamInfo {
  readonly id: string;
  readonly fields: readonly string[];
  readonly direct: boolean;
  /** The Emit.stream field (tag, length, name); empty for "default". */
  readonly encoded: Buffer;
}

export function streamInfo(id: string, fields: readonly string[], direct: boolean): StreamInfo {
  let encoded: Buffer = Buffer.alloc(0);
  if (id !== "default") {
    const w = new Writer(16 + id.length * 3);
    w.byte(0x0a); // Emit.stream = 1
    w.string(id);
    encoded = w.take();
  }
  return { id, fields, direct, encoded };
}

/** Log levels as gale.v1.LogLevel numbers. */
export const LOG_LEVELS = { debug: 1, info: 2, warn: 3, error: 4 } as const;

// AttachRequest frames without a payload worth encoding at run time.
const HEARTBEAT = Buffer.from([0x2a, 0x00]); // heartbeat = 5, empty
const FINISHED = Buffer.from([0x42, 0x00]); // finished = 8, empty
const NEXT_DONE = Buffer.from([0x32, 0x00]); // next_done = 6, end_of_input false
const NEXT_DONE_END = Buffer.from([0x32, 0x02, 0x08, 0x01]); // end_of_input true

// An emits frame is closed (and a new one started) past this many bytes:
// far below the 16 MiB a node receives.
const MAX_EMITS_FRAME = 1 << 20;

/**
 * The largest tuple an emit may encode to: what a node accepts in a frame
 * of its own (16 MiB less 64 KiB, the Go runtime's transfer.MaxTupleBytes),
 * less 64 KiB more for what the node adds when it passes the tuple on. A
 * larger message would end the task's stream.
 */
export const MAX_TUPLE_BYTES = (16 << 20) - (128 << 10);

export class Outbox {
  private readonly w = new Writer();
  private readonly aw = new Writer(4096);
  private emitsOpen = false;
  private acked: number[] = [];
  private failed: number[] = [];
  private reset: number[] = []; // timeout resets, read by the node before acks
  private frames: Buffer[] = [];
  private readonly deferAcks: boolean;

  constructor(order: AckOrder = "batch") {
    this.deferAcks = order === "batch";
  }

  /** Whether anything is waiting to be taken. */
  get pending(): boolean {
    return (
      this.emitsOpen || this.acked.length > 0 || this.failed.length > 0 || this.reset.length > 0 || this.frames.length > 0
    );
  }

  /**
   * Queues one emit. values are checked as they are encoded: on a bad value
   * nothing of this emit is kept and a TypeError says which value.
   */
  emit(
    stream: StreamInfo,
    values: readonly Value[],
    anchor: Tuple | null,
    anchors: readonly Tuple[] | null,
    messageId: number,
    directTask: number,
  ): void {
    if (!this.emitsOpen) {
      if (!this.deferAcks) this.closeAcks();
      this.emitsOpen = true;
    } else if (this.w.pos > MAX_EMITS_FRAME) {
      this.closeEmits();
      this.emitsOpen = true;
    }
    const w = this.w;
    const start = w.pos;
    let i = 0;
    try {
      w.byte(0x0a); // EmitBatch.emits = 1
      const at = w.beginLen();
      const enc = stream.encoded;
      if (enc.length > 0) {
        w.ensure(enc.length);
        enc.copy(w.buf, w.pos);
        w.pos += enc.length;
      }
      for (; i < values.length; i++) {
        w.byte(0x12); // Emit.values = 2
        const vat = w.beginLen();
        w.valueBody(values[i]);
        w.endLen(vat);
      }
      if (anchor !== null && anchor.id > 0) {
        w.byte(0x1a); // Emit.anchors = 3, packed
        const aat = w.beginLen();
        w.varint(anchor.id);
        w.endLen(aat);
      } else if (anchors !== null && anchors.length > 0) {
        w.byte(0x1a);
        const aat = w.beginLen();
        for (let i = 0; i < anchors.length; i++) if (anchors[i].id > 0) w.varint(anchors[i].id);
        if (w.pos === aat + 1) w.pos = aat - 1; // only ticks: no anchors field
        else w.endLen(aat);
      }
      if (messageId !== 0) {
        w.byte(0x20); // Emit.message_id = 4
        w.varint(messageId);
      }
      if (directTask !== 0) {
        w.byte(0x28); // Emit.direct_task = 5
        w.varint(directTask);
      }
      w.endLen(at);
    } catch (e) {
      w.pos = start;
      if (start === 0) this.emitsOpen = false;
      const why = e instanceof Error ? e.message : String(e);
      throw new TypeError(`emit on stream '${stream.id}': value ${i} (field '${stream.fields[i] ?? "?"}'): ${why}`);
    }
    const size = w.pos - start;
    if (size > MAX_TUPLE_BYTES) {
      w.pos = start;
      if (start === 0) this.emitsOpen = false;
      throw new EmitError(`emit on stream '${stream.id}': the tuple takes ${size} bytes encoded, over the ${MAX_TUPLE_BYTES} a node accepts`);
    }
    if (start > 0 && w.pos > MAX_EMITS_FRAME) {
      // It would take the frame over the limit: the frame goes without
      // it, and it starts the next one.
      const entry = Buffer.from(w.buf.subarray(start, w.pos));
      w.pos = start;
      this.closeEmits();
      this.emitsOpen = true;
      w.ensure(entry.length);
      entry.copy(w.buf, 0);
      w.pos = entry.length;
    }
  }

  ack(id: number): void {
    if (!this.deferAcks) this.closeEmits();
    this.acked.push(id);
  }

  fail(id: number): void {
    if (!this.deferAcks) this.closeEmits();
    this.failed.push(id);
  }

  /** Queues a timeout reset of input id (it goes with the next acks frame). */
  resetTimeout(id: number): void {
    this.reset.push(id);
  }

  log(level: number, message: string): void {
    this.record(0x22, level, message); // AttachRequest.log = 4
  }

  error(message: string): void {
    this.record(0x3a, LOG_LEVELS.error, message); // AttachRequest.error = 7
  }

  /**
   * Queues a heartbeat; busyMillis > 0 says that the component's call of
   * hook has run that long (Heartbeat.busy_millis, busy_in).
   */
  heartbeat(busyMillis = 0, hook = ""): void {
    if (busyMillis <= 0) {
      this.push(HEARTBEAT);
      return;
    }
    const w = new Writer(16 + hook.length * 3);
    w.byte(0x08); // Heartbeat.busy_millis = 1
    w.varint(Math.min(Math.floor(busyMillis), 0xffffffff));
    w.byte(0x12); // Heartbeat.busy_in = 2
    w.string(hook);
    this.push(frame(0x2a, w.buf, w.pos)); // AttachRequest.heartbeat = 5
  }

  nextDone(endOfInput: boolean): void {
    this.push(endOfInput ? NEXT_DONE_END : NEXT_DONE);
  }

  finished(): void {
    this.push(FINISHED);
  }

  /** Closes what is open and returns every frame, in order. */
  take(): Buffer[] {
    this.closeEmits();
    this.closeAcks();
    const out = this.frames;
    this.frames = [];
    return out;
  }

  private record(tag: number, level: number, message: string): void {
    const w = new Writer(16 + message.length * 3);
    w.byte(0x08); // LogRecord.level = 1
    w.varint(level);
    w.byte(0x12); // LogRecord.message = 2
    w.string(message);
    this.push(frame(tag, w.buf, w.pos));
  }

  /** Queues a finished frame after everything queued so far. */
  private push(f: Buffer): void {
    this.closeEmits();
    this.closeAcks();
    this.frames.push(f);
  }

  private closeEmits(): void {
    if (!this.emitsOpen) return;
    this.emitsOpen = false;
    if (this.w.pos === 0) return;
    this.frames.push(frame(0x12, this.w.buf, this.w.pos)); // AttachRequest.emits = 2
    this.w.pos = 0;
  }

  private closeAcks(): void {
    if (this.acked.length === 0 && this.failed.length === 0 && this.reset.length === 0) return;
    const w = this.aw;
    w.pos = 0;
    packed(w, 0x0a, this.acked); // InputAcks.acked = 1
    packed(w, 0x12, this.failed); // InputAcks.failed = 2
    packed(w, 0x1a, this.reset); // InputAcks.reset_timeout = 3
    this.frames.push(frame(0x1a, w.buf, w.pos)); // AttachRequest.acks = 3
    this.acked.length = 0;
    this.failed.length = 0;
    this.reset.length = 0;
  }
}

function packed(w: Writer, tag: number, ids: number[]): void {
  if (ids.length === 0) return;
  w.byte(tag);
  const at = w.beginLen();
  for (let i = 0; i < ids.length; i++) w.varint(ids[i]);
  w.endLen(at);
}

/** An AttachRequest with one length-delimited field (tag) holding body[0:len]. */
function frame(tag: number, body: Buffer, len: number): Buffer {
  const h = 1 + varintSize(len);
  const out = Buffer.allocUnsafe(h + len);
  out[0] = tag;
  let n = len;
  let p = 1;
  while (n >= 128) {
    out[p++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[p] = n;
  body.copy(out, h, 0, len);
  return out;
}
