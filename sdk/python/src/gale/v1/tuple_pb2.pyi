from gale.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AckKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_KIND_UNSPECIFIED: _ClassVar[AckKind]
    ACK_KIND_INIT: _ClassVar[AckKind]
    ACK_KIND_ACK: _ClassVar[AckKind]
    ACK_KIND_FAIL: _ClassVar[AckKind]
    ACK_KIND_COMPLETED: _ClassVar[AckKind]
    ACK_KIND_FAILED: _ClassVar[AckKind]
    ACK_KIND_TOUCH: _ClassVar[AckKind]
    ACK_KIND_ALIVE: _ClassVar[AckKind]
ACK_KIND_UNSPECIFIED: AckKind
ACK_KIND_INIT: AckKind
ACK_KIND_ACK: AckKind
ACK_KIND_FAIL: AckKind
ACK_KIND_COMPLETED: AckKind
ACK_KIND_FAILED: AckKind
ACK_KIND_TOUCH: AckKind
ACK_KIND_ALIVE: AckKind

class Tuple(_message.Message):
    __slots__ = ("stream", "source_task", "dest_task", "values", "roots", "edges", "id")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TASK_FIELD_NUMBER: _ClassVar[int]
    DEST_TASK_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    stream: str
    source_task: int
    dest_task: int
    values: _containers.RepeatedCompositeFieldContainer[_value_pb2.Value]
    roots: _containers.RepeatedScalarFieldContainer[int]
    edges: _containers.RepeatedScalarFieldContainer[int]
    id: int
    def __init__(self, stream: _Optional[str] = ..., source_task: _Optional[int] = ..., dest_task: _Optional[int] = ..., values: _Optional[_Iterable[_Union[_value_pb2.Value, _Mapping]]] = ..., roots: _Optional[_Iterable[int]] = ..., edges: _Optional[_Iterable[int]] = ..., id: _Optional[int] = ...) -> None: ...

class TupleBatch(_message.Message):
    __slots__ = ("tuples",)
    TUPLES_FIELD_NUMBER: _ClassVar[int]
    tuples: _containers.RepeatedCompositeFieldContainer[Tuple]
    def __init__(self, tuples: _Optional[_Iterable[_Union[Tuple, _Mapping]]] = ...) -> None: ...

class AckBatch(_message.Message):
    __slots__ = ("kinds", "roots", "values", "tasks", "backlog_nanos", "forwarded", "fixed_roots", "fixed_values")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_NANOS_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    FIXED_ROOTS_FIELD_NUMBER: _ClassVar[int]
    FIXED_VALUES_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[AckKind]
    roots: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    tasks: _containers.RepeatedScalarFieldContainer[int]
    backlog_nanos: int
    forwarded: bool
    fixed_roots: _containers.RepeatedScalarFieldContainer[int]
    fixed_values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, kinds: _Optional[_Iterable[_Union[AckKind, str]]] = ..., roots: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[int]] = ..., tasks: _Optional[_Iterable[int]] = ..., backlog_nanos: _Optional[int] = ..., forwarded: _Optional[bool] = ..., fixed_roots: _Optional[_Iterable[int]] = ..., fixed_values: _Optional[_Iterable[int]] = ...) -> None: ...
