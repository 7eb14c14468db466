from gale.v1 import coordinator_pb2 as _coordinator_pb2
from gale.v1 import topology_pb2 as _topology_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TopologyRecord(_message.Message):
    __slots__ = ("spec", "id", "state", "submitted_unix_millis", "kill_at_unix_millis", "finished_unix_millis")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_UNIX_MILLIS_FIELD_NUMBER: _ClassVar[int]
    KILL_AT_UNIX_MILLIS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_MILLIS_FIELD_NUMBER: _ClassVar[int]
    spec: _topology_pb2.TopologySpec
    id: str
    state: _coordinator_pb2.TopologyState
    submitted_unix_millis: int
    kill_at_unix_millis: int
    finished_unix_millis: int
    def __init__(self, spec: _Optional[_Union[_topology_pb2.TopologySpec, _Mapping]] = ..., id: _Optional[str] = ..., state: _Optional[_Union[_coordinator_pb2.TopologyState, str]] = ..., submitted_unix_millis: _Optional[int] = ..., kill_at_unix_millis: _Optional[int] = ..., finished_unix_millis: _Optional[int] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("topology_id", "tasks", "leader", "version")
    class TasksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    TOPOLOGY_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    topology_id: str
    tasks: _containers.ScalarMap[int, str]
    leader: str
    version: int
    def __init__(self, topology_id: _Optional[str] = ..., tasks: _Optional[_Mapping[int, str]] = ..., leader: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class FinishedTasks(_message.Message):
    __slots__ = ("topology_id", "node", "tasks")
    TOPOLOGY_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    topology_id: str
    node: str
    tasks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, topology_id: _Optional[str] = ..., node: _Optional[str] = ..., tasks: _Optional[_Iterable[int]] = ...) -> None: ...
