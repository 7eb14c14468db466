"""TopologyBuilder produces the TopologySpec; submit speaks SubmitTopology."""

from concurrent import futures

import grpc
import pytest

import gale
from gale.v1 import coordinator_pb2, coordinator_pb2_grpc, topology_pb2 as T


def wordcount():
    b = gale.TopologyBuilder("wordcount").set_config("topology.acker.executors", 1)
    b.set_spout("sentences", class_name="wordcount.SentenceSpout")
    b.set_bolt("split", run=["python3", "split.py"], parallelism=2).output("default", ["word"]).shuffle_grouping(
        "sentences"
    ).dir("python").env("PYTHONUNBUFFERED", "1").protocol("storm-multilang").config("split.lower", True)
    b.set_bolt("count", attached=True, token="s3cret", parallelism=3).outputs(
        gale.Stream("totals", ["word", "count"])
    ).fields_grouping("split", ["word"])
    return b


def test_build_produces_the_spec():
    spec = wordcount().build()
    assert spec.name == "wordcount" and spec.source == "python-builder"
    assert spec.config["topology.acker.executors"].int_value == 1
    sentences, split, count = spec.components
    assert sentences.kind == T.COMPONENT_KIND_SPOUT and getattr(sentences, "class") == "wordcount.SentenceSpout"
    assert split.kind == T.COMPONENT_KIND_BOLT and split.parallelism == 2
    assert list(split.command.argv) == ["python3", "split.py"] and split.command.dir == "python"
    assert split.command.protocol == T.EXTERNAL_PROTOCOL_STORM_MULTILANG
    assert split.command.env["PYTHONUNBUFFERED"] == "1" and split.config["split.lower"].bool_value is True
    assert [(o.id, list(o.fields), o.direct) for o in split.outputs] == [("default", ["word"], False)]
    assert split.inputs[0].component == "sentences" and split.inputs[0].grouping.type == T.GROUPING_TYPE_SHUFFLE
    assert count.attached.token == "s3cret" and count.parallelism == 3
    assert count.inputs[0].grouping == T.Grouping(type=T.GROUPING_TYPE_FIELDS, fields=["word"])


def test_build_twice_gives_independent_specs():
    b = wordcount()
    s1, s2 = b.build(), b.build()
    s1.components[1].parallelism = 9
    assert s2.components[1].parallelism == 2


def test_every_grouping_method():
    b = gale.TopologyBuilder("g")
    b.set_spout("s", attached=True).output("default", ["k"]).output("d", ["k"], direct=True)
    bolt = b.set_bolt("b", attached=True)
    bolt.shuffle_grouping("s").all_grouping("s", stream="x")
    spec_inputs = bolt.spec.inputs
    assert [(i.stream, i.grouping.type) for i in spec_inputs] == [
        ("default", T.GROUPING_TYPE_SHUFFLE),
        ("x", T.GROUPING_TYPE_ALL),
    ]
    names = {
        "global_grouping": T.GROUPING_TYPE_GLOBAL,
        "local_or_shuffle_grouping": T.GROUPING_TYPE_LOCAL_OR_SHUFFLE,
        "none_grouping": T.GROUPING_TYPE_NONE,
        "direct_grouping": T.GROUPING_TYPE_DIRECT,
    }
    for i, (method, t) in enumerate(names.items()):
        getattr(b.set_bolt(f"b{i}", attached=True), method)("s")
        assert b._comps[-1].inputs[0].grouping.type == t
    b.set_bolt("pk", attached=True).partial_key_grouping("s", ["k"])
    assert b._comps[-1].inputs[0].grouping == T.Grouping(type=T.GROUPING_TYPE_PARTIAL_KEY, fields=["k"])


