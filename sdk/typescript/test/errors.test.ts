// Error paths: emits the node would refuse, acks twice, bad settings, and a
// node that refuses the hello.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { BoltCollector, SpoutCollector, EmitError } from "../src/collector";
import { Outbox } from "../src/outbox";
import { Source, Tuple } from "../src/tuple";
import { Bolt, runTask, AttachError, Config, type Value } from "../src";
import { AttachServiceService } from "../src/gen/gale/v1/attach";

const outputs = [
  { id: "default", fields: ["word"], direct: false },
  { id: "d", fields: ["word"], direct: true },
];
const src = new Source("spout", "default", ["a"]);

test("emits are checked against the declared outputs", () => {
  const c = new BoltCollector(new Outbox(), outputs);
  const t = new Tuple(1, ["x"], src, 1);
  assert.throws(() => c.emitTo("nope", t, ["x"]), (e: Error) => e instanceof EmitError && /undeclared stream 'nope'.*default, d/.test(e.message));
  assert.throws(() => c.emit(t, ["x", "y"]), /stream 'default' has 2 values for 1 field \(word\)/);
  assert.throws(() => c.emit(t, []), /stream 'default' has 0 values for 1 field/);
  assert.throws(() => c.emitTo("d", t, ["x"]), /direct stream 'd' needs a destination task/);
  assert.throws(() => c.emitDirect(3, "default", t, ["x"]), /not declared direct/);
  assert.throws(() => c.emitDirect(0, "d", t, ["x"]), /needs a destination task/);
  assert.throws(() => c.emit(t, [undefined as unknown as Value]), /undefined is not a tuple value/);
  assert.throws(
    () => c.emit(t, ["x".repeat(16 << 20)]),
    (e: Error) => e instanceof EmitError && /stream 'default': the tuple takes 1677\d+ bytes encoded, over the 16646144 a node accepts/.test(e.message),
  );
  c.emitDirect(3, "d", t, ["x"]);
});

test("acks happen once, and acked inputs cannot anchor", () => {
  const c = new BoltCollector(new Outbox(), outputs);
  const t = new Tuple(1, ["x"], src, 1);
  c.ack(t);
  assert.throws(() => c.ack(t), /input 1 was already acked/);
  assert.throws(() => c.fail(t), /input 1 was already acked/);
  assert.throws(() => c.emit(t, ["x"]), /anchored to input 1, which was already acked/);
  const u = new Tuple(2, ["x"], src, 1);
  c.fail(u);
  assert.throws(() => c.emit([u], ["x"]), /input 2, which was already failed/);
  assert.throws(() => c.emit({} as Tuple, ["x"]), /anchors must be|an anchor must be an input Tuple/);
});

test("spout message ids must be safe positive integers", () => {
  const c = new SpoutCollector(new Outbox(), outputs);
  assert.throws(() => c.emit(["x"], -1), /message id must be a safe integer >= 1/);
  assert.throws(() => c.emit(["x"], 2 ** 53), /message id/);
  c.emit(["x"], 5);
  c.emit(["x"]);
  assert.equal(c.emitted, 2);
});

test("config getters say what is wrong", () => {
  const cfg = new Config(new Map<string, Value>([["n", 42n], ["s", "x"], ["d", 1.5]]));
  assert.equal(cfg.getNumber("n", 0), 42);
  assert.equal(cfg.getInt("n", 0n), 42n);
  assert.equal(cfg.getString("missing", "def"), "def");
  assert.throws(() => cfg.getString("n"), /config n: want a string, got 42n/);
  assert.throws(() => cfg.getInt("d", 0n), /want an integer, got 1.5/);
});

class Nop extends Bolt {
  execute(): void {}
}

test("a missing environment is a clear error", async () => {
  await assert.rejects(runTask(new Nop(), { env: {} }), /GALE_ATTACH_ADDR is not set/);
  await assert.rejects(
    runTask(new Nop(), { env: { GALE_ATTACH_ADDR: "127.0.0.1:1", GALE_TOPOLOGY: "t", GALE_COMPONENT: "c", GALE_TASK_ID: "x" } }),
    /GALE_TASK_ID="x" is not a non-negative integer/,
  );
});

test("a refused hello rejects with the node's status and message", async () => {
  const server = new grpc.Server();
  server.addService(AttachServiceService, {
    attach: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      call.once("data", () => call.emit("error", { code: grpc.status.PERMISSION_DENIED, details: "bad token for component c" }));
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  try {
    await assert.rejects(
      runTask(new Nop(), { addr: `127.0.0.1:${port}`, topology: "t", component: "c", taskId: 1, token: "wrong" }),
      (e: Error) => e instanceof AttachError && /PERMISSION_DENIED: bad token for component c/.test(e.message),
    );
  } finally {
    server.forceShutdown();
  }
});

test("an unreachable node is an error", async () => {
  const server = new grpc.Server();
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  server.forceShutdown(); // nothing listens there now
  await assert.rejects(runTask(new Nop(), { addr: `127.0.0.1:${port}`, topology: "t", component: "c" }), /UNAVAILABLE/);
});
