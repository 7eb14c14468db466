"""Hand-written protobuf encoding of the frames a component sends often.

Why this exists: building one ``Emit`` and one ``Value`` protobuf object per
emitted tuple is the ceiling of a Python component (shared/DESIGN.md
measured ~9 us per sentence of six words that way). The ``emits`` and
``acks`` frames have a tiny, fixed shape, so this module writes their
protobuf wire format directly as bytes; a word emit costs a few bytes
concatenations instead of two message objects. The result is byte-for-byte
what protobuf would produce for the same message (fields in number order,
packed repeated scalars, defaults omitted), which ``tests/test_wire.py``
checks against the generated classes. Rare frames (hello, log, error...)
still go through the generated classes.

Layouts (field number, wire type) from proto/gale/v1/attach.proto and
value.proto:

- ``AttachRequest``: emits = 2 (bytes), acks = 3 (bytes)
- ``EmitBatch``: emits = 1 (bytes, repeated)
- ``Emit``: stream = 1 (bytes), values = 2 (bytes, repeated),
  anchors = 3 (packed varints), message_id = 4 (varint),
  direct_task = 5 (varint, int32: negative values take 10 bytes)
- ``InputAcks``: acked = 1, failed = 2, reset_timeout = 3 (packed varints)
- ``Value`` (a oneof, so even zero values are written): string = 1,
  int = 2 (sint64, zigzag varint), double = 3 (fixed64), bool = 4,
  bytes = 5; null is the empty message.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Sequence

from gale.values import INT64_MAX, INT64_MIN, ValueTypeError, describe

_pack_double = struct.Struct("<d").pack

#: One-byte varints, 0..127, as bytes objects (indexing beats bytes((n,))).
_V1 = tuple(bytes((i,)) for i in range(128))

#: Headers of a Value entry of Emit.values holding a short string of n bytes:
#: tag(values) len(n+2) tag(string_value) len(n).
_STR_ENTRY_HDR = tuple(b"\x12" + _V1[n + 2] + b"\x0a" + _V1[n] for n in range(126))

#: Headers of an EmitBatch.emits entry whose Emit body has n < 128 bytes.
_EMIT_HDR = tuple(b"\x0a" + _V1[n] for n in range(128))

_NULL_ENTRY = b"\x12\x00"
_TRUE_ENTRY = b"\x12\x02\x20\x01"
_FALSE_ENTRY = b"\x12\x02\x20\x00"


def varint(n: int) -> bytes:
    """Encodes a non-negative integer below 2**64 as a protobuf varint."""
    if n < 0x80:
        return _V1[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_prefixed(tag: bytes, body: bytes) -> bytes:
    n = len(body)
    return tag + (_V1[n] if n < 0x80 else varint(n)) + body


def value_entry(v: Any) -> bytes:
    """Encodes v as one ``Emit.values`` entry (tag, length, Value body).

    Raises ValueTypeError for values that have no Gale representation; the
    caller adds which stream and field it was (building that text for every
    emit would cost more than the encoding).
    """
    t = type(v)
    if t is str:
        b = v.encode()
        n = len(b)
        if n < 126:
            return _STR_ENTRY_HDR[n] + b
        return _len_prefixed(b"\x12", b"\x0a" + varint(n) + b)
    if v is None:
        return _NULL_ENTRY
    if t is bool:
        return _TRUE_ENTRY if v else _FALSE_ENTRY
    if t is int:
        if v < INT64_MIN or v > INT64_MAX:
            raise ValueTypeError(f"integer {v} does not fit in 64 bits (the range of a Gale int value)")
        zz = (v << 1) ^ (v >> 63)
        return _len_prefixed(b"\x12", b"\x10" + varint(zz))
    if t is float:
        return b"\x12\x09\x19" + _pack_double(v)
    if t is bytes or t is bytearray or t is memoryview:
        b = bytes(v)
        return _len_prefixed(b"\x12", b"\x2a" + varint(len(b)) + b)
    # Subclasses of the scalar types (IntEnum, str enums...) take the slow path.
    if isinstance(v, bool):
        return _TRUE_ENTRY if v else _FALSE_ENTRY
    if isinstance(v, str):
        return value_entry(str(v))
    if isinstance(v, int):
        return value_entry(int(v))
    if isinstance(v, float):
        return value_entry(float(v))
    raise ValueTypeError(
        f"a {describe(v)} cannot be a Gale value; use str, int, float, bool, bytes or None "
        "(encode structured data as bytes, e.g. JSON)"
    )


def stream_field(stream: str) -> bytes:
    """The ``Emit.stream`` field for a stream id; empty for "default" (the
    node reads an empty stream as the default one, and it saves 9 bytes)."""
    if stream == "default":
        return b""
    return _len_prefixed(b"\x0a", stream.encode())


def anchors_field(ids: Iterable[int]) -> bytes:
    """The packed ``Emit.anchors`` field for input ids (empty for none)."""
    body = b"".join([varint(i) for i in ids])
    if not body:
        return b""
    return _len_prefixed(b"\x1a", body)


def int32_varint(n: int) -> bytes:
    """An int32 field value: negative numbers are sign-extended to 64 bits."""
    return varint(n if n >= 0 else n + (1 << 64))


def emit_entry(body: bytes) -> bytes:
    """Wraps an ``Emit`` body as one ``EmitBatch.emits`` entry."""
    n = len(body)
    if n < 128:
        return _EMIT_HDR[n] + body
    return b"\x0a" + varint(n) + body


def tail_fields(message_id: int, direct_task: int) -> bytes:
    """``Emit.message_id`` and ``Emit.direct_task``, each omitted when zero."""
    out = b""
    if message_id:
        out = b"\x20" + varint(message_id)
    if direct_task:
        out += b"\x28" + int32_varint(direct_task)
    return out


def emits_frame(entries: Sequence[bytes]) -> bytes:
    """An ``AttachRequest`` whose ``emits`` holds the given entries."""
    return _len_prefixed(b"\x12", b"".join(entries))


def acks_frame(acked: Sequence[int], failed: Sequence[int], reset: Sequence[int] = ()) -> bytes:
    """An ``AttachRequest`` whose ``acks`` acks and fails the given ids and
    resets the timeout of others."""
    body = b""
    if acked:
        body = _len_prefixed(b"\x0a", b"".join([varint(i) for i in acked]))
    if failed:
        body += _len_prefixed(b"\x12", b"".join([varint(i) for i in failed]))
    if reset:
        body += _len_prefixed(b"\x1a", b"".join([varint(i) for i in reset]))
    return _len_prefixed(b"\x1a", body)


# -- Rare frames, built with the generated classes --------------------------

from gale.v1 import attach_pb2 as _pb  # noqa: E402  (after the hot-path code on purpose)

HEARTBEAT_FRAME = _pb.AttachRequest(heartbeat=_pb.Heartbeat()).SerializeToString()
FINISHED_FRAME = _pb.AttachRequest(finished=_pb.Finished()).SerializeToString()
NEXT_DONE_FRAME = _pb.AttachRequest(next_done=_pb.NextDone(end_of_input=False)).SerializeToString()
NEXT_DONE_END_FRAME = _pb.AttachRequest(next_done=_pb.NextDone(end_of_input=True)).SerializeToString()


def heartbeat_frame(busy_ms: int, hook: str) -> bytes:
    """A heartbeat saying that the component's call of hook has run for
    busy_ms (ATTACH.md, "Heartbeats")."""
    return _pb.AttachRequest(
        heartbeat=_pb.Heartbeat(busy_millis=min(busy_ms, 0xFFFFFFFF), busy_in=hook)
    ).SerializeToString()


def log_frame(level: int, message: str) -> bytes:
    """A ``log`` frame; level is a gale.v1.LogLevel number."""
    return _pb.AttachRequest(log=_pb.LogRecord(level=level, message=message)).SerializeToString()


def error_frame(message: str) -> bytes:
    """An ``error`` frame: a task error shown in ``gale status``."""
    return _pb.AttachRequest(error=_pb.LogRecord(level=_pb.LOG_LEVEL_ERROR, message=message)).SerializeToString()


def hello_frame(topology: str, component: str, task_id: int, token: str, sdk: str, pid: int, max_batch: int) -> bytes:
    """The ``hello`` frame that opens the stream."""
    return _pb.AttachRequest(
        hello=_pb.AttachHello(
            topology=topology, component=component, task_id=task_id, token=token, sdk=sdk, pid=pid, max_batch=max_batch
        )
    ).SerializeToString()
