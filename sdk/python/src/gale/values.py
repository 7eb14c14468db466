"""Conversion between Python values and ``gale.v1.Value``.

A tuple field is one of six kinds on the wire (proto/gale/v1/value.proto);
in Python they are ``str``, ``int``, ``float``, ``bool``, ``bytes`` and
``None``. Nothing else is accepted: lists, dicts and other objects travel as
``bytes`` (JSON, pickle, protobuf...) that the receiving component decodes
itself, as the proto's comment explains. ``bytearray`` and ``memoryview``
are accepted on the way out and arrive as ``bytes``.

``int`` must fit a signed 64-bit integer (the wire type is ``sint64``); a
larger integer is refused rather than silently wrapped.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

from gale.v1 import value_pb2

#: The Python types a tuple field can hold.
Scalar = Union[str, int, float, bool, bytes, None]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class ValueTypeError(TypeError):
    """A Python value has no ``gale.v1.Value`` representation."""


def describe(v: Any) -> str:
    """Names a value's type for error messages (``'list'``, ``'int'``...)."""
    return type(v).__name__


def to_proto(v: Any, what: str = "value") -> value_pb2.Value:
    """Returns the ``gale.v1.Value`` for a Python scalar.

    ``what`` names the value in the error message (``"config key 'x'"``).
    """
    t = type(v)
    if v is None:
        return value_pb2.Value()
    if t is bool:  # before int: bool is an int subclass
        return value_pb2.Value(bool_value=v)
    if t is str:
        return value_pb2.Value(string_value=v)
    if t is int:
        check_int(v, what)
        return value_pb2.Value(int_value=v)
    if t is float:
        return value_pb2.Value(double_value=v)
    if t is bytes or t is bytearray or t is memoryview:
        return value_pb2.Value(bytes_value=bytes(v))
    # Subclasses (IntEnum, str subclasses, numpy scalars registered as int...)
    if isinstance(v, bool):
        return value_pb2.Value(bool_value=bool(v))
    if isinstance(v, str):
        return value_pb2.Value(string_value=str(v))
    if isinstance(v, int):
        check_int(int(v), what)
        return value_pb2.Value(int_value=int(v))
    if isinstance(v, float):
        return value_pb2.Value(double_value=float(v))
    raise ValueTypeError(
        f"{what}: a {describe(v)} cannot be a Gale value; use str, int, float, bool, bytes or None "
        "(encode structured data as bytes, e.g. JSON)"
    )


def check_int(v: int, what: str) -> None:
    """Refuses integers that do not fit the wire's signed 64 bits."""
    if v < INT64_MIN or v > INT64_MAX:
        raise ValueTypeError(f"{what}: integer {v} does not fit in 64 bits (the range of a Gale int value)")


def from_proto(v: value_pb2.Value) -> Scalar:
    """Returns the Python scalar of a ``gale.v1.Value`` (``None`` for null)."""
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    return getattr(v, kind)


def config_to_proto(cfg: Mapping[str, Any], what: str = "config") -> dict[str, value_pb2.Value]:
    """Converts a mapping of config keys to ``gale.v1.Value`` messages."""
    out: dict[str, value_pb2.Value] = {}
    for k, v in cfg.items():
        if not isinstance(k, str):
            raise ValueTypeError(f"{what}: key {k!r} is a {describe(k)}; config keys are strings")
        out[k] = to_proto(v, f"{what} key '{k}'")
    return out
