"""The hand-written encoder produces exactly what protobuf produces."""

import math

import pytest

from gale import _wire
from gale.v1 import attach_pb2, value_pb2
from gale.values import ValueTypeError, from_proto, to_proto

VALUES = ["", "word", "ç" * 70, "x" * 300, 0, 1, -1, 2**63 - 1, -(2**63), 1.5, -0.0, math.inf, True, False, b"", b"\x00\xff" * 100, None]


@pytest.mark.parametrize("v", VALUES, ids=repr)
def test_value_entry_matches_protobuf(v):
    emit = attach_pb2.Emit(values=[to_proto(v)])
    assert _wire.value_entry(v) == emit.SerializeToString()


@pytest.mark.parametrize("v", VALUES, ids=repr)
def test_values_round_trip(v):
    back = from_proto(value_pb2.Value.FromString(to_proto(v).SerializeToString()))
    assert back == v and type(back) is type(v)


def test_emit_frame_matches_protobuf():
    cases = [
        ("default", ["a"], [7], 0, 0),
        ("other", ["b", 3, None], [2**53 - 1, 1], 0, 0),
        ("direct", ["c"], [], 0, 6),
        ("default", [0], [], 12345678901, 0),
        ("s", ["neg"], [], 0, -1),
    ]
    want = attach_pb2.AttachRequest()
    entries = []
    for stream, values, anchors, mid, task in cases:
        e = want.emits.emits.add(
            stream="" if stream == "default" else stream, anchors=anchors, message_id=mid, direct_task=task
        )
        e.values.extend(to_proto(v) for v in values)
        body = _wire.stream_field(stream) + b"".join(_wire.value_entry(v) for v in values)
        body += _wire.anchors_field(anchors) + _wire.tail_fields(mid, task)
        entries.append(_wire.emit_entry(body))
    assert _wire.emits_frame(entries) == want.SerializeToString()


def test_big_emit_frame_uses_multi_byte_lengths():
    entries = [_wire.emit_entry(_wire.value_entry("w" * 200) + _wire.anchors_field([i])) for i in range(1, 2000)]
    frame = attach_pb2.AttachRequest.FromString(_wire.emits_frame(entries))
    assert len(frame.emits.emits) == 1999
    assert frame.emits.emits[-1].anchors == [1999]
    assert frame.emits.emits[0].values[0].string_value == "w" * 200


def test_acks_frame_matches_protobuf():
    want = attach_pb2.AttachRequest(acks=attach_pb2.InputAcks(acked=[1, 2**53 - 1], failed=[300]))
    assert _wire.acks_frame([1, 2**53 - 1], [300]) == want.SerializeToString()
    assert _wire.acks_frame([], [5]) == attach_pb2.AttachRequest(acks=attach_pb2.InputAcks(failed=[5])).SerializeToString()
    want = attach_pb2.AttachRequest(acks=attach_pb2.InputAcks(acked=[4], reset_timeout=[7, 2**53 - 1]))
    assert _wire.acks_frame([4], [], [7, 2**53 - 1]) == want.SerializeToString()


@pytest.mark.parametrize("bad", [2**63, -(2**63) - 1, [1], {"a": 1}, object()], ids=repr)
def test_values_without_a_gale_type_are_refused(bad):
    with pytest.raises(ValueTypeError):
        _wire.value_entry(bad)
    with pytest.raises(ValueTypeError):
        to_proto(bad)


def test_scalar_subclasses_are_accepted():
    import enum

    class Color(enum.IntEnum):
        RED = 3

    assert _wire.value_entry(Color.RED) == _wire.value_entry(3)
    assert to_proto(Color.RED) == to_proto(3)
    assert _wire.value_entry(bytearray(b"ab")) == _wire.value_entry(b"ab")


def test_a_large_emit_starts_a_frame_of_its_own():
    from gale.component import MAX_FRAME_BYTES, _Outbox

    out = _Outbox()
    out.add_emit(b"a" * 900_000)
    out.add_emit(b"b" * ((16 << 20) - 200_000))
    out.add_emit(b"c")
    out.close_emits()
    assert len(out.frames) == 3
    assert all(len(f) <= 16 << 20 for f in out.frames)
    assert len(out.frames[0]) < MAX_FRAME_BYTES + 100
