import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { TopologyBuilder, BuildError, SubmitError, submit, coordinator, channelCredentials } from "../src";
import { CoordinatorServiceService, type SubmitTopologyRequest } from "../src/gen/gale/v1/coordinator";
import { TopologySpec } from "../src/gen/gale/v1/topology";

function wordcount(): TopologyBuilder {
  const b = new TopologyBuilder("wordcount");
  b.setConfig("topology.acker.executors", 1n).setConfig("wordcount.output", "/tmp/out.tsv");
  b.setSpout("sentences", { className: "wordcount.SentenceSpout" }, 1);
  b.setBolt("split", { run: ["node", "dist/split.js"], dir: "ts", env: { A: "1" } }, 2)
    .outputs({ id: "default", fields: ["word"] })
    .shuffleGrouping("sentences");
  b.setBolt("count", { attached: { token: "s3cret" } }, 2)
    .outputs({ id: "default", fields: ["word", "count"] }, { id: "top", fields: ["word"], direct: true })
    .setConfig("wordcount.batch", 64n)
    .fieldsGrouping("split", ["word"]);
  return b;
}

test("the builder makes the spec, as canonical protobuf JSON", () => {
  const spec = wordcount().build();
  assert.deepEqual(TopologySpec.toJSON(spec), {
    name: "wordcount",
    source: "ts-builder",
    config: {
      "topology.acker.executors": { intValue: "1" },
      "wordcount.output": { stringValue: "/tmp/out.tsv" },
    },
    components: [
      { id: "sentences", kind: "COMPONENT_KIND_SPOUT", parallelism: 1, class: "wordcount.SentenceSpout" },
      {
        id: "split",
        kind: "COMPONENT_KIND_BOLT",
        parallelism: 2,
        command: { argv: ["node", "dist/split.js"], dir: "ts", env: { A: "1" }, protocol: "EXTERNAL_PROTOCOL_ATTACH" },
        outputs: [{ id: "default", fields: ["word"] }],
        inputs: [{ component: "sentences", grouping: { type: "GROUPING_TYPE_SHUFFLE" } }],
      },
      {
        id: "count",
        kind: "COMPONENT_KIND_BOLT",
        parallelism: 2,
        attached: { token: "s3cret" },
        outputs: [
          { id: "default", fields: ["word", "count"] },
          { id: "top", fields: ["word"], direct: true },
        ],
        inputs: [{ component: "split", grouping: { type: "GROUPING_TYPE_FIELDS", fields: ["word"] } }],
        config: { "wordcount.batch": { intValue: "64" } },
      },
    ],
  });
  // The spec survives the wire.
  assert.deepEqual(TopologySpec.decode(TopologySpec.encode(spec).finish()), spec);
});

test("build reports every mistake at once, naming component and field", () => {
  const b = new TopologyBuilder("bad name!");
  b.setSpout("s", { className: "x.S" }, 0).outputs({ id: "default", fields: ["a"] });
  b.setBolt("__b", { run: [] }, 1).shuffleGrouping("missing");
  b.setBolt("c", { run: ["node", "c.js"] }, 1)
    .outputs({ id: "default", fields: ["a", "a"] })
    .fieldsGrouping("d", ["nope"])
    .shuffleGrouping("d", "direct");
  b.setBolt("d", { attached: true }, 1)
    .outputs({ id: "default", fields: ["w"] }, { id: "direct", fields: ["w"], direct: true })
    .setConfig("bad", {} as never);
  let err: unknown;
  try {
    b.build();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof BuildError);
  const want = [
    /spout 's': parallelism must be at least 1, got 0/,
    /spout 's': outputs are only for external and attached components; class 'x.S'/,
    /bolt '__b': run must be a non-empty argv/,
    /bolt 'd': config bad: Object is not a tuple value/,
    /topology name "bad name!"/,
    /bolt '__b': id: want 1 to 64/,
    /bolt 'c': outputs: stream 'default' declares field 'a' twice/,
    /bolt '__b': inputs\[0\] \(missing:default\): no component 'missing'/,
    /bolt 'c': inputs\[0\] \(d:default\): grouping field 'nope' is not a field of the stream \(w\)/,
    /bolt 'c': inputs\[1\] \(d:direct\): direct stream 'direct' must be subscribed with a direct grouping/,
    /bolt 'd' has no inputs: a bolt must subscribe to at least one stream/,
  ];
  for (const w of want) assert.ok(err.problems.some((p) => w.test(p)), `no problem matches ${w}:\n${err.problems.join("\n")}`);
  assert.equal(err.problems.length, want.length, err.problems.join("\n"));
});