def test_build_reports_every_problem_naming_component_and_field():
    b = gale.TopologyBuilder("bad name!")
    b.set_spout("src", run=["python3", "s.py"]).output("default", ["a", "a"])
    b.set_bolt("x", parallelism=0)  # no implementation, no inputs
    b.set_bolt("y", run=["python3", "y.py"]).fields_grouping("src", ["nope"]).shuffle_grouping("ghost")
    b.set_bolt("z", class_name="Go.Class").outputs(gale.Stream("o", ["f"])).direct_grouping("src")
    b.set_bolt("w", run="python3 w.py").grouping("src", "roundrobin", stream="other")
    with pytest.raises(gale.TopologyError) as ei:
        b.build()
    text = str(ei.value)
    for fragment in [
        "topology name 'bad name!' is invalid",
        "spout 'src': output stream 'default' declares field 'a' twice",
        "bolt 'x': give exactly one of class_name",
        "bolt 'x': parallelism must be at least 1, got 0",
        "bolt 'x' has no inputs",
        "bolt 'y': fields grouping on 'src': stream 'default' has no field 'nope' (its fields: a, a)",
        "bolt 'y': input from unknown component 'ghost'",
        "bolt 'z': outputs are only for external and attached components",
        "bolt 'z': direct grouping needs a direct stream",
        "bolt 'w': run must be a list",
        "bolt 'w': input from 'src': unknown grouping 'roundrobin'",
        "bolt 'w': input from 'src': 'src' has no output stream 'other' (it declares: default)",
    ]:
        assert fragment in text, f"missing {fragment!r} in:\n{text}"
    assert len(ei.value.problems) >= 12


@pytest.mark.parametrize(
    "edges,want",
    [
        ({"a": ["s", "b"], "b": ["a"]}, "bolt 'a': cycle: a -> b -> a"),
        ({"a": ["s", "c"], "b": ["a"], "c": ["b"]}, "bolt 'a': cycle: a -> b -> c -> a"),
        ({"a": ["s"], "b": ["a"], "c": ["b", "a"]}, None),
    ],
)
def test_cycles_are_refused_as_the_node_refuses_them(edges, want):
    b = gale.TopologyBuilder("t")
    b.set_spout("s", attached=True).output("default", ["x"])
    for bolt, sources in edges.items():
        d = b.set_bolt(bolt, attached=True).output("default", ["x"])
        for src in sources:
            d.shuffle_grouping(src)
    if want is None:
        b.build()
        return
    with pytest.raises(gale.TopologyError) as ei:
        b.build()
    assert want in str(ei.value) and str(ei.value).count("cycle") == 1, str(ei.value)


def test_bad_config_value_is_reported():
    b = gale.TopologyBuilder("t").set_config("k", [1, 2])
    b.set_spout("s", attached=True)
    with pytest.raises(gale.TopologyError, match=r"topology config key 'k': a list cannot be a Gale value"):
        b.build()


class FakeCoordinator(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(self):
        self.got = None

    def SubmitTopology(self, request, context):  # noqa: N802
        if request.spec.name in ("taken",):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "topology 'taken' already exists")
        self.got = request
        return coordinator_pb2.SubmitTopologyResponse(id=request.spec.name + "-1")

    def ListTopologies(self, request, context):  # noqa: N802
        return coordinator_pb2.ListTopologiesResponse(
            topologies=[coordinator_pb2.TopologySummary(name="wc", state=coordinator_pb2.TOPOLOGY_STATE_ACTIVE)]
        )


@pytest.fixture
def coordinator():
    server = grpc.server(futures.ThreadPoolExecutor(2))
    fake = FakeCoordinator()
    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(0)


def test_submit_sends_the_spec_and_returns_the_run_id(coordinator):
    fake, addr = coordinator
    spec = wordcount().build()
    assert gale.submit(addr, spec, config={"wordcount.output": "out.tsv"}, start_inactive=True) == "wordcount-1"
    assert fake.got.spec == spec and fake.got.start_inactive
    assert fake.got.config["wordcount.output"].string_value == "out.tsv"


def test_submit_error_carries_the_status(coordinator):
    _, addr = coordinator
    spec = wordcount().build()
    spec.name = "taken"
    with pytest.raises(gale.SubmitError, match="ALREADY_EXISTS: topology 'taken' already exists") as ei:
        gale.submit(addr, spec)
    assert ei.value.code == "ALREADY_EXISTS"


def test_connect_gives_a_channel_for_the_other_calls(coordinator, monkeypatch):
    _, addr = coordinator
    monkeypatch.delenv("GALE_TLS_CA", raising=False)
    with gale.connect(addr) as ch:
        api = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        got = api.ListTopologies(coordinator_pb2.ListTopologiesRequest(), timeout=10).topologies
    assert [(t.name, coordinator_pb2.TopologyState.Name(t.state)) for t in got] == [("wc", "TOPOLOGY_STATE_ACTIVE")]
    monkeypatch.setenv("GALE_TLS_CA", "/nonexistent/ca.pem")
    with pytest.raises(gale.GaleError, match=r"connect to .*: GALE_TLS_CA=/nonexistent/ca.pem"):
        gale.connect(addr)
