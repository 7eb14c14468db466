from gale.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComponentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPONENT_KIND_UNSPECIFIED: _ClassVar[ComponentKind]
    COMPONENT_KIND_SPOUT: _ClassVar[ComponentKind]
    COMPONENT_KIND_BOLT: _ClassVar[ComponentKind]

class ExternalProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTERNAL_PROTOCOL_UNSPECIFIED: _ClassVar[ExternalProtocol]
    EXTERNAL_PROTOCOL_ATTACH: _ClassVar[ExternalProtocol]
    EXTERNAL_PROTOCOL_STORM_MULTILANG: _ClassVar[ExternalProtocol]

class GroupingType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUPING_TYPE_UNSPECIFIED: _ClassVar[GroupingType]
    GROUPING_TYPE_SHUFFLE: _ClassVar[GroupingType]
    GROUPING_TYPE_FIELDS: _ClassVar[GroupingType]
    GROUPING_TYPE_ALL: _ClassVar[GroupingType]
    GROUPING_TYPE_GLOBAL: _ClassVar[GroupingType]
    GROUPING_TYPE_DIRECT: _ClassVar[GroupingType]
    GROUPING_TYPE_LOCAL_OR_SHUFFLE: _ClassVar[GroupingType]
    GROUPING_TYPE_PARTIAL_KEY: _ClassVar[GroupingType]
    GROUPING_TYPE_NONE: _ClassVar[GroupingType]
COMPONENT_KIND_UNSPECIFIED: ComponentKind
COMPONENT_KIND_SPOUT: ComponentKind
COMPONENT_KIND_BOLT: ComponentKind
EXTERNAL_PROTOCOL_UNSPECIFIED: ExternalProtocol
EXTERNAL_PROTOCOL_ATTACH: ExternalProtocol
EXTERNAL_PROTOCOL_STORM_MULTILANG: ExternalProtocol
GROUPING_TYPE_UNSPECIFIED: GroupingType
GROUPING_TYPE_SHUFFLE: GroupingType
GROUPING_TYPE_FIELDS: GroupingType
GROUPING_TYPE_ALL: GroupingType
GROUPING_TYPE_GLOBAL: GroupingType
GROUPING_TYPE_DIRECT: GroupingType
GROUPING_TYPE_LOCAL_OR_SHUFFLE: GroupingType
GROUPING_TYPE_PARTIAL_KEY: GroupingType
GROUPING_TYPE_NONE: GroupingType

class TopologySpec(_message.Message):
    __slots__ = ("name", "components", "config", "source")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    components: _containers.RepeatedCompositeFieldContainer[ComponentSpec]
    config: _containers.MessageMap[str, _value_pb2.Value]
    source: str
    def __init__(self, name: _Optional[str] = ..., components: _Optional[_Iterable[_Union[ComponentSpec, _Mapping]]] = ..., config: _Optional[_Mapping[str, _value_pb2.Value]] = ..., source: _Optional[str] = ...) -> None: ...

class ComponentSpec(_message.Message):
    __slots__ = ("id", "kind", "parallelism", "command", "attached", "outputs", "inputs", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    CLASS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: ComponentKind
    parallelism: int
    command: ExternalCommand
    attached: AttachedComponent
    outputs: _containers.RepeatedCompositeFieldContainer[StreamSpec]
    inputs: _containers.RepeatedCompositeFieldContainer[InputSpec]
    config: _containers.MessageMap[str, _value_pb2.Value]
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[ComponentKind, str]] = ..., parallelism: _Optional[int] = ..., command: _Optional[_Union[ExternalCommand, _Mapping]] = ..., attached: _Optional[_Union[AttachedComponent, _Mapping]] = ..., outputs: _Optional[_Iterable[_Union[StreamSpec, _Mapping]]] = ..., inputs: _Optional[_Iterable[_Union[InputSpec, _Mapping]]] = ..., config: _Optional[_Mapping[str, _value_pb2.Value]] = ..., **kwargs) -> None: ...

class ExternalCommand(_message.Message):
    __slots__ = ("argv", "dir", "env", "protocol")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARGV_FIELD_NUMBER: _ClassVar[int]
    DIR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    dir: str
    env: _containers.ScalarMap[str, str]
    protocol: ExternalProtocol
    def __init__(self, argv: _Optional[_Iterable[str]] = ..., dir: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., protocol: _Optional[_Union[ExternalProtocol, str]] = ...) -> None: ...

class AttachedComponent(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class StreamSpec(_message.Message):
    __slots__ = ("id", "fields", "direct")
    ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    id: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    direct: bool
    def __init__(self, id: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., direct: _Optional[bool] = ...) -> None: ...

class InputSpec(_message.Message):
    __slots__ = ("component", "stream", "grouping")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    GROUPING_FIELD_NUMBER: _ClassVar[int]
    component: str
    stream: str
    grouping: Grouping
    def __init__(self, component: _Optional[str] = ..., stream: _Optional[str] = ..., grouping: _Optional[_Union[Grouping, _Mapping]] = ...) -> None: ...

class Grouping(_message.Message):
    __slots__ = ("type", "fields")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    type: GroupingType
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[_Union[GroupingType, str]] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...
