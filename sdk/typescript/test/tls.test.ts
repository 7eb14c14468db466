// Mutual TLS to a node: run and submit read GALE_TLS_CA, GALE_TLS_CERT and
// GALE_TLS_KEY (or the tls option) and connect to a real grpc-js server on
// 127.0.0.1 that requires a client certificate of the test CA, as a node
// with --tls-ca does. The certificates are made by openssl (test/certs.ts).

import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Bolt, runTask, submit, channelCredentials, AttachError, TopologyBuilder, type RunOptions, type TaskContext } from "../src";
import { AttachServiceService, TaskContext as ProtoTaskContext, type AttachHello, type AttachRequest, type AttachResponse } from "../src/gen/gale/v1/attach";
import { CoordinatorServiceService, type SubmitTopologyRequest } from "../src/gen/gale/v1/coordinator";

import { makeCerts, type Certs } from "./certs";

let certs: Certs;
before(() => {
  certs = makeCerts();
});
after(() => {
  fs.rmSync(certs.dir, { recursive: true, force: true });
});

const read = (f: string): Buffer => fs.readFileSync(f);

/** Server credentials of a node with TLS: its certificate, and client certificates of ca required. */
function nodeCredentials(o: { ca?: string; cert?: string; key?: string } = {}): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    read(o.ca ?? certs.ca),
    [{ private_key: read(o.key ?? certs.serverKey), cert_chain: read(o.cert ?? certs.server) }],
    true,
  );
}

const WELCOME = ProtoTaskContext.fromPartial({
  topology: "t",
  topologyId: "t-1",
  component: "c",
  taskId: 1,
  componentTasks: { c: { ids: [1] } },
  heartbeatMillis: 1000,
});

/** What a fake node saw. */
interface FakeNode {
  addr: string;
  /** Attach streams that reached the service (a refused handshake never does). */
  streams: number;
  hellos: AttachHello[];
  /** Common names of the client certificates of the streams. */
  peers: (string | undefined)[];
  logs: string[];
  close(): void;
}

/**
 * An Attach service on 127.0.0.1:0: it answers hello with a welcome, and
 * the bolt's first log line (sent from prepare; or the welcome itself, with
 * endOnWelcome) by ending the stream OK, which ends the task cleanly.
 */
async function fakeNode(creds: grpc.ServerCredentials, endOnWelcome = false): Promise<FakeNode> {
  const server = new grpc.Server();
  const node: FakeNode = { addr: "", streams: 0, hellos: [], peers: [], logs: [], close: () => server.forceShutdown() };
  server.addService(AttachServiceService, {
    attach: (call: grpc.ServerDuplexStream<AttachRequest, AttachResponse>) => {
      node.streams++;
      const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
      node.peers.push(Array.isArray(cn) ? cn.join(",") : cn);
      call.on("data", (r: AttachRequest) => {
        const f = r.frame;
        if (f?.$case === "hello") {
          node.hellos.push(f.value);
          call.write({ frame: { $case: "welcome", value: WELCOME } });
          if (endOnWelcome) call.end();
        } else if (f?.$case === "log") {
          node.logs.push(f.value.message);
          call.end();
        }
      });
      call.on("error", () => {});
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? rej(e) : res(p))));
  node.addr = `127.0.0.1:${port}`;
  return node;
}

class Ready extends Bolt {
  prepared = false;
  override prepare(context: TaskContext): void {
    this.prepared = true;
    context.log.info("prepared over TLS");
  }
  execute(): void {}
}

/** The GALE_* environment of a managed task of component c, with the test's client files. */
function managedEnv(addr: string, tls: Partial<Record<"GALE_TLS_CA" | "GALE_TLS_CERT" | "GALE_TLS_KEY", string>>): Record<string, string> {
  return { GALE_ATTACH_ADDR: addr, GALE_TOPOLOGY: "t", GALE_COMPONENT: "c", GALE_TASK_ID: "1", GALE_TOKEN: "tok", ...tls };
}

function clientEnv(): Record<string, string> {
  return { GALE_TLS_CA: certs.ca, GALE_TLS_CERT: certs.client, GALE_TLS_KEY: certs.clientKey };
}

/** Settles like p, or rejects when p takes longer than ms: a refused connection must not hang. */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: still pending after ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(t);
  }
}

/** The task's rejection, within 5 s (half the SDK's welcome timeout, so that it is not what ended the task). */
async function refused(options: RunOptions, what: string): Promise<AttachError> {
  const settled = runTask(new Ready(), options).then(
    () => assert.fail(`${what}: the task ran`),
    (e: unknown) => e,
  );
  const e = await within(5_000, settled, what);
  assert.ok(e instanceof AttachError, `${what}: ${String(e)}`);
  return e;
}

