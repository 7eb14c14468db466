"""Spout and Bolt: the base classes a Python component extends.

A component is a subclass of :class:`Spout` or :class:`Bolt` that overrides
the hooks it needs (``open``/``next_tuple``/``ack``/``fail``/``close`` for a
spout; ``prepare``/``execute``/``finish``/``cleanup`` for a bolt) and calls
the provided methods (``emit``, ``ack``, ``fail``, ``report_error``,
``self.log``) to act. ``gale.run(MyBolt())`` runs it as a Gale task.

The SDK calls every hook from one thread, one call at a time, in the order
the node's frames arrive, so a component needs no locking. ``emit``,
``ack`` and ``fail`` must be called from those hooks (that is what keeps
the outgoing order well defined); ``self.log`` and ``report_error`` may be
called from any thread.

Emits are checked against the outputs the node declared for the component
(the ``welcome``) before anything is sent: an undeclared stream, a wrong
number of values or a value without a Gale type raises :class:`EmitError`
naming the stream, so the mistake shows up where it was made.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable, Optional, Sequence

from gale import _wire
from gale.context import DEFAULT_STREAM, Config, Stream, TaskContext, Tuple
from gale.errors import AckError, EmitError
from gale.values import ValueTypeError, describe

#: Largest emits frame the SDK builds before starting another one. A node
#: receives messages of up to 16 MiB; 1 MiB frames stay well under that and
#: still amortise the per-frame cost.
MAX_FRAME_BYTES = 1 << 20

#: Largest tuple an emit may encode to: what a node accepts in a frame of
#: its own (16 MiB less 64 KiB, the Go runtime's transfer.MaxTupleBytes),
#: less 64 KiB more for what the node adds when it passes the tuple on. A
#: larger message would end the task's stream.
MAX_TUPLE_BYTES = (16 << 20) - (128 << 10)

_EMIT_KIND = 1
_ACK_KIND = 2


class _Outbox:
    """The one ordered buffer of outgoing frames of a task.

    Emits, acks and fails are appended in the order the component makes
    them. Consecutive emits become one ``emits`` frame and consecutive
    acks/fails one ``acks`` frame; anything else (log, error, next_done,
    finished) is a frame of its own that keeps its place. That order is what
    ATTACH.md requires: an emit anchored to an input reaches the node
    before that input's ack.

    With ``defer_acks`` the acks and fails are instead held until the end of
    the flush (and before any next_done/finished), so that a bolt which
    emits and acks per input sends one emits frame and one acks frame per
    input batch instead of two frames per input. It still sends every
    anchored emit before the ack of its anchor (an ack only moves later),
    which is the rule the node relies on; only the interleaving differs.
    See Bolt.defer_acks.
    """

    __slots__ = ("frames", "emits", "emit_bytes", "acked", "failed", "reset", "defer")

    def __init__(self, defer_acks: bool = False):
        self.frames: list[bytes] = []
        self.emits: list[bytes] = []
        self.emit_bytes = 0
        self.acked: list[int] = []
        self.failed: list[int] = []
        self.reset: list[int] = []  # timeout resets, read by the node before acks
        self.defer = defer_acks

    def close_emits(self) -> None:
        if self.emits:
            self.frames.append(_wire.emits_frame(self.emits))
            self.emits = []
            self.emit_bytes = 0

    def close_acks(self) -> None:
        if self.acked or self.failed or self.reset:
            self.frames.append(_wire.acks_frame(self.acked, self.failed, self.reset))
            self.acked = []
            self.failed = []
            self.reset = []

    def add_emit(self, entry: bytes) -> None:
        if not self.defer and (self.acked or self.failed):
            self.close_acks()
        if self.emits and self.emit_bytes + len(entry) > MAX_FRAME_BYTES:
            self.close_emits()  # a large emit starts a frame of its own
        self.emits.append(entry)
        self.emit_bytes += len(entry)
        if self.emit_bytes >= MAX_FRAME_BYTES:
            self.close_emits()

    def add_fail(self, input_id: int) -> None:
        if self.emits and not self.defer:
            self.close_emits()
        self.failed.append(input_id)

    def add_frame(self, frame: bytes, barrier: bool = False) -> None:
        """Appends a frame of its own kind. A barrier (next_done, finished)
        also sends deferred acks before it."""
        self.close_emits()
        if barrier or not self.defer:
            self.close_acks()
        self.frames.append(frame)

    def pending(self) -> int:
        """Roughly how much is buffered, to decide on early flushes."""
        return len(self.frames) + len(self.emits) + len(self.acked) + len(self.failed) + len(self.reset)

    def take(self) -> list[bytes]:
        """Closes the open runs and returns every frame, oldest first."""
        self.close_emits()
        self.close_acks()
        frames = self.frames
        self.frames = []
        return frames


class _FrameLogHandler(logging.Handler):
    """Turns log records into ``log`` frames for the node log."""

    def __init__(self, send: Callable[[int, str], None]):
        super().__init__(logging.DEBUG)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
        except Exception:  # a bad format string must not kill the task
            msg = f"{record.msg!r} {record.args!r}"
        lvl = record.levelno
        if lvl >= logging.ERROR:
            level = 4
        elif lvl >= logging.WARNING:
            level = 3
        elif lvl >= logging.INFO:
            level = 2
        else:
            level = 1
        self._send(level, msg)


def _value_list(values: Any, stream: str) -> Sequence[Any]:
    """Accepts any sequence of field values except text and mappings, which
    are almost always a missing pair of brackets ([word])."""
    if isinstance(values, (str, bytes, bytearray, dict)):
        raise EmitError(
            f"emit on stream '{stream}': values must be a list of field values, e.g. [{values!r}], not a {describe(values)}"
        )
    try:
        return list(values)
    except TypeError:
        raise EmitError(f"emit on stream '{stream}': values must be a list of field values, not a {describe(values)}") from None


class Component:
    """What spouts and bolts share: context, config, logging, errors.

    Attributes available from ``open``/``prepare`` on:

    - ``context``: the :class:`~gale.context.TaskContext` (task id and
      index, component tasks, declared outputs, inputs...).
    - ``config``: the task's merged config (``context.config``).
    - ``log``: a :class:`logging.Logger` whose records go to the node log
      (with the task's identity) as ``log`` frames.
    """

    context: TaskContext
    config: Config
    log: logging.Logger

    # Set by the runtime when the task starts (see _bind); the class-level
    # values make a call before that fail with a clear message.
    _streams: dict = {}
    _out: Optional[_Outbox] = None
    _owner: int = 0
    _send_direct: Optional[Callable[[bytes], None]] = None

    def report_error(self, error: BaseException | str) -> None:
        """Reports an error to the node (``gale status`` and the node log)
        without stopping the task."""
        msg = error if isinstance(error, str) else _describe_exc(error)
        self._send_frame(_wire.error_frame(msg))

    # -- runtime plumbing -------------------------------------------------

    def _bind(self, context: TaskContext, out: _Outbox, send_direct: Callable[[bytes], None]) -> None:
        """Attaches the component to a running task (called by the runtime
        before open/prepare)."""
        self.context = context
        self.config = context.config
        self._out = out
        self._owner = threading.get_ident()
        self._send_direct = send_direct
        self._streams = {
            s.id: (len(s.fields), s.direct, _wire.stream_field(s.id), s) for s in context.outputs.values()
        }
        self.log = logging.getLogger(f"gale.task.{context.component}.{context.task_id}")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        for h in list(self.log.handlers):
            if isinstance(h, _FrameLogHandler):
                self.log.removeHandler(h)
        self.log.addHandler(_FrameLogHandler(lambda level, msg: self._send_frame(_wire.log_frame(level, msg))))

    def _send_frame(self, frame: bytes) -> None:
        """Queues a log or error frame: in order with emits and acks when
        called from the task's thread, straight to the sender otherwise."""
        if self._out is None:
            raise RuntimeError("the component is not running: start it with gale.run(component)")
        if threading.get_ident() == self._owner:
            self._out.add_frame(frame)
        else:
            self._send_direct(frame)

    def _stream(self, stream: str) -> tuple:
        try:
            return self._streams[stream]
        except KeyError:
            pass
        if self._out is None:
            raise EmitError("emit before the component was started: emit from its hooks once gale.run started it")
        declared = ", ".join(sorted(self._streams)) or "none"
        raise EmitError(f"emit on undeclared stream '{stream}' (declared output streams: {declared})")

    def _encode(self, values: Any, stream: str, direct_task: int) -> bytes:
        """Checks an emit against the declared stream and encodes the Emit
        body's stream and values fields, plus direct_task (appended later
        by the caller after the anchors/message id, to keep field order)."""
        nf, direct, body, decl = self._stream(stream)
        t = type(values)
        if t is not list and t is not tuple:
            values = _value_list(values, stream)
        if len(values) != nf:
            raise EmitError(
                f"emit on stream '{stream}' with {len(values)} value{'s' if len(values) != 1 else ''}, "
                f"but it declares {nf} field{'s' if nf != 1 else ''} ({', '.join(decl.fields) or 'none'})"
            )
        if direct:
            if not direct_task:
                raise EmitError(f"emit on direct stream '{stream}' needs direct_task (the destination task id)")
            if type(direct_task) is not int or not 0 < direct_task < 1 << 31:
                raise EmitError(f"emit on direct stream '{stream}': direct_task must be a task id (an int >= 1), got {direct_task!r}")
        elif direct_task:
            raise EmitError(f"emit on stream '{stream}' with direct_task {direct_task}, but the stream is not direct")
        try:
            for v in values:
                body += _wire.value_entry(v)
        except ValueTypeError as e:
            i = next(i for i, v in enumerate(values) if not _encodable(v))
            raise EmitError(f"emit on stream '{stream}', field {i} ('{decl.fields[i]}'): {e}") from None
        if len(body) > MAX_TUPLE_BYTES:
            raise EmitError(
                f"emit on stream '{stream}': the tuple's values take {len(body)} bytes encoded, "
                f"over the {MAX_TUPLE_BYTES} a node accepts"
            )
        return body


def _encodable(v: Any) -> bool:
    try:
        _wire.value_entry(v)
        return True
    except ValueTypeError:
        return False


def _describe_exc(e: BaseException) -> str:
    text = str(e)
    name = type(e).__name__
    if isinstance(e, (EmitError, AckError)):
        # The SDK raised it in the user's call: say which line made it.
        from gale._tracebacks import where

        return text + where(e)
    return f"{name}: {text}" if text else name


class Spout(Component):
    """A source of tuples. Override the hooks you need.

    The node drives a spout with ``next`` requests: the SDK calls
    :meth:`next_tuple` repeatedly until it has emitted the number of tuples
    the node asked for or a call emits nothing, then answers the node. So
    ``next_tuple`` emits what is ready (one tuple is typical) and returns
    quickly; it must not block waiting for data.

    A reliable emit carries a ``message_id`` (an int ≥ 1, unique among the
    spout's pending messages); its tree's outcome comes back as a call to
    :meth:`ack` or :meth:`fail` with that id. Replaying a failed message is
    the spout's business: keep it and emit it again from ``next_tuple``.
    """

    _emitted = 0
    _ended = False

    # -- hooks ---------------------------------------------------------------

    def open(self, context: TaskContext) -> None:
        """Prepares the task, before any other hook. An exception ends the
        task with an error."""

    def next_tuple(self) -> None:
        """Emits what is ready (possibly nothing) and returns."""

    def ack(self, message_id: int) -> None:
        """The tree of message_id completed."""

    def fail(self, message_id: int) -> None:
        """The tree of message_id failed or timed out: replay it if it must not be lost."""

    def activate(self) -> None:
        """The topology was activated: ``next`` requests resume."""

    def deactivate(self) -> None:
        """The topology was deactivated: no ``next`` request comes until activate."""

    def close(self) -> None:
        """Releases resources when the task stops; called once, last."""

    # -- actions -------------------------------------------------------------

    def emit(self, values: Sequence[Any], message_id: int = 0, *, stream: str = DEFAULT_STREAM, direct_task: int = 0) -> None:
        """Emits a tuple. With a ``message_id`` (int ≥ 1) the emit is
        reliable: its tree is tracked and ack/fail is called with the id.
        ``direct_task`` names the destination of an emit on a direct
        stream."""
        body = self._encode(values, stream, direct_task)
        if message_id:
            if type(message_id) is not int or message_id < 0 or message_id >= 1 << 64:
                raise EmitError(
                    f"emit on stream '{stream}': message_id must be an int from 1 to 2**64-1 "
                    f"(0 for an unreliable emit), got {describe(message_id)} {message_id!r}"
                )
            body += b"\x20" + _wire.varint(message_id)
        if direct_task:
            body += b"\x28" + _wire.varint(direct_task)
        self._out.add_emit(_wire.emit_entry(body))
        self._emitted += 1

    def end_of_input(self) -> None:
        """Declares that the spout will emit nothing new (it may still
        replay failed messages). Once every tree is done, downstream bolts
        get their finish hook and a local run ends."""
        self._ended = True


class Bolt(Component):
    """Processes input tuples. Override the hooks you need.

    :meth:`execute` gets each input in the order the node sent them; it
    must eventually :meth:`ack` or :meth:`fail` every input (at once, or
    later, e.g. after a join or window), or its tree times out and replays.
    An exception in ``execute`` fails the input (if it is still held) and
    is reported to the node as an error; the task goes on.

    Tick tuples (``tup.is_tick``) arrive on stream "__tick"; they need no
    ack (acking one does nothing).
    """

    #: Send acks and fails after the emits made while handling the same
    #: batch of inputs, instead of strictly in call order.
    #:
    #: The node only requires that an emit anchored to an input arrives
    #: before that input's ack, and moving an ack later never breaks that.
    #: A bolt that emits and acks per input (a splitter, a mapper) then
    #: sends two frames per batch instead of two per input, which is what
    #: makes a Python bolt fast (see the README's benchmark). The only
    #: visible difference is the interleaving of acks with emits, logs and
    #: errors within a batch. On by default (sdk/ATTACH.md allows it, and
    #: the conformance suite checks the ordering rule); set it to False for
    #: the strict interleaving.
    defer_acks: bool = True

    _pending: set = set()

    # -- hooks ---------------------------------------------------------------

    def prepare(self, context: TaskContext) -> None:
        """Prepares the task, before the first input. An exception ends the
        task with an error."""

    def execute(self, tup: Tuple) -> None:
        """Processes one input tuple."""
        raise NotImplementedError(f"{type(self).__name__} does not implement execute(tup)")

    def finish(self) -> None:
        """Called once when the input ends (every upstream task ended and
        every input was delivered): emit final results, ack what you hold."""

    def cleanup(self) -> None:
        """Releases resources when the task stops; called once, last."""

    # -- actions -------------------------------------------------------------

    def emit(
        self,
        values: Sequence[Any],
        anchors: Tuple | Iterable[Tuple] | None = None,
        *,
        stream: str = DEFAULT_STREAM,
        direct_task: int = 0,
    ) -> None:
        """Emits a tuple on stream, anchored to an input tuple or to several
        (multi-anchoring: the new tuple joins each of their trees), or
        unanchored when anchors is None. ``direct_task`` names the
        destination of an emit on a direct stream."""
        body = self._encode(values, stream, direct_task)
        if anchors is not None:
            if type(anchors) is Tuple:
                aid = anchors.id
                if aid:
                    if aid not in self._pending:
                        raise EmitError(self._not_held(aid, stream))
                    a = anchors._afield
                    if a is None:
                        a = anchors._afield = _wire.anchors_field((aid,))
                    body += a
            else:
                body += self._multi_anchors(anchors, stream)
        if direct_task:
            body += b"\x28" + _wire.int32_varint(direct_task)
        # _Outbox.add_emit, inlined: this is the hot path of every bolt.
        entry = _wire.emit_entry(body)
        out = self._out
        if not out.defer and (out.acked or out.failed):
            out.close_acks()
        if out.emits and out.emit_bytes + len(entry) > MAX_FRAME_BYTES:
            out.close_emits()  # a large emit starts a frame of its own
        out.emits.append(entry)
        out.emit_bytes += len(entry)
        if out.emit_bytes >= MAX_FRAME_BYTES:
            out.close_emits()

    def ack(self, tup: Tuple) -> None:
        """Acks an input: this task is done with it. Acking a tick does nothing."""
        i = tup.id
        if not i:
            return
        try:
            self._pending.remove(i)
        except KeyError:
            raise AckError(self._not_held(i, None, "ack")) from None
        out = self._out
        if out.emits and not out.defer:
            out.close_emits()
        out.acked.append(i)

    def fail(self, tup: Tuple) -> None:
        """Fails an input: its tree fails and the spout may replay it."""
        i = tup.id
        if not i:
            return
        try:
            self._pending.remove(i)
        except KeyError:
            raise AckError(self._not_held(i, None, "fail")) from None
        self._out.add_fail(i)

    def reset_timeout(self, tup: Tuple) -> None:
        """Says that this task still holds an input and works on it (Storm's
        resetTimeout): the message timeout (``topology.message.timeout.secs``)
        of its trees starts again, and their spouts do not replay them
        meanwhile. For an input kept longer than the timeout on purpose (a
        window until it fires, a batch until it is written), call it at
        intervals shorter than the timeout, a third of it say, until you
        ack or fail the input. A tick does nothing."""
        i = tup.id
        if not i:
            return
        if i not in self._pending:
            raise AckError(self._not_held(i, None, "reset timeout"))
        self._out.reset.append(i)

    # -- helpers -------------------------------------------------------------

    def _multi_anchors(self, anchors: Iterable[Tuple], stream: str) -> bytes:
        ids = []
        for t in anchors:
            if not isinstance(t, Tuple):
                raise EmitError(f"emit on stream '{stream}': anchors must be input Tuples, got a {describe(t)}")
            if t.id:
                if t.id not in self._pending:
                    raise EmitError(self._not_held(t.id, stream))
                ids.append(t.id)
        return _wire.anchors_field(ids)

    def _not_held(self, input_id: int, stream: Optional[str], verb: str = "emit") -> str:
        if self._out is None:
            return f"{verb} before the component was started: call it from its hooks once gale.run started it"
        if verb == "emit":
            return (
                f"emit on stream '{stream}' anchored to input {input_id}, which this task no longer holds "
                "(already acked or failed): anchor before acking"
            )
        return f"{verb} of input {input_id}, which this task does not hold (already acked or failed, or not an input of this task)"
