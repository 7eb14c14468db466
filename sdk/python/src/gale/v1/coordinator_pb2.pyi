from gale.v1 import topology_pb2 as _topology_pb2
from gale.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TopologyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOPOLOGY_STATE_UNSPECIFIED: _ClassVar[TopologyState]
    TOPOLOGY_STATE_ACTIVE: _ClassVar[TopologyState]
    TOPOLOGY_STATE_INACTIVE: _ClassVar[TopologyState]
    TOPOLOGY_STATE_KILLED: _ClassVar[TopologyState]
    TOPOLOGY_STATE_REBALANCING: _ClassVar[TopologyState]
    TOPOLOGY_STATE_FINISHED: _ClassVar[TopologyState]
    TOPOLOGY_STATE_KILLING: _ClassVar[TopologyState]

class NodeRunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_RUN_STATE_UNSPECIFIED: _ClassVar[NodeRunState]
    NODE_RUN_STATE_RUNNING: _ClassVar[NodeRunState]
    NODE_RUN_STATE_RESTARTING: _ClassVar[NodeRunState]
    NODE_RUN_STATE_FAILED: _ClassVar[NodeRunState]
    NODE_RUN_STATE_FINISHED: _ClassVar[NodeRunState]

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATE_UNSPECIFIED: _ClassVar[NodeState]
    NODE_STATE_ALIVE: _ClassVar[NodeState]
    NODE_STATE_SUSPECT: _ClassVar[NodeState]
    NODE_STATE_LEAVING: _ClassVar[NodeState]
    NODE_STATE_DEAD: _ClassVar[NodeState]
TOPOLOGY_STATE_UNSPECIFIED: TopologyState
TOPOLOGY_STATE_ACTIVE: TopologyState
TOPOLOGY_STATE_INACTIVE: TopologyState
TOPOLOGY_STATE_KILLED: TopologyState
TOPOLOGY_STATE_REBALANCING: TopologyState
TOPOLOGY_STATE_FINISHED: TopologyState
TOPOLOGY_STATE_KILLING: TopologyState
NODE_RUN_STATE_UNSPECIFIED: NodeRunState
NODE_RUN_STATE_RUNNING: NodeRunState
NODE_RUN_STATE_RESTARTING: NodeRunState
NODE_RUN_STATE_FAILED: NodeRunState
NODE_RUN_STATE_FINISHED: NodeRunState
NODE_STATE_UNSPECIFIED: NodeState
NODE_STATE_ALIVE: NodeState
NODE_STATE_SUSPECT: NodeState
NODE_STATE_LEAVING: NodeState
NODE_STATE_DEAD: NodeState

class SubmitTopologyRequest(_message.Message):
    __slots__ = ("spec", "config", "start_inactive")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    START_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    spec: _topology_pb2.TopologySpec
    config: _containers.MessageMap[str, _value_pb2.Value]
    start_inactive: bool
    def __init__(self, spec: _Optional[_Union[_topology_pb2.TopologySpec, _Mapping]] = ..., config: _Optional[_Mapping[str, _value_pb2.Value]] = ..., start_inactive: _Optional[bool] = ...) -> None: ...

class SubmitTopologyResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class KillTopologyRequest(_message.Message):
    __slots__ = ("name", "wait_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    wait_seconds: int
    def __init__(self, name: _Optional[str] = ..., wait_seconds: _Optional[int] = ...) -> None: ...

class KillTopologyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTopologiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTopologiesResponse(_message.Message):
    __slots__ = ("topologies",)
    TOPOLOGIES_FIELD_NUMBER: _ClassVar[int]
    topologies: _containers.RepeatedCompositeFieldContainer[TopologySummary]
    def __init__(self, topologies: _Optional[_Iterable[_Union[TopologySummary, _Mapping]]] = ...) -> None: ...

class TopologySummary(_message.Message):
    __slots__ = ("name", "id", "state", "tasks", "nodes", "uptime_seconds", "failing_nodes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FAILING_NODES_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    state: TopologyState
    tasks: int
    nodes: int
    uptime_seconds: int
    failing_nodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., state: _Optional[_Union[TopologyState, str]] = ..., tasks: _Optional[int] = ..., nodes: _Optional[int] = ..., uptime_seconds: _Optional[int] = ..., failing_nodes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetTopologyStatusRequest(_message.Message):
    __slots__ = ("name", "local_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    local_only: bool
    def __init__(self, name: _Optional[str] = ..., local_only: _Optional[bool] = ...) -> None: ...

class GetTopologyStatusResponse(_message.Message):
    __slots__ = ("summary", "components", "runs")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    summary: TopologySummary
    components: _containers.RepeatedCompositeFieldContainer[ComponentStatus]
    runs: _containers.RepeatedCompositeFieldContainer[NodeRun]
    def __init__(self, summary: _Optional[_Union[TopologySummary, _Mapping]] = ..., components: _Optional[_Iterable[_Union[ComponentStatus, _Mapping]]] = ..., runs: _Optional[_Iterable[_Union[NodeRun, _Mapping]]] = ...) -> None: ...

class NodeRun(_message.Message):
    __slots__ = ("node", "state", "restarts", "error", "error_unix_millis", "restart_in_millis", "up_millis", "topology_id", "held")
    NODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_UNIX_MILLIS_FIELD_NUMBER: _ClassVar[int]
    RESTART_IN_MILLIS_FIELD_NUMBER: _ClassVar[int]
    UP_MILLIS_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_ID_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    node: str
    state: NodeRunState
    restarts: int
    error: str
    error_unix_millis: int
    restart_in_millis: int
    up_millis: int
    topology_id: str
    held: str
    def __init__(self, node: _Optional[str] = ..., state: _Optional[_Union[NodeRunState, str]] = ..., restarts: _Optional[int] = ..., error: _Optional[str] = ..., error_unix_millis: _Optional[int] = ..., restart_in_millis: _Optional[int] = ..., up_millis: _Optional[int] = ..., topology_id: _Optional[str] = ..., held: _Optional[str] = ...) -> None: ...

class ComponentStatus(_message.Message):
    __slots__ = ("id", "kind", "counters", "tasks", "errors")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: _topology_pb2.ComponentKind
    counters: Counters
    tasks: _containers.RepeatedCompositeFieldContainer[TaskStatus]
    errors: _containers.RepeatedCompositeFieldContainer[ComponentError]
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[_topology_pb2.ComponentKind, str]] = ..., counters: _Optional[_Union[Counters, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[TaskStatus, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[ComponentError, _Mapping]]] = ...) -> None: ...

class TaskStatus(_message.Message):
    __slots__ = ("task_id", "node", "counters", "queue")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    node: str
    counters: Counters
    queue: QueueState
    def __init__(self, task_id: _Optional[int] = ..., node: _Optional[str] = ..., counters: _Optional[_Union[Counters, _Mapping]] = ..., queue: _Optional[_Union[QueueState, _Mapping]] = ...) -> None: ...

class QueueState(_message.Message):
    __slots__ = ("batches", "capacity_batches", "bytes", "capacity_bytes", "overflow_batches", "head_age_micros")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BATCHES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_BATCHES_FIELD_NUMBER: _ClassVar[int]
    HEAD_AGE_MICROS_FIELD_NUMBER: _ClassVar[int]
    batches: int
    capacity_batches: int
    bytes: int
    capacity_bytes: int
    overflow_batches: int
    head_age_micros: int
    def __init__(self, batches: _Optional[int] = ..., capacity_batches: _Optional[int] = ..., bytes: _Optional[int] = ..., capacity_bytes: _Optional[int] = ..., overflow_batches: _Optional[int] = ..., head_age_micros: _Optional[int] = ...) -> None: ...

class ComponentError(_message.Message):
    __slots__ = ("task_id", "message", "unix_millis")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNIX_MILLIS_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    message: str
    unix_millis: int
    def __init__(self, task_id: _Optional[int] = ..., message: _Optional[str] = ..., unix_millis: _Optional[int] = ...) -> None: ...

class Counters(_message.Message):
    __slots__ = ("emitted", "transferred", "executed", "acked", "failed", "complete_latency", "process_latency", "errors")
    EMITTED_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    PROCESS_LATENCY_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    emitted: int
    transferred: int
    executed: int
    acked: int
    failed: int
    complete_latency: LatencyHistogram
    process_latency: LatencyHistogram
    errors: int
    def __init__(self, emitted: _Optional[int] = ..., transferred: _Optional[int] = ..., executed: _Optional[int] = ..., acked: _Optional[int] = ..., failed: _Optional[int] = ..., complete_latency: _Optional[_Union[LatencyHistogram, _Mapping]] = ..., process_latency: _Optional[_Union[LatencyHistogram, _Mapping]] = ..., errors: _Optional[int] = ...) -> None: ...

class LatencyHistogram(_message.Message):
    __slots__ = ("upper_bounds_micros", "counts", "sum_micros", "p50_micros", "p99_micros")
    UPPER_BOUNDS_MICROS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUM_MICROS_FIELD_NUMBER: _ClassVar[int]
    P50_MICROS_FIELD_NUMBER: _ClassVar[int]
    P99_MICROS_FIELD_NUMBER: _ClassVar[int]
    upper_bounds_micros: _containers.RepeatedScalarFieldContainer[float]
    counts: _containers.RepeatedScalarFieldContainer[int]
    sum_micros: float
    p50_micros: float
    p99_micros: float
    def __init__(self, upper_bounds_micros: _Optional[_Iterable[float]] = ..., counts: _Optional[_Iterable[int]] = ..., sum_micros: _Optional[float] = ..., p50_micros: _Optional[float] = ..., p99_micros: _Optional[float] = ...) -> None: ...

class ActivateTopologyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ActivateTopologyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeactivateTopologyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeactivateTopologyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RebalanceTopologyRequest(_message.Message):
    __slots__ = ("name", "parallelism")
    class ParallelismEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    name: str
    parallelism: _containers.ScalarMap[str, int]
    def __init__(self, name: _Optional[str] = ..., parallelism: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RebalanceTopologyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("name", "grpc_addr", "gossip_addr", "slots", "tasks", "version", "state", "leader")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRPC_ADDR_FIELD_NUMBER: _ClassVar[int]
    GOSSIP_ADDR_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    name: str
    grpc_addr: str
    gossip_addr: str
    slots: int
    tasks: int
    version: str
    state: NodeState
    leader: bool
    def __init__(self, name: _Optional[str] = ..., grpc_addr: _Optional[str] = ..., gossip_addr: _Optional[str] = ..., slots: _Optional[int] = ..., tasks: _Optional[int] = ..., version: _Optional[str] = ..., state: _Optional[_Union[NodeState, str]] = ..., leader: _Optional[bool] = ...) -> None: ...