test("a task with GALE_TLS_* set attaches over mutual TLS: hello, welcome, a log frame, a clean end", async () => {
  const node = await fakeNode(nodeCredentials());
  try {
    const bolt = new Ready();
    await within(10_000, runTask(bolt, { env: managedEnv(node.addr, clientEnv()) }), "runTask");
    assert.ok(bolt.prepared);
    assert.equal(node.hellos.length, 1);
    assert.equal(node.hellos[0].component, "c");
    assert.equal(node.hellos[0].token, "tok");
    assert.deepEqual(node.peers, ["gale-test-client"]); // the node saw the client's certificate
    assert.deepEqual(node.logs, ["prepared over TLS"]);
  } finally {
    node.close();
  }
});

test("the tls option works like the variables and replaces them as a whole", async () => {
  const node = await fakeNode(nodeCredentials());
  try {
    // The variables name a file that does not exist: unused, they are harmless.
    const env = managedEnv(node.addr, { GALE_TLS_CA: "/nonexistent/ca.pem", GALE_TLS_CERT: "/nonexistent/c.pem", GALE_TLS_KEY: "/nonexistent/k.pem" });
    await within(10_000, runTask(new Ready(), { env, tls: { ca: certs.ca, cert: certs.client, key: certs.clientKey } }), "runTask");
    assert.deepEqual(node.peers, ["gale-test-client"]);
  } finally {
    node.close();
  }
});

test("explicit credentials win over the GALE_TLS_* variables", async () => {
  const node = await fakeNode(grpc.ServerCredentials.createInsecure());
  try {
    const env = managedEnv(node.addr, { GALE_TLS_CA: "/nonexistent/ca.pem" });
    await within(10_000, runTask(new Ready(), { env, credentials: grpc.credentials.createInsecure() }), "runTask");
    assert.equal(node.hellos.length, 1);
    assert.deepEqual(node.peers, [undefined]);
  } finally {
    node.close();
  }
});

