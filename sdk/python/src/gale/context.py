"""What a task knows: its identity, config, topology layout and input tuples.

These mirror the Go SDK's ``TaskContext``, ``Config``, ``Source`` and
``Tuple`` (sdk/component.go, sdk/config.go, sdk/tuple.go) with Python
names. Everything here is built from the node's ``welcome`` frame and the
``inputs`` frames; nothing is sent from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence

from gale.values import Scalar, from_proto

#: The stream plain emits go to.
DEFAULT_STREAM = "default"
#: The stream of tick tuples.
TICK_STREAM = "__tick"
#: The source component of tick tuples.
SYSTEM_COMPONENT = "__system"


class ConfigError(ValueError):
    """A config value does not have the type a getter asked for."""


class Config(Mapping[str, Scalar]):
    """The task's merged config: topology config overridden by component
    config overridden by ``--conf`` flags, as the node sent it.

    It is a read-only mapping of key to Python scalar. The typed getters
    convert strings (``--conf key=value`` always gives strings) the way the
    Go SDK's Config does, and raise ConfigError naming the key when a value
    does not fit, instead of failing later with a confusing TypeError.
    """

    __slots__ = ("_d",)

    def __init__(self, values: Optional[Mapping[str, Scalar]] = None):
        self._d: dict[str, Scalar] = dict(values or {})

    def __getitem__(self, key: str) -> Scalar:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Config({self._d!r})"

    def get_str(self, key: str, default: str = "") -> str:
        """Returns key as text (ints and floats in their usual decimal form),
        or default when unset or null."""
        v = self._d.get(key)
        if v is None:
            return default
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def get_int(self, key: str, default: int = 0) -> int:
        """Returns key as an integer, or default when unset or null. Accepts
        ints, integral floats and decimal strings."""
        v = self._d.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            raise ConfigError(f"config {key}: want an integer, got bool {v}")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str):
            try:
                return int(v.strip(), 10)
            except ValueError:
                pass
        raise ConfigError(f"config {key}: want an integer, got {type(v).__name__} {v!r}")

    def get_float(self, key: str, default: float = 0.0) -> float:
        """Returns key as a number, or default when unset or null."""
        v = self._d.get(key)
        if v is None:
            return default
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v.strip())
            except ValueError:
                pass
        raise ConfigError(f"config {key}: want a number, got {type(v).__name__} {v!r}")

    def get_bool(self, key: str, default: bool = False) -> bool:
        """Returns key as a boolean, or default when unset or null. Accepts
        bools and the strings Go's strconv.ParseBool accepts."""
        v = self._d.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            s = v.strip()
            if s in ("1", "t", "T", "true", "TRUE", "True"):
                return True
            if s in ("0", "f", "F", "false", "FALSE", "False"):
                return False
        raise ConfigError(f"config {key}: want true or false, got {type(v).__name__} {v!r}")


@dataclass(frozen=True)
class Stream:
    """An output stream declaration: its id, field names, and whether it is
    direct (every emit names its destination task)."""

    id: str
    fields: tuple[str, ...]
    direct: bool = False

    def __init__(self, id: str, fields: Sequence[str], direct: bool = False):
        if isinstance(fields, str):
            raise TypeError(f"stream '{id}': fields must be a list of names, not the string {fields!r}")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "fields", tuple(fields))
        object.__setattr__(self, "direct", bool(direct))


@dataclass(frozen=True)
class Input:
    """One subscription of a bolt: a stream of a component and its grouping
    (the ``GROUPING_TYPE_*`` name without the prefix, lowercased: "shuffle",
    "fields"...), with the grouping's key fields."""

    component: str
    stream: str
    grouping: str
    fields: tuple[str, ...] = ()


class Source:
    """Where a group of input tuples comes from: the emitting component, the
    stream and its field names. One Source is shared by every tuple of that
    stream, so that reading a field by name costs one dict lookup."""

    __slots__ = ("component", "stream", "fields", "index")

    def __init__(self, component: str, stream: str, fields: Sequence[str]):
        self.component = component
        self.stream = stream
        self.fields = tuple(fields)
        self.index = {name: i for i, name in enumerate(self.fields)}

    def __repr__(self) -> str:
        return f"Source({self.component}:{self.stream} {list(self.fields)})"


#: The Source of every tick tuple.
TICK_SOURCE = Source(SYSTEM_COMPONENT, TICK_STREAM, ())


