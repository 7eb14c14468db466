from gale.v1 import topology_pb2 as _topology_pb2
from gale.v1 import tuple_pb2 as _tuple_pb2
from gale.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_LEVEL_UNSPECIFIED: _ClassVar[LogLevel]
    LOG_LEVEL_DEBUG: _ClassVar[LogLevel]
    LOG_LEVEL_INFO: _ClassVar[LogLevel]
    LOG_LEVEL_WARN: _ClassVar[LogLevel]
    LOG_LEVEL_ERROR: _ClassVar[LogLevel]
LOG_LEVEL_UNSPECIFIED: LogLevel
LOG_LEVEL_DEBUG: LogLevel
LOG_LEVEL_INFO: LogLevel
LOG_LEVEL_WARN: LogLevel
LOG_LEVEL_ERROR: LogLevel

class AttachRequest(_message.Message):
    __slots__ = ("hello", "emits", "acks", "log", "heartbeat", "next_done", "error", "finished")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    EMITS_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    NEXT_DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    hello: AttachHello
    emits: EmitBatch
    acks: InputAcks
    log: LogRecord
    heartbeat: Heartbeat
    next_done: NextDone
    error: LogRecord
    finished: Finished
    def __init__(self, hello: _Optional[_Union[AttachHello, _Mapping]] = ..., emits: _Optional[_Union[EmitBatch, _Mapping]] = ..., acks: _Optional[_Union[InputAcks, _Mapping]] = ..., log: _Optional[_Union[LogRecord, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., next_done: _Optional[_Union[NextDone, _Mapping]] = ..., error: _Optional[_Union[LogRecord, _Mapping]] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ...) -> None: ...

class AttachHello(_message.Message):
    __slots__ = ("topology", "component", "task_id", "token", "sdk", "pid", "max_batch")
    TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SDK_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    topology: str
    component: str
    task_id: int
    token: str
    sdk: str
    pid: int
    max_batch: int
    def __init__(self, topology: _Optional[str] = ..., component: _Optional[str] = ..., task_id: _Optional[int] = ..., token: _Optional[str] = ..., sdk: _Optional[str] = ..., pid: _Optional[int] = ..., max_batch: _Optional[int] = ...) -> None: ...

class EmitBatch(_message.Message):
    __slots__ = ("emits",)
    EMITS_FIELD_NUMBER: _ClassVar[int]
    emits: _containers.RepeatedCompositeFieldContainer[Emit]
    def __init__(self, emits: _Optional[_Iterable[_Union[Emit, _Mapping]]] = ...) -> None: ...

class Emit(_message.Message):
    __slots__ = ("stream", "values", "anchors", "message_id", "direct_task")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECT_TASK_FIELD_NUMBER: _ClassVar[int]
    stream: str
    values: _containers.RepeatedCompositeFieldContainer[_value_pb2.Value]
    anchors: _containers.RepeatedScalarFieldContainer[int]
    message_id: int
    direct_task: int
    def __init__(self, stream: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_value_pb2.Value, _Mapping]]] = ..., anchors: _Optional[_Iterable[int]] = ..., message_id: _Optional[int] = ..., direct_task: _Optional[int] = ...) -> None: ...

class InputAcks(_message.Message):
    __slots__ = ("acked", "failed", "reset_timeout")
    ACKED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    RESET_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    acked: _containers.RepeatedScalarFieldContainer[int]
    failed: _containers.RepeatedScalarFieldContainer[int]
    reset_timeout: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, acked: _Optional[_Iterable[int]] = ..., failed: _Optional[_Iterable[int]] = ..., reset_timeout: _Optional[_Iterable[int]] = ...) -> None: ...

