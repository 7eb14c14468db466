"""Building a topology in Python, and submitting it.

:class:`TopologyBuilder` is the Python form of the Go SDK's builder
(sdk/builder.go): it produces the same ``gale.v1.TopologySpec`` that a
topology YAML file becomes::

    b = gale.TopologyBuilder("wordcount")
    b.set_spout("sentences", class_name="wordcount.SentenceSpout")
    b.set_bolt("split", run=["python3", "split.py"], parallelism=2) \\
        .output("default", ["word"]).shuffle_grouping("sentences")
    b.set_bolt("count", run=["python3", "count.py"], parallelism=2) \\
        .fields_grouping("split", ["word"])
    spec = b.build()
    run_id = gale.submit("127.0.0.1:7400", spec)

A component is implemented by exactly one of: ``class_name`` (a Go
component registered in the gale binary; it declares its own outputs),
``run`` (one external process per task, started by the node with the
Attach environment), or ``attached=True`` (processes that attach by
themselves, optionally with a ``token``). External and attached components
declare their outputs here, since only their process knows them.

Like the Go builder, the setters never raise for a bad topology: every
mistake is collected and :meth:`TopologyBuilder.build` raises one
:class:`TopologyError` listing them all, each naming the component and
field. The checks are the ones that can be made without the node (names,
parallelism, subscriptions to undeclared streams or fields, groupings that
do not fit the stream); the node validates the spec again on submit.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Optional, Self, Sequence

import grpc

from gale.context import DEFAULT_STREAM, Stream
from gale.errors import GaleError, SubmitError, TopologyError
from gale.tls import _PLAINTEXT_HINT, TLSFiles, _channel, _resolve, _TLSProblem
from gale.v1 import coordinator_pb2, topology_pb2
from gale.values import ValueTypeError, config_to_proto, to_proto

__all__ = ["TopologyBuilder", "SpoutDeclarer", "BoltDeclarer", "submit", "connect", "BUILDER_SOURCE"]

#: TopologySpec.source of specs made by this builder.
BUILDER_SOURCE = "python-builder"
#: The largest parallelism the node accepts (sdk/spec MaxParallelism).
MAX_PARALLELISM = 10000

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_NAME_RULE = "use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"

_G = topology_pb2
GROUPINGS = {
    "shuffle": _G.GROUPING_TYPE_SHUFFLE,
    "fields": _G.GROUPING_TYPE_FIELDS,
    "all": _G.GROUPING_TYPE_ALL,
    "global": _G.GROUPING_TYPE_GLOBAL,
    "direct": _G.GROUPING_TYPE_DIRECT,
    "local_or_shuffle": _G.GROUPING_TYPE_LOCAL_OR_SHUFFLE,
    "partial_key": _G.GROUPING_TYPE_PARTIAL_KEY,
    "none": _G.GROUPING_TYPE_NONE,
}
_GROUPING_NAME = {v: k for k, v in GROUPINGS.items()}
_KEYED = (_G.GROUPING_TYPE_FIELDS, _G.GROUPING_TYPE_PARTIAL_KEY)
_PROTOCOLS = {
    "gale": _G.EXTERNAL_PROTOCOL_ATTACH,
    "attach": _G.EXTERNAL_PROTOCOL_ATTACH,
    "storm_multilang": _G.EXTERNAL_PROTOCOL_STORM_MULTILANG,
}


class _Declarer:
    """What spout and bolt declarers share: the component they configure."""

    def __init__(self, builder: "TopologyBuilder", index: int):
        self._b = builder
        self._i = index

    @property
    def spec(self) -> topology_pb2.ComponentSpec:
        """The component's spec as built so far (a live message)."""
        return self._b._comps[self._i]

    def _who(self) -> str:
        c = self.spec
        return f"{'spout' if c.kind == _G.COMPONENT_KIND_SPOUT else 'bolt'} '{c.id}'"

    def _misuse(self, msg: str) -> None:
        self._b._problems.append(f"{self._who()}: {msg}")

    def output(self, stream: str, fields: Sequence[str], direct: bool = False) -> Self:
        """Declares one output stream of an external or attached component."""
        return self.outputs(Stream(stream, fields, direct))

    def outputs(self, *streams: Stream) -> Self:
        """Declares output streams of an external or attached component. A
        Go class declares its own; declaring them here is an error."""
        c = self.spec
        if c.WhichOneof("implementation") == "class":
            self._misuse(f"outputs are only for external and attached components; class '{getattr(c, 'class')}' declares its own")
            return self
        for s in streams:
            if isinstance(s, str):
                self._misuse(f"outputs takes gale.Stream values (or use output(id, fields)), got the string {s!r}")
                continue
            c.outputs.add(id=s.id, fields=list(s.fields), direct=s.direct)
        return self

    def config(self, key: str, value: Any) -> Self:
        """Sets a config key for this component's tasks only, overriding the topology's."""
        try:
            self.spec.config[key].CopyFrom(to_proto(value, f"config key '{key}'"))
        except ValueTypeError as e:
            self._misuse(str(e))
        return self

    def _command(self, what: str) -> Optional[topology_pb2.ExternalCommand]:
        c = self.spec
        if c.WhichOneof("implementation") != "command":
            self._misuse(f"{what} is only for external components (run=[...])")
            return None
        return c.command

    def dir(self, path: str) -> Self:
        """Sets the working directory of an external component's processes.
        Give an absolute path: a relative one is taken from the working
        directory of the node that runs the process (a YAML file's are taken
        from the file's folder by ``gale submit``; a builder has no file)."""
        cmd = self._command("dir")
        if cmd is not None:
            cmd.dir = path
        return self

    def env(self, key: str, value: str) -> Self:
        """Adds an environment variable to an external component's processes."""
        cmd = self._command("env")
        if cmd is not None:
            cmd.env[key] = value
        return self

    def protocol(self, name: str) -> Self:
        """Sets what an external component's processes speak: "gale" (the
        Attach protocol, the default) or "storm-multilang", as in YAML."""
        cmd = self._command("protocol")
        if cmd is not None:
            p = _PROTOCOLS.get(name.lower().replace("-", "_"))
            if p is None:
                self._misuse(f"unknown protocol '{name}'; use gale or storm-multilang")
            else:
                cmd.protocol = p
        return self