class Tuple:
    """One input tuple as a bolt sees it.

    ``values`` are the fields in the order of ``fields``; ``tup[0]`` and
    ``tup["word"]`` read them by position or name. ``id`` is the handle the
    node gave the tuple: the bolt acks, fails or anchors to the Tuple
    object itself, and may keep it past ``execute`` to do so later
    (holding inputs for joins or windows). Field values are plain Python
    scalars.
    """

    __slots__ = ("values", "source", "source_task", "id", "_afield")

    def __init__(self, values: list, source: Source, source_task: int, id: int):
        self.values = values
        self.source = source
        self.source_task = source_task
        self.id = id
        self._afield: Optional[bytes] = None  # encoded anchors field, made on first anchored emit

    @property
    def stream(self) -> str:
        """The stream the tuple came on."""
        return self.source.stream

    @property
    def component(self) -> str:
        """The id of the component that emitted the tuple ("__system" for ticks)."""
        return self.source.component

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names of the tuple's stream."""
        return self.source.fields

    @property
    def is_tick(self) -> bool:
        """Whether this is a tick tuple (stream "__tick"); ticks need no ack."""
        return self.source is TICK_SOURCE

    def __getitem__(self, key: int | str) -> Scalar:
        if type(key) is str:
            try:
                return self.values[self.source.index[key]]
            except KeyError:
                raise KeyError(
                    f"tuple from {self.source.component}:{self.source.stream} has no field '{key}' "
                    f"(its fields: {', '.join(self.source.fields) or 'none'})"
                ) from None
        return self.values[key]

    def get(self, name: str, default: Any = None) -> Any:
        """Returns the field called name, or default when the stream has no such field."""
        i = self.source.index.get(name)
        return default if i is None else self.values[i]

    def _typed(self, name: str, want: type, what: str) -> Any:
        v = self[name]
        if type(v) is not want:
            got = "None" if v is None else f"{type(v).__name__} {v!r}"
            raise TypeError(
                f"field '{name}' of a tuple from {self.source.component}:{self.source.stream} is {got}, want {what}"
            )
        return v

    def get_int(self, name: str) -> int:
        """The field called name, an int (a TypeError names the field and
        what it holds otherwise; a KeyError names the stream's fields)."""
        return self._typed(name, int, "an int")

    def get_float(self, name: str) -> float:
        """The field called name, a float (see get_int)."""
        return self._typed(name, float, "a float")

    def get_str(self, name: str) -> str:
        """The field called name, a str (see get_int)."""
        return self._typed(name, str, "a str")

    def get_bool(self, name: str) -> bool:
        """The field called name, a bool (see get_int)."""
        return self._typed(name, bool, "a bool")

    def get_bytes(self, name: str) -> bytes:
        """The field called name, bytes (see get_int)."""
        return self._typed(name, bytes, "bytes")

    def as_dict(self) -> dict[str, Scalar]:
        """The fields as a dict of name to value."""
        return dict(zip(self.source.fields, self.values))

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Scalar]:
        return iter(self.values)

    def __repr__(self) -> str:
        return f"Tuple(id={self.id}, from={self.source.component}:{self.source.stream} task {self.source_task}, values={self.values!r})"


_GROUPING_NAMES = {
    0: "unspecified",
    1: "shuffle",
    2: "fields",
    3: "all",
    4: "global",
    5: "direct",
    6: "local_or_shuffle",
    7: "partial_key",
    8: "none",
}


@dataclass
class TaskContext:
    """What a task knows about itself and its topology (the ``welcome``).

    ``component_tasks`` maps every component id to its task ids (increasing);
    ``outputs`` are this component's declared streams by id; ``inputs`` its
    subscriptions; ``source_fields`` the field names of each input stream,
    keyed "component:stream".
    """

    topology: str
    topology_id: str
    component: str
    task_id: int
    task_index: int
    config: Config
    component_tasks: dict[str, tuple[int, ...]]
    outputs: dict[str, Stream]
    inputs: list[Input] = field(default_factory=list)
    source_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    heartbeat_millis: int = 1000

    @property
    def tasks(self) -> tuple[int, ...]:
        """The task ids of this task's own component."""
        return self.component_tasks.get(self.component, ())

    def component_of(self, task_id: int) -> Optional[str]:
        """The component that task_id belongs to, or None if no component has it."""
        for comp, ids in self.component_tasks.items():
            if task_id in ids:
                return comp
        return None

    @classmethod
    def from_proto(cls, pb: Any) -> "TaskContext":
        """Builds a TaskContext from a ``gale.v1.TaskContext`` message."""
        return cls(
            topology=pb.topology,
            topology_id=pb.topology_id,
            component=pb.component,
            task_id=pb.task_id,
            task_index=pb.task_index,
            config=Config({k: from_proto(v) for k, v in pb.config.items()}),
            component_tasks={k: tuple(v.ids) for k, v in pb.component_tasks.items()},
            outputs={s.id: Stream(s.id, list(s.fields), s.direct) for s in pb.outputs},
            inputs=[
                Input(
                    i.component,
                    i.stream or DEFAULT_STREAM,
                    _GROUPING_NAMES.get(i.grouping.type, str(i.grouping.type)),
                    tuple(i.grouping.fields),
                )
                for i in pb.inputs
            ],
            source_fields={k: tuple(v.names) for k, v in pb.source_fields.items()},
            heartbeat_millis=pb.heartbeat_millis,
        )