class LogRecord(_message.Message):
    __slots__ = ("level", "message")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    level: LogLevel
    message: str
    def __init__(self, level: _Optional[_Union[LogLevel, str]] = ..., message: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("busy_millis", "busy_in")
    BUSY_MILLIS_FIELD_NUMBER: _ClassVar[int]
    BUSY_IN_FIELD_NUMBER: _ClassVar[int]
    busy_millis: int
    busy_in: str
    def __init__(self, busy_millis: _Optional[int] = ..., busy_in: _Optional[str] = ...) -> None: ...

class NextDone(_message.Message):
    __slots__ = ("end_of_input",)
    END_OF_INPUT_FIELD_NUMBER: _ClassVar[int]
    end_of_input: bool
    def __init__(self, end_of_input: _Optional[bool] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("welcome", "inputs", "next", "spout_acks", "heartbeat", "activate", "deactivate", "end_of_input", "error")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    SPOUT_ACKS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_FIELD_NUMBER: _ClassVar[int]
    END_OF_INPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    welcome: TaskContext
    inputs: _tuple_pb2.TupleBatch
    next: NextRequest
    spout_acks: SpoutAcks
    heartbeat: Heartbeat
    activate: Activate
    deactivate: Deactivate
    end_of_input: EndOfInput
    error: LogRecord
    def __init__(self, welcome: _Optional[_Union[TaskContext, _Mapping]] = ..., inputs: _Optional[_Union[_tuple_pb2.TupleBatch, _Mapping]] = ..., next: _Optional[_Union[NextRequest, _Mapping]] = ..., spout_acks: _Optional[_Union[SpoutAcks, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., activate: _Optional[_Union[Activate, _Mapping]] = ..., deactivate: _Optional[_Union[Deactivate, _Mapping]] = ..., end_of_input: _Optional[_Union[EndOfInput, _Mapping]] = ..., error: _Optional[_Union[LogRecord, _Mapping]] = ...) -> None: ...

class TaskContext(_message.Message):
    __slots__ = ("topology", "topology_id", "component", "task_id", "task_index", "config", "component_tasks", "outputs", "inputs", "source_fields", "heartbeat_millis")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    class ComponentTasksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TaskIds
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TaskIds, _Mapping]] = ...) -> None: ...
    class SourceFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Fields
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Fields, _Mapping]] = ...) -> None: ...
    TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_TASKS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    topology: str
    topology_id: str
    component: str
    task_id: int
    task_index: int
    config: _containers.MessageMap[str, _value_pb2.Value]
    component_tasks: _containers.MessageMap[str, TaskIds]
    outputs: _containers.RepeatedCompositeFieldContainer[_topology_pb2.StreamSpec]
    inputs: _containers.RepeatedCompositeFieldContainer[_topology_pb2.InputSpec]
    source_fields: _containers.MessageMap[str, Fields]
    heartbeat_millis: int
    def __init__(self, topology: _Optional[str] = ..., topology_id: _Optional[str] = ..., component: _Optional[str] = ..., task_id: _Optional[int] = ..., task_index: _Optional[int] = ..., config: _Optional[_Mapping[str, _value_pb2.Value]] = ..., component_tasks: _Optional[_Mapping[str, TaskIds]] = ..., outputs: _Optional[_Iterable[_Union[_topology_pb2.StreamSpec, _Mapping]]] = ..., inputs: _Optional[_Iterable[_Union[_topology_pb2.InputSpec, _Mapping]]] = ..., source_fields: _Optional[_Mapping[str, Fields]] = ..., heartbeat_millis: _Optional[int] = ...) -> None: ...

class TaskIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class Fields(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class NextRequest(_message.Message):
    __slots__ = ("max",)
    MAX_FIELD_NUMBER: _ClassVar[int]
    max: int
    def __init__(self, max: _Optional[int] = ...) -> None: ...

class SpoutAcks(_message.Message):
    __slots__ = ("acked", "failed")
    ACKED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    acked: _containers.RepeatedScalarFieldContainer[int]
    failed: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, acked: _Optional[_Iterable[int]] = ..., failed: _Optional[_Iterable[int]] = ...) -> None: ...

class Activate(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Deactivate(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EndOfInput(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Finished(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
