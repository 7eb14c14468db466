// Local Attach benchmark: this process plays the node (a grpc-js server on
// 127.0.0.1:0) and feeds a split bolt, started as a subprocess with the
// GALE_* environment, with input batches of 512 sentences, keeping at most
// 2048 inputs unacked (the node's default topology.external.max.inflight).
// It counts the emits and acks that come back and reports sentences/s.
//
// The node side is kept cheap on purpose (batches are encoded once and
// replayed; replies are counted by skimming their bytes, not decoded), so
// that the number measures the SDK process, which has a core of its own.
//
//   node dist/bench/split-bench.js [seconds per mode] [mode...]
//
// Modes: "strict" (the default ack order) and "batch" (GALE_ACK_ORDER=batch).

import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { AttachResponse, AttachServiceService, TaskContext } from "../src/gen/gale/v1/attach";
import { Reader } from "../src/wire";

const BATCH = 512;
const MAX_INFLIGHT = 2048;
const WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "lazy", "Dog", "stream", "never", "stops", "42", "baker", "opens", "Shop", "street"];

/** Sentences of six words with some punctuation and case, as in a text. */
function sentence(i: number): string {
  const w: string[] = [];
  for (let k = 0; k < 6; k++) w.push(WORDS[(i * 7 + k * 5 + (i >> 3)) % WORDS.length]);
  return `${w.slice(0, 3).join(" ")}, ${w.slice(3).join(" ")}.`;
}

/** K distinct batches of BATCH sentences, each encoded once. */
function batches(k: number): Buffer[] {
  const out: Buffer[] = [];
  let id = 1;
  for (let b = 0; b < k; b++) {
    const tuples = [];
    for (let i = 0; i < BATCH; i++, id++) {
      tuples.push({
        id: BigInt(id),
        stream: "",
        sourceTask: 1,
        destTask: 0,
        values: [{ kind: { $case: "stringValue" as const, value: sentence(id) } }],
        roots: [],
        edges: [],
      });
    }
    out.push(Buffer.from(AttachResponse.encode({ frame: { $case: "inputs", value: { tuples } } }).finish()));
  }
  return out;
}

const welcome = Buffer.from(
  AttachResponse.encode({
    frame: {
      $case: "welcome",
      value: TaskContext.fromJSON({
        topology: "bench",
        topologyId: "bench-1",
        component: "split",
        taskId: 2,
        taskIndex: 0,
        componentTasks: { sentences: { ids: [1] }, split: { ids: [2] } },
        outputs: [{ id: "default", fields: ["word"] }],
        inputs: [{ component: "sentences", stream: "default", grouping: { type: "GROUPING_TYPE_SHUFFLE" } }],
        sourceFields: { "sentences:default": { names: ["sentence"] } },
        heartbeatMillis: 1000,
      }),
    },
  }).finish(),
);

/** Counts emits and acked/failed ids in one AttachRequest without decoding values. */
function skim(b: Buffer, c: { emits: number; acks: number; fails: number }): void {
  const r = new Reader(b);
  const tag = r.varint();
  if (tag === 0x12) {
    const e = r.lenEnd();
    while (r.pos < e) {
      r.varint(); // EmitBatch.emits tag
      r.pos = r.lenEnd();
      c.emits++;
    }
  } else if (tag === 0x1a) {
    const e = r.lenEnd();
    while (r.pos < e) {
      const t = r.varint();
      const pe = r.lenEnd();
      let n = 0;
      while (r.pos < pe) {
        r.varint();
        n++;
      }
      if (t === 0x0a) c.acks += n;
      else c.fails += n;
    }
  }
}

interface Result {
  mode: string;
  sentences: number;
  emits: number;
  seconds: number;
}

async function runMode(mode: string, seconds: number, data: Buffer[]): Promise<Result> {
  const identity = (b: Buffer) => b;
  const def = { attach: { ...AttachServiceService.attach, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } };
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 << 20 });
  const c = { emits: 0, acks: 0, fails: 0 };
  let result: (r: Result) => void = () => {};
  const done = new Promise<Result>((r) => (result = r));
  server.addService(def as unknown as grpc.ServiceDefinition, {
    attach: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      let sent = 0;
      let next = 0;
      let started = 0;
      let base = { emits: 0, acks: 0 };
      let measuring = false;
      const pump = () => {
        while (sent - (c.acks + c.fails) + BATCH <= MAX_INFLIGHT) {
          call.write(data[next]);
          next = (next + 1) % data.length;
          sent += BATCH;
        }
      };
      call.on("data", (b: Buffer) => {
        if (b[0] === 0x0a) {
          // hello: welcome, then a warm-up second, then measure.
          call.write(welcome);
          pump();
          setTimeout(() => {
            measuring = true;
            started = performance.now();
            base = { emits: c.emits, acks: c.acks };
            setTimeout(() => {
              const secs = (performance.now() - started) / 1000;
              result({ mode, sentences: c.acks - base.acks, emits: c.emits - base.emits, seconds: secs });
              call.end();
            }, seconds * 1000);
          }, 1000);
          return;
        }
        skim(b, c);
        if (measuring || started === 0) pump();
      });
      call.on("error", () => {});
    },
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  const child = spawn(process.execPath, [path.join(__dirname, "split-bolt.js")], {
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      GALE_ATTACH_ADDR: `127.0.0.1:${port}`,
      GALE_TOPOLOGY: "bench",
      GALE_COMPONENT: "split",
      GALE_TASK_ID: "2",
      GALE_TOKEN: "",
      GALE_ACK_ORDER: mode,
    },
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const r = await Promise.race([done, exited.then((code) => Promise.reject(new Error(`split bolt exited early (${code})`)))]);
  const code = await exited;
  server.forceShutdown();
  if (code !== 0) throw new Error(`split bolt exited with ${code}`);
  return r;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const modes = process.argv.length > 3 ? process.argv.slice(3) : ["strict", "batch"];
  const data = batches(16);
  for (const mode of modes) {
    const r = await runMode(mode, seconds, data);
    const sps = r.sentences / r.seconds;
    console.log(
      `split bolt, ack order ${r.mode.padEnd(6)}: ${Math.round(sps).toLocaleString("en-US")} sentences/s, ` +
        `${Math.round(r.emits / r.seconds).toLocaleString("en-US")} emits/s ` +
        `(${(r.emits / r.sentences).toFixed(2)} words/sentence, ${r.seconds.toFixed(1)} s, batches of ${BATCH})`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
