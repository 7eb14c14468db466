from gale.v1 import tuple_pb2 as _tuple_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferRequest(_message.Message):
    __slots__ = ("hello", "tuples", "acks", "end_of_input", "packed")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    TUPLES_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    END_OF_INPUT_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    hello: TransferHello
    tuples: _tuple_pb2.TupleBatch
    acks: _tuple_pb2.AckBatch
    end_of_input: TaskEndOfInput
    packed: PackedTuples
    def __init__(self, hello: _Optional[_Union[TransferHello, _Mapping]] = ..., tuples: _Optional[_Union[_tuple_pb2.TupleBatch, _Mapping]] = ..., acks: _Optional[_Union[_tuple_pb2.AckBatch, _Mapping]] = ..., end_of_input: _Optional[_Union[TaskEndOfInput, _Mapping]] = ..., packed: _Optional[_Union[PackedTuples, _Mapping]] = ...) -> None: ...

class TransferFrame(_message.Message):
    __slots__ = ("hello", "tuples", "acks", "end_of_input", "packed")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    TUPLES_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    END_OF_INPUT_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    hello: TransferHello
    tuples: _tuple_pb2.TupleBatch
    acks: bytes
    end_of_input: TaskEndOfInput
    packed: bytes
    def __init__(self, hello: _Optional[_Union[TransferHello, _Mapping]] = ..., tuples: _Optional[_Union[_tuple_pb2.TupleBatch, _Mapping]] = ..., acks: _Optional[bytes] = ..., end_of_input: _Optional[_Union[TaskEndOfInput, _Mapping]] = ..., packed: _Optional[bytes] = ...) -> None: ...

class PackedTuples(_message.Message):
    __slots__ = ("source_tasks", "dest_tasks", "streams", "stream_names", "value_counts", "values", "anchor_counts", "roots", "edges", "fixed_roots", "fixed_edges")
    SOURCE_TASKS_FIELD_NUMBER: _ClassVar[int]
    DEST_TASKS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAMES_FIELD_NUMBER: _ClassVar[int]
    VALUE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    FIXED_ROOTS_FIELD_NUMBER: _ClassVar[int]
    FIXED_EDGES_FIELD_NUMBER: _ClassVar[int]
    source_tasks: _containers.RepeatedScalarFieldContainer[int]
    dest_tasks: _containers.RepeatedScalarFieldContainer[int]
    streams: _containers.RepeatedScalarFieldContainer[int]
    stream_names: _containers.RepeatedScalarFieldContainer[str]
    value_counts: _containers.RepeatedScalarFieldContainer[int]
    values: bytes
    anchor_counts: _containers.RepeatedScalarFieldContainer[int]
    roots: _containers.RepeatedScalarFieldContainer[int]
    edges: _containers.RepeatedScalarFieldContainer[int]
    fixed_roots: _containers.RepeatedScalarFieldContainer[int]
    fixed_edges: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, source_tasks: _Optional[_Iterable[int]] = ..., dest_tasks: _Optional[_Iterable[int]] = ..., streams: _Optional[_Iterable[int]] = ..., stream_names: _Optional[_Iterable[str]] = ..., value_counts: _Optional[_Iterable[int]] = ..., values: _Optional[bytes] = ..., anchor_counts: _Optional[_Iterable[int]] = ..., roots: _Optional[_Iterable[int]] = ..., edges: _Optional[_Iterable[int]] = ..., fixed_roots: _Optional[_Iterable[int]] = ..., fixed_edges: _Optional[_Iterable[int]] = ...) -> None: ...

class TaskEndOfInput(_message.Message):
    __slots__ = ("from_task", "to_tasks")
    FROM_TASK_FIELD_NUMBER: _ClassVar[int]
    TO_TASKS_FIELD_NUMBER: _ClassVar[int]
    from_task: int
    to_tasks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, from_task: _Optional[int] = ..., to_tasks: _Optional[_Iterable[int]] = ...) -> None: ...

class TransferHello(_message.Message):
    __slots__ = ("node", "topology_id", "credit_window", "credit_window_bytes")
    NODE_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CREDIT_WINDOW_BYTES_FIELD_NUMBER: _ClassVar[int]
    node: str
    topology_id: str
    credit_window: int
    credit_window_bytes: int
    def __init__(self, node: _Optional[str] = ..., topology_id: _Optional[str] = ..., credit_window: _Optional[int] = ..., credit_window_bytes: _Optional[int] = ...) -> None: ...

class TransferResponse(_message.Message):
    __slots__ = ("credit", "rejected")
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    credit: Credit
    rejected: TaskMoved
    def __init__(self, credit: _Optional[_Union[Credit, _Mapping]] = ..., rejected: _Optional[_Union[TaskMoved, _Mapping]] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("tuples", "tasks", "task_tuples", "task_bytes", "counts_bytes")
    TUPLES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TASK_TUPLES_FIELD_NUMBER: _ClassVar[int]
    TASK_BYTES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BYTES_FIELD_NUMBER: _ClassVar[int]
    tuples: int
    tasks: _containers.RepeatedScalarFieldContainer[int]
    task_tuples: _containers.RepeatedScalarFieldContainer[int]
    task_bytes: _containers.RepeatedScalarFieldContainer[int]
    counts_bytes: bool
    def __init__(self, tuples: _Optional[int] = ..., tasks: _Optional[_Iterable[int]] = ..., task_tuples: _Optional[_Iterable[int]] = ..., task_bytes: _Optional[_Iterable[int]] = ..., counts_bytes: _Optional[bool] = ...) -> None: ...

class TaskMoved(_message.Message):
    __slots__ = ("tasks", "roots")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedScalarFieldContainer[int]
    roots: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, tasks: _Optional[_Iterable[int]] = ..., roots: _Optional[_Iterable[int]] = ...) -> None: ...
