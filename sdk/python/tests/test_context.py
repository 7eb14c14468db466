"""TaskContext, Config and Tuple as built from a welcome."""

import json
from pathlib import Path

import pytest
from google.protobuf import json_format

import gale
from gale.v1 import attach_pb2

WELCOME = json.loads((Path(__file__).resolve().parents[2] / "conformance" / "welcome.json").read_text())


def ctx():
    return gale.TaskContext.from_proto(json_format.ParseDict(WELCOME["bolt"], attach_pb2.TaskContext()))


def test_context_from_welcome():
    c = ctx()
    assert (c.topology, c.topology_id, c.component, c.task_id, c.task_index) == ("conformance", "conformance-1", "conf-bolt", 3, 0)
    assert c.tasks == (3, 4)
    assert c.component_of(2) == "conf-spout" and c.component_of(99) is None
    assert c.outputs["direct"] == gale.Stream("direct", ["word"], direct=True)
    assert c.inputs == [gale.Input("conf-spout", "default", "shuffle", ())]
    assert c.source_fields["conf-spout:default"] == ("cmd", "arg", "n")
    assert c.config["answer"] == 42 and c.config.get_str("answer") == "42"
    assert c.heartbeat_millis == 1000


def test_config_getters_convert_and_name_the_key():
    c = gale.Config({"i": 3, "s": "12", "f": 2.0, "b": "true", "x": "abc", "n": None})
    assert c.get_int("i") == 3 and c.get_int("s") == 12 and c.get_int("f") == 2 and c.get_int("missing", 7) == 7
    assert c.get_int("n", 5) == 5
    assert c.get_float("s") == 12.0 and c.get_bool("b") is True and c.get_str("i") == "3"
    with pytest.raises(gale.ConfigError, match="config x: want an integer"):
        c.get_int("x")
    with pytest.raises(gale.ConfigError, match="config x: want true or false"):
        c.get_bool("x")


def test_tuple_fields_by_name_and_position():
    src = gale.Source("conf-spout", "default", ["cmd", "arg", "n"])
    t = gale.Tuple(["emit", "x", 4], src, 1, 9)
    assert t["arg"] == "x" and t[2] == 4 and t.get("nope") is None and t.component == "conf-spout"
    assert t.as_dict() == {"cmd": "emit", "arg": "x", "n": 4} and not t.is_tick
    with pytest.raises(KeyError, match="no field 'word'.*cmd, arg, n"):
        t["word"]


def test_typed_getters_name_the_field_and_what_it_holds():
    src = gale.Source("events", "default", ["user", "n", "score", "ok", "raw", "none"])
    t = gale.Tuple(["ann", 3, 0.5, True, b"\x00", None], src, 1, 9)
    assert (t.get_str("user"), t.get_int("n"), t.get_float("score"), t.get_bool("ok"), t.get_bytes("raw")) == (
        "ann",
        3,
        0.5,
        True,
        b"\x00",
    )
    with pytest.raises(TypeError, match=r"field 'user' of a tuple from events:default is str 'ann', want an int"):
        t.get_int("user")
    with pytest.raises(TypeError, match=r"field 'ok' of a tuple from events:default is bool True, want an int"):
        t.get_int("ok")  # a bool is not taken for an int
    with pytest.raises(TypeError, match=r"field 'none' .* is None, want a str"):
        t.get_str("none")
    with pytest.raises(KeyError, match="no field 'nope'"):
        t.get_int("nope")