test("a managed process connects over TLS with no code change (run, process.env)", { timeout: 20_000 }, async () => {
  // conf-bolt sends no log from prepare: the stream ends after the welcome.
  const node = await fakeNode(nodeCredentials(), true);
  try {
    // conf-bolt is the conformance bolt: plain run(new Bolt()), no TLS code.
    const child = spawn(process.execPath, [path.join(__dirname, "conformance", "conf-bolt.js")], {
      env: { ...process.env, ...managedEnv(node.addr, clientEnv()) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const code = await within(15_000, new Promise<number | null>((res) => child.on("close", (c) => res(c))), "the component process");
    assert.equal(node.hellos.length, 1, output);
    assert.deepEqual(node.peers, ["gale-test-client"], output);
    assert.equal(code, 0, output);
  } finally {
    node.close();
  }
});

test("a node with TLS refuses a client without a certificate, of another CA, or in plaintext, without hanging", async () => {
  const node = await fakeNode(nodeCredentials());
  try {
    const base = managedEnv(node.addr, {});
    const noCert = await refused({ env: { ...base, GALE_TLS_CA: certs.ca } }, "no client certificate");
    assert.match(noCert.message, new RegExp(`^attach to ${node.addr} failed: UNAVAILABLE: .*certificate required.* \\(over TLS: CA GALE_TLS_CA=${certs.ca}, no client certificate\\)$`));
    assert.doesNotMatch(noCert.message, /\n/);
    const other = await refused(
      { env: { ...base, GALE_TLS_CA: certs.ca, GALE_TLS_CERT: certs.otherClient, GALE_TLS_KEY: certs.otherClientKey } },
      "a client certificate of another CA",
    );
    assert.match(other.message, /^attach to .* failed: UNAVAILABLE: /);
    const plain = await refused({ env: base }, "plaintext");
    assert.match(plain.message, /^attach to .* failed: UNAVAILABLE: .*\(is a node up there\? one that requires TLS needs GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY\)$/);
    assert.doesNotMatch(plain.message, /over TLS/);
    assert.equal(node.streams, 0, "a refused client reached the Attach service");
  } finally {
    node.close();
  }
});

test("the node's certificate is verified: against the CA, and for the host of the address", async () => {
  const node = await fakeNode(nodeCredentials());
  const otherNode = await fakeNode(nodeCredentials({ cert: certs.otherServer, key: certs.otherServerKey }));
  const wrongHost = await fakeNode(nodeCredentials({ cert: certs.wrongHost, key: certs.wrongHostKey }));
  try {
    const e1 = await refused({ env: managedEnv(otherNode.addr, clientEnv()) }, "a node certificate of another CA");
    assert.match(e1.message, /^attach to .* failed: UNAVAILABLE: .*\(over TLS: CA GALE_TLS_CA=.*, certificate GALE_TLS_CERT=.*\)$/);
    const e2 = await refused({ env: managedEnv(wrongHost.addr, clientEnv()) }, "a node certificate for another host");
    assert.match(e2.message, /^attach to .* failed: UNAVAILABLE: /);
    assert.equal(otherNode.streams + wrongHost.streams, 0);
    // A name of the node's certificate (DNS:localhost) is good too.
    await within(10_000, runTask(new Ready(), { env: managedEnv(`localhost:${node.addr.split(":")[1]}`, clientEnv()) }), "localhost");
    assert.equal(node.hellos.length, 1);
  } finally {
    node.close();
    otherNode.close();
    wrongHost.close();
  }
});

test("unusable TLS settings are an AttachError naming the variable or option, the file and the problem", async () => {
  const env = (tls: Record<string, string>) => managedEnv("127.0.0.1:1", tls);
  const missing = path.join(certs.dir, "missing.pem");
  const garbage = path.join(certs.dir, "garbage.pem");
  fs.writeFileSync(garbage, "not a certificate\n");
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const cases: [string, RunOptions, RegExp][] = [
    ["CA unreadable", { env: env({ GALE_TLS_CA: missing }) }, new RegExp(`^GALE_TLS_CA=${esc(missing)}: cannot read: ENOENT`)],
    [
      "certificate unreadable",
      { env: env({ ...clientEnv(), GALE_TLS_CERT: missing }) },
      new RegExp(`^GALE_TLS_CERT=${esc(missing)}: cannot read: ENOENT`),
    ],
    ["key unreadable", { env: env({ ...clientEnv(), GALE_TLS_KEY: missing }) }, new RegExp(`^GALE_TLS_KEY=${esc(missing)}: cannot read: ENOENT`)],
    ["CA is a folder", { env: env({ GALE_TLS_CA: certs.dir }) }, new RegExp(`^GALE_TLS_CA=${esc(certs.dir)}: cannot read: EISDIR`)],
    [
      "certificate without key",
      { env: env({ GALE_TLS_CA: certs.ca, GALE_TLS_CERT: certs.client }) },
      new RegExp(`^GALE_TLS_CERT=${esc(certs.client)}: GALE_TLS_KEY is not set: a client certificate needs its private key`),
    ],
    [
      "key without certificate",
      { env: env({ GALE_TLS_CA: certs.ca, GALE_TLS_KEY: certs.clientKey }) },
      new RegExp(`^GALE_TLS_KEY=${esc(certs.clientKey)}: GALE_TLS_CERT is not set: a private key needs its certificate`),
    ],
    [
      "certificate and key without CA",
      { env: env({ GALE_TLS_CERT: certs.client, GALE_TLS_KEY: certs.clientKey }) },
      new RegExp(`^GALE_TLS_CERT=${esc(certs.client)}: GALE_TLS_CA is not set: TLS needs the PEM file of the CA`),
    ],
    ["CA not PEM", { env: env({ GALE_TLS_CA: garbage }) }, new RegExp(`^GALE_TLS_CA=${esc(garbage)}: no PEM certificate in it`)],
    ["a key as the CA", { env: env({ GALE_TLS_CA: certs.clientKey }) }, /^GALE_TLS_CA=.*client\.key: no PEM certificate in it/],
    [
      "a certificate as the key",
      { env: env({ ...clientEnv(), GALE_TLS_KEY: certs.client }) },
      /^GALE_TLS_KEY=.*client\.pem: no PEM private key in it/,
    ],
    [
      "the key of another certificate",
      { env: env({ ...clientEnv(), GALE_TLS_KEY: certs.serverKey }) },
      new RegExp(`^GALE_TLS_KEY=${esc(certs.serverKey)}: is not the private key of GALE_TLS_CERT=${esc(certs.client)}$`),
    ],
    [
      "option: certificate without key",
      { env: env({}), tls: { ca: certs.ca, cert: certs.client } },
      new RegExp(`^tls\\.cert=${esc(certs.client)}: tls\\.key is not given`),
    ],
    ["option: no CA", { env: env({}), tls: { ca: "" } }, /^tls\.ca is not given: TLS needs the PEM file of the CA/],
    ["option: CA unreadable", { env: env({}), tls: { ca: missing } }, new RegExp(`^tls\\.ca=${esc(missing)}: cannot read: ENOENT`)],
  ];
  for (const [what, options, want] of cases) {
    const settled = await runTask(new Ready(), options).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(settled instanceof AttachError, `${what}: want an AttachError, got ${String(settled)}`);
    assert.match(settled.message, want, what);
    assert.doesNotMatch(settled.message, /\n/, `${what}: one line`);
  }
});

test("run prints a TLS problem as one line and exits 1, with no stack", { timeout: 20_000 }, async () => {
  const missing = path.join(certs.dir, "nope.pem");
  const child = spawn(process.execPath, [path.join(__dirname, "conformance", "conf-bolt.js")], {
    env: { ...process.env, ...managedEnv("127.0.0.1:1", { ...clientEnv(), GALE_TLS_CERT: missing }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await within(15_000, new Promise<number | null>((res) => child.on("close", (c) => res(c))), "the component process");
  assert.equal(code, 1, stderr);
  assert.equal(stderr, `gale: c: GALE_TLS_CERT=${missing}: cannot read: ENOENT: no such file or directory, open '${missing}'\n`);
});

test("channelCredentials: plaintext without settings, TLS from the variables, explicit credentials first", () => {
  assert.equal(channelCredentials({ env: {} })._isSecure(), false);
  assert.equal(channelCredentials({ env: { GALE_TLS_CA: "" } })._isSecure(), false); // empty is unset
  assert.equal(channelCredentials({ env: { GALE_TLS_CA: certs.ca } })._isSecure(), true);
  assert.equal(channelCredentials({ env: clientEnv() })._isSecure(), true);
  const mine = grpc.credentials.createInsecure();
  assert.equal(channelCredentials({ credentials: mine, env: { GALE_TLS_CA: "/nonexistent" } }), mine);
  assert.throws(() => channelCredentials({ env: { GALE_TLS_KEY: certs.clientKey } }), (e: Error) => e instanceof AttachError && /^GALE_TLS_KEY=/.test(e.message));
});

/** A CoordinatorService on 127.0.0.1:0 that accepts every spec. */
async function fakeCoordinator(creds: grpc.ServerCredentials): Promise<{ addr: string; got: SubmitTopologyRequest[]; close(): void }> {
  const got: SubmitTopologyRequest[] = [];
  const server = new grpc.Server();
  server.addService(CoordinatorServiceService, {
    submitTopology: (call: grpc.ServerUnaryCall<SubmitTopologyRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      got.push(call.request);
      cb(null, { id: `${call.request.spec?.name}-1` });
    },
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? rej(e) : res(p))));
  return { addr: `127.0.0.1:${port}`, got, close: () => server.forceShutdown() };
}

function spec() {
  const b = new TopologyBuilder("tlstopo");
  b.setSpout("s", { className: "x.S" }, 1);
  return b.build();
}

test("submit reads the GALE_TLS_* variables too, from process.env by default", async () => {
  const node = await fakeCoordinator(nodeCredentials());
  const saved = { ...process.env };
  try {
    assert.equal(await within(10_000, submit(node.addr, spec(), { env: clientEnv() }), "submit"), "tlstopo-1");
    assert.equal(await within(10_000, submit(node.addr, spec(), { tls: { ca: certs.ca, cert: certs.client, key: certs.clientKey } }), "submit"), "tlstopo-1");
    Object.assign(process.env, clientEnv());
    assert.equal(await within(10_000, submit(node.addr, spec()), "submit"), "tlstopo-1");
    assert.equal(node.got.length, 3);
    // Without a client certificate, or in plaintext, the node refuses.
    await within(
      10_000,
      assert.rejects(submit(node.addr, spec(), { env: { GALE_TLS_CA: certs.ca } }), /^SubmitError: submit tlstopo to .*: UNAVAILABLE: .*\(over TLS: CA GALE_TLS_CA=/),
      "submit",
    );
    await within(10_000, assert.rejects(submit(node.addr, spec(), { env: {} }), /UNAVAILABLE/), "submit");
    // A bad setting rejects before anything is sent.
    await assert.rejects(
      submit(node.addr, spec(), { env: { GALE_TLS_CA: certs.ca, GALE_TLS_CERT: certs.client } }),
      (e: Error) =>
        e instanceof AttachError && e.message === `submit tlstopo to ${node.addr}: GALE_TLS_CERT=${certs.client}: GALE_TLS_KEY is not set: a client certificate needs its private key (both or neither)`,
    );
    assert.equal(node.got.length, 3);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    node.close();
  }
});

test("Node's warning of an IP address as TLS server name is dropped, and no other", async () => {
  channelCredentials({ env: { GALE_TLS_CA: certs.ca } }); // TLS credentials: the filter is in place
  const seen: string[] = [];
  const keep = (w: Error & { code?: string }) => void seen.push(w.code ?? w.message);
  process.on("warning", keep);
  try {
    process.emitWarning("Setting the TLS ServerName to an IP address is not permitted", "DeprecationWarning", "DEP0123");
    process.emitWarning("something else", { type: "DeprecationWarning", code: "DEP0999" });
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off("warning", keep);
  }
  assert.deepEqual(seen, ["DEP0999"]);
});