test("build refuses what the node refuses: cycles, unknown groupings, twice the same input, too many tasks", () => {
  const problems = (f: (b: TopologyBuilder) => void): string[] => {
    const b = new TopologyBuilder("t");
    b.setSpout("s", { attached: true }).outputs({ id: "default", fields: ["x"] });
    f(b);
    try {
      b.build();
      return [];
    } catch (e) {
      assert.ok(e instanceof BuildError);
      return e.problems;
    }
  };
  const bolt = (b: TopologyBuilder, id: string, n = 1) => b.setBolt(id, { attached: true }, n).outputs({ id: "default", fields: ["x"] });
  assert.deepEqual(
    problems((b) => {
      bolt(b, "a").shuffleGrouping("s").shuffleGrouping("c");
      bolt(b, "b").shuffleGrouping("a");
      bolt(b, "c").shuffleGrouping("b");
    }),
    ["bolt 'a': cycle: a -> b -> c -> a"],
  );
  assert.deepEqual(
    problems((b) => bolt(b, "a").shuffleGrouping("s").shuffleGrouping("a")),
    ["bolt 'a' subscribes to itself: cycle: a -> a"],
  );
  assert.deepEqual(
    problems((b) => bolt(b, "a").shuffleGrouping("s").grouping("s", "default", "shufle" as never)),
    ["bolt 'a': input from 's': unknown grouping 'shufle'; use one of shuffle, fields, all, global, direct, local_or_shuffle, partial_key, none"],
  );
  assert.deepEqual(
    problems((b) => bolt(b, "a").shuffleGrouping("s").allGrouping("s")),
    ["bolt 'a': inputs[1] (s:default): subscribes to 's' stream 'default' twice"],
  );
  assert.deepEqual(
    problems((b) => bolt(b, "a", 10001).shuffleGrouping("s")),
    ["bolt 'a': parallelism must be at most 10000, got 10001"],
  );
  assert.deepEqual(
    problems((b) => {
      bolt(b, "a").shuffleGrouping("s");
      bolt(b, "c").shuffleGrouping("b").shuffleGrouping("a");
      bolt(b, "b").shuffleGrouping("a");
    }),
    [],
  );
});

test("submit sends the spec to CoordinatorService and returns the run id", async () => {
  let got: SubmitTopologyRequest | undefined;
  const server = new grpc.Server();
  server.addService(CoordinatorServiceService, {
    submitTopology: (call: grpc.ServerUnaryCall<SubmitTopologyRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      got = call.request;
      if (call.request.spec?.name === "taken") cb({ code: grpc.status.ALREADY_EXISTS, details: "topology taken exists" });
      else cb(null, { id: "wordcount-1" });
    },
    listTopologies: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, coordinator.ListTopologiesResponse.fromPartial({ topologies: [{ name: "wc", state: coordinator.TopologyState.TOPOLOGY_STATE_ACTIVE }] })),
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  try {
    // The other calls, through the exported generated client (README).
    const api = new coordinator.CoordinatorServiceClient(`127.0.0.1:${port}`, channelCredentials({ env: {} }));
    const list = await new Promise<coordinator.ListTopologiesResponse>((res, rej) => api.listTopologies({}, (e, r) => (e ? rej(e) : res(r))));
    api.close();
    assert.deepEqual(list.topologies.map((t) => [t.name, coordinator.topologyStateToJSON(t.state)]), [["wc", "TOPOLOGY_STATE_ACTIVE"]]);
    const spec = wordcount().build();
    const id = await submit(`127.0.0.1:${port}`, spec, { config: { "wordcount.rate": 10n }, startInactive: true });
    assert.equal(id, "wordcount-1");
    assert.deepEqual(got?.spec, spec);
    assert.equal(got?.startInactive, true);
    assert.deepEqual(got?.config, { "wordcount.rate": { kind: { $case: "intValue", value: 10n } } });
    await assert.rejects(
      submit(`127.0.0.1:${port}`, { ...spec, name: "taken" }),
      (e: unknown) => e instanceof SubmitError && e.code === "ALREADY_EXISTS" && /submit taken to .*: ALREADY_EXISTS: topology taken exists/.test(e.message),
    );
  } finally {
    server.forceShutdown();
  }
});