class SpoutDeclarer(_Declarer):
    """Configures a spout added with TopologyBuilder.set_spout; methods chain."""


class BoltDeclarer(_Declarer):
    """Configures a bolt added with TopologyBuilder.set_bolt and subscribes
    it to streams; methods chain. An omitted stream is "default"."""

    def grouping(self, source: str, grouping: str, fields: Sequence[str] = (), stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Subscribes to stream of source with any grouping by name
        (shuffle, fields, all, global, direct, local_or_shuffle,
        partial_key, none); the named methods are shorthands for it."""
        if isinstance(fields, str):
            self._misuse(f"grouping on '{source}': fields must be a list of names, not the string {fields!r}")
            fields = (fields,)
        t = GROUPINGS.get(str(grouping).lower().replace("-", "_"))
        if t is None:
            self._misuse(f"input from '{source}': unknown grouping '{grouping}'; use one of {', '.join(GROUPINGS)}")
            t = _G.GROUPING_TYPE_UNSPECIFIED
        self.spec.inputs.add(component=source, stream=stream, grouping=topology_pb2.Grouping(type=t, fields=list(fields)))
        return self

    def shuffle_grouping(self, source: str, stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Spreads the stream's tuples evenly over this bolt's tasks."""
        return self.grouping(source, "shuffle", (), stream)

    def fields_grouping(self, source: str, fields: Sequence[str], stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Sends tuples with equal values of fields to the same task."""
        return self.grouping(source, "fields", fields, stream)

    def partial_key_grouping(self, source: str, fields: Sequence[str], stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Sends each key to the less loaded of two candidate tasks (skewed keys)."""
        return self.grouping(source, "partial_key", fields, stream)

    def all_grouping(self, source: str, stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Replicates every tuple to every task."""
        return self.grouping(source, "all", (), stream)

    def global_grouping(self, source: str, stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Sends every tuple to the task with the lowest id."""
        return self.grouping(source, "global", (), stream)

    def direct_grouping(self, source: str, stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Lets the emitter choose the task; the stream must be direct."""
        return self.grouping(source, "direct", (), stream)

    def local_or_shuffle_grouping(self, source: str, stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Prefers tasks in the emitter's process, else shuffles."""
        return self.grouping(source, "local_or_shuffle", (), stream)

    def none_grouping(self, source: str, stream: str = DEFAULT_STREAM) -> "BoltDeclarer":
        """Any task will do (Gale shuffles)."""
        return self.grouping(source, "none", (), stream)


class TopologyBuilder:
    """Builds a ``gale.v1.TopologySpec`` (see the module documentation).

    Not safe for concurrent use. ``build`` may be called more than once;
    each call returns an independent spec.
    """

    def __init__(self, name: str):
        self.name = name
        self._comps: list[topology_pb2.ComponentSpec] = []
        self._config: dict[str, Any] = {}
        self._problems: list[str] = []

    def set_config(self, key: str, value: Any) -> "TopologyBuilder":
        """Sets a topology config key, read by every component (and by Gale
        for topology.* keys, see sdk/CONFIG.md)."""
        self._config[key] = value
        return self

    def set_spout(
        self,
        id: str,
        *,
        class_name: Optional[str] = None,
        run: Optional[Sequence[str]] = None,
        attached: bool = False,
        token: str = "",
        parallelism: int = 1,
    ) -> SpoutDeclarer:
        """Adds a spout implemented by a Go class, an external command
        (``run``) or attached processes."""
        return SpoutDeclarer(self, self._add(id, _G.COMPONENT_KIND_SPOUT, class_name, run, attached, token, parallelism))

    def set_bolt(
        self,
        id: str,
        *,
        class_name: Optional[str] = None,
        run: Optional[Sequence[str]] = None,
        attached: bool = False,
        token: str = "",
        parallelism: int = 1,
    ) -> BoltDeclarer:
        """Adds a bolt implemented by a Go class, an external command
        (``run``) or attached processes. Subscribe it with the grouping
        methods of the returned declarer."""
        return BoltDeclarer(self, self._add(id, _G.COMPONENT_KIND_BOLT, class_name, run, attached, token, parallelism))

    def _add(self, id, kind, class_name, run, attached, token, parallelism) -> int:
        c = topology_pb2.ComponentSpec(id=id, kind=kind)
        who = f"{'spout' if kind == _G.COMPONENT_KIND_SPOUT else 'bolt'} '{id}'"
        if isinstance(parallelism, bool) or not isinstance(parallelism, int):
            self._problems.append(f"{who}: parallelism must be an integer, got {parallelism!r}")
            parallelism = 1
        c.parallelism = max(min(parallelism, 2**31 - 1), -(2**31))
        given = [n for n, v in (("class_name", class_name), ("run", run), ("attached", attached)) if v]
        if len(given) != 1:
            self._problems.append(
                f"{who}: give exactly one of class_name (a Go component), run (an external command) "
                f"or attached=True; got {', '.join(given) or 'none'}"
            )
        if class_name:
            setattr(c, "class", class_name)
        elif run:
            if isinstance(run, str):
                self._problems.append(f"{who}: run must be a list such as ['python3', 'bolt.py'], not the string {run!r}")
                run = run.split()
            c.command.argv.extend(list(run))
        elif attached:
            c.attached.token = token
        if token and not attached:
            self._problems.append(f"{who}: token is only for attached components (attached=True)")
        self._comps.append(c)
        return len(self._comps) - 1

    def build(self) -> topology_pb2.TopologySpec:
        """Checks the topology and returns its spec (source
        "python-builder"); raises TopologyError listing every problem."""
        spec = topology_pb2.TopologySpec(name=self.name, source=BUILDER_SOURCE)
        problems = list(self._problems)
        try:
            for k, v in config_to_proto(self._config, "topology config").items():
                spec.config[k].CopyFrom(v)
        except ValueTypeError as e:
            problems.append(str(e))
        for c in self._comps:
            spec.components.add().CopyFrom(c)
        problems += _check(spec)
        if problems:
            raise TopologyError(problems)
        return spec


def _who(c: topology_pb2.ComponentSpec) -> str:
    return f"{'spout' if c.kind == _G.COMPONENT_KIND_SPOUT else 'bolt'} '{c.id}'"


def _check(spec: topology_pb2.TopologySpec) -> list[str]:
    """The checks of sdk/spec/validate.go that need nothing but the spec
    (outputs of Go classes are unknown here, so inputs from them are only
    checked for existence)."""
    p: list[str] = []
    if not _NAME.match(spec.name):
        p.append(f"topology name {spec.name!r} is invalid: {_NAME_RULE}")
    if "" in spec.config:
        p.append("topology config has an empty key")
    by_id: dict[str, topology_pb2.ComponentSpec] = {}
    if not any(c.kind == _G.COMPONENT_KIND_SPOUT for c in spec.components):
        p.append("topology has no spout: at least one spout is required")
    for c in spec.components:
        who = _who(c)
        if not _NAME.match(c.id):
            p.append(f"{who}: id is invalid: {_NAME_RULE}")
        elif c.id.startswith("__"):
            p.append(f"{who}: ids starting with \"__\" are reserved for system components")
        if c.id in by_id:
            p.append(f"duplicate component id '{c.id}'")
        else:
            by_id[c.id] = c
        if c.parallelism < 1:
            p.append(f"{who}: parallelism must be at least 1, got {c.parallelism}")
        elif c.parallelism > MAX_PARALLELISM:
            p.append(f"{who}: parallelism must be at most {MAX_PARALLELISM}, got {c.parallelism}")
        impl = c.WhichOneof("implementation")
        if impl == "command":
            if not c.command.argv or not c.command.argv[0]:
                p.append(f"{who}: the external command is empty: give the program and its arguments, e.g. ['python3', 'bolt.py']")
            for k in c.command.env:
                if not k or "=" in k or "\x00" in k:
                    p.append(f"{who}: invalid environment variable name {k!r}")
        if "" in c.config:
            p.append(f"{who}: config has an empty key")
        seen: set[str] = set()
        for s in c.outputs:
            if not _NAME.match(s.id):
                p.append(f"{who}: output stream id {s.id!r} is invalid: {_NAME_RULE}")
            elif s.id.startswith("__"):
                p.append(f"{who}: output stream '{s.id}': stream ids starting with \"__\" are reserved for system streams")
            if s.id in seen:
                p.append(f"{who} declares output stream '{s.id}' twice")
            seen.add(s.id)
            names: set[str] = set()
            for f in s.fields:
                if not f:
                    p.append(f"{who}: output stream '{s.id}' has a field with an empty name")
                elif f in names:
                    p.append(f"{who}: output stream '{s.id}' declares field '{f}' twice")
                names.add(f)
        if c.kind == _G.COMPONENT_KIND_SPOUT and c.inputs:
            p.append(f"{who} has inputs, but a spout cannot subscribe to streams (make it a bolt)")
        if c.kind == _G.COMPONENT_KIND_BOLT and not c.inputs:
            p.append(f"{who} has no inputs: a bolt must subscribe to at least one stream")
    for c in spec.components:
        if c.kind != _G.COMPONENT_KIND_BOLT:
            continue
        who = _who(c)
        subscribed: set[tuple[str, str]] = set()
        for i in c.inputs:
            stream = i.stream or DEFAULT_STREAM
            t = i.grouping.type
            gname = _GROUPING_NAME.get(t, "unspecified")
            if t in _KEYED and not i.grouping.fields:
                p.append(f"{who}: {gname} grouping on '{i.component}' needs at least one field")
            if t not in _KEYED and i.grouping.fields:
                p.append(f"{who}: {gname} grouping on '{i.component}' takes no fields; only fields and partial_key groupings do")
            src = by_id.get(i.component)
            if src is None:
                p.append(f"{who}: input from unknown component '{i.component}'")
                continue
            if src.id == c.id:
                p.append(f"{who} subscribes to itself: cycle: {c.id} -> {c.id}")
            if (src.id, stream) in subscribed:
                p.append(f"{who} subscribes to '{src.id}' stream '{stream}' twice")
            subscribed.add((src.id, stream))
            if src.WhichOneof("implementation") == "class":
                continue  # a Go class's outputs are known to the node only
            decl = next((s for s in src.outputs if s.id == stream), None)
            if decl is None:
                have = ", ".join(s.id for s in src.outputs) or "none"
                p.append(f"{who}: input from '{src.id}': '{src.id}' has no output stream '{stream}' (it declares: {have})")
                continue
            if t in _KEYED:
                for f in i.grouping.fields:
                    if f not in decl.fields:
                        p.append(
                            f"{who}: {gname} grouping on '{src.id}': stream '{stream}' has no field '{f}' "
                            f"(its fields: {', '.join(decl.fields) or 'none'})"
                        )
            if t == _G.GROUPING_TYPE_DIRECT and not decl.direct:
                p.append(f"{who}: direct grouping needs a direct stream, but stream '{stream}' of '{src.id}' is not direct")
            if decl.direct and t != _G.GROUPING_TYPE_DIRECT:
                p.append(f"{who}: stream '{stream}' of '{src.id}' is a direct stream: subscribe to it with direct grouping, not {gname}")
    p.extend(_cycles(spec, by_id))
    return p


def _cycles(spec: topology_pb2.TopologySpec, by_id: Mapping[str, topology_pb2.ComponentSpec]) -> list[str]:
    """Cycles among components other than a bolt subscribed to itself
    (reported above), as the node reports them: one shortest cycle through
    the first-declared component of each."""
    out: list[str] = []
    reported: set[str] = set()
    for start in spec.components:
        if start.id in reported:
            continue
        # Breadth-first from start's inputs back to start.
        prev: dict[str, str] = {}
        queue = [start.id]
        found = None
        while queue and found is None:
            cur = queue.pop(0)
            for i in by_id[cur].inputs if cur in by_id else ():
                src = i.component
                if src == cur or src not in by_id:
                    continue
                if src == start.id:
                    found = cur
                    break
                if src not in prev:
                    prev[src] = cur
                    queue.append(src)
        if found is None:
            continue
        path = [start.id]
        node = found
        while node != start.id:
            path.append(node)
            node = prev[node]
        path.append(start.id)  # in the order tuples flow
        reported.update(path)
        out.append(f"{_who(start)}: cycle: {' -> '.join(path)}")
    return out


def connect(addr: str, tls: Optional[TLSFiles] = None) -> grpc.Channel:
    """A gRPC channel to the node at ``addr`` (HOST:PORT), with the TLS that
    :func:`submit` uses: ``tls``, else the GALE_TLS_* variables, else
    plaintext. For the Coordinator API's other calls, through its generated
    stub::

        from gale.v1 import coordinator_pb2, coordinator_pb2_grpc

        with gale.connect("127.0.0.1:7070") as ch:
            api = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
            for t in api.ListTopologies(coordinator_pb2.ListTopologiesRequest(), timeout=10).topologies:
                print(t.name, coordinator_pb2.TopologyState.Name(t.state))

    Errors of the calls are ``grpc.RpcError`` with the node's status code
    and message. TLS files that cannot be used raise GaleError naming the
    variable or argument and the path.
    """
    files = _resolve(tls)
    try:
        creds = files._credentials()
    except _TLSProblem as e:
        raise GaleError(f"connect to {addr}: {e}") from None
    return _channel(addr, creds)


def submit(
    addr: str,
    spec: topology_pb2.TopologySpec,
    *,
    config: Optional[Mapping[str, Any]] = None,
    start_inactive: bool = False,
    timeout: float = 30.0,
    channel: Optional[grpc.Channel] = None,
    tls: Optional[TLSFiles] = None,
) -> str:
    """Submits spec to the node at addr (HOST:PORT) through
    ``gale.v1.CoordinatorService/SubmitTopology`` and returns the run id.

    ``config`` overrides spec.config (like ``gale submit --conf``); a value
    that cannot be a Gale value raises ValueTypeError (a TypeError) before
    anything is sent. Raises SubmitError with the gRPC status code and the
    node's message (which names the bad component and field for
    INVALID_ARGUMENT).

    The connection is mutual TLS when ``tls`` (a gale.TLSFiles) or, without
    it, the GALE_TLS_* variables name a CA; TLSFiles() is plaintext whatever
    the variables say. TLS files that cannot be used raise SubmitError with
    code INVALID_ARGUMENT and a message naming the variable or argument and
    the path, before anything is sent. A given ``channel`` is used as it is:
    ``tls`` and the variables are then ignored.
    """
    from gale.v1 import coordinator_pb2_grpc

    req = coordinator_pb2.SubmitTopologyRequest(spec=spec, start_inactive=start_inactive)
    if config:
        for k, v in config_to_proto(config, "submit config").items():
            req.config[k].CopyFrom(v)
    creds = None
    files = None
    if channel is None:
        files = _resolve(tls)
        try:
            creds = files._credentials()
        except _TLSProblem as e:
            raise SubmitError("INVALID_ARGUMENT", f"submit topology '{spec.name}' to {addr}: {e}") from None
    own = channel is None
    ch = channel if channel is not None else _channel(addr, creds)
    try:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        try:
            resp = stub.SubmitTopology(req, timeout=timeout)
        except grpc.RpcError as e:
            code = e.code().name if e.code() is not None else "UNKNOWN"
            # A refused handshake is only "Socket closed" here: say what
            # this client offered (the handshake's reason is in gRPC's log).
            hint = ""
            if files is not None and creds is not None and code == "UNAVAILABLE":
                hint = f" (over TLS: {files._describe()})"
            elif channel is None and creds is None and code == "UNAVAILABLE":
                hint = _PLAINTEXT_HINT
            raise SubmitError(code, f"submit topology '{spec.name}' to {addr}: {code}: {e.details()}{hint}") from None
        return resp.id
    finally:
        if own:
            ch.close()
