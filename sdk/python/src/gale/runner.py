"""Running a component as a Gale task over the Attach protocol (sdk/ATTACH.md).

``run(component)`` is what a component script calls last::

    if __name__ == "__main__":
        gale.run(SplitSentence())

It reads its identity from the environment the node sets for managed
processes (``GALE_ATTACH_ADDR``, ``GALE_TOPOLOGY``, ``GALE_COMPONENT``,
``GALE_TASK_ID``, ``GALE_TOKEN``, and ``GALE_TLS_CA``, ``GALE_TLS_CERT``,
``GALE_TLS_KEY`` under a node with TLS: gale.tls), or from its keyword
arguments for an attached process, opens the Attach stream (over mutual
TLS when a CA is named), and drives the component until
the node ends the stream. It exits 0 when the node ends the stream with an
OK status, and 1 with a one-line message on stderr otherwise. ``serve`` is
the same without exiting: it returns, or raises :class:`AttachError`.

How it is built, and why:

- The component's hooks run on the calling thread, one frame at a time, in
  the order frames arrive (ATTACH.md's ordering rules). Everything they
  emit, ack, fail, log or report goes into one ordered buffer
  (component._Outbox), which is handed to the sender as one queue item at
  the end of each frame handled (and every heartbeat_millis/4 during a long
  batch), so that a batch of 512 inputs costs a few queue operations, not
  thousands.
- A sender generator, consumed by gRPC's own thread, writes those frames
  and sends a heartbeat when it had nothing to send for heartbeat_millis,
  even while a slow hook runs. The queue between the two is bounded: when
  the node stops reading, the hooks block, which is the backpressure the
  protocol promises.
- A reader thread takes the node's frames from gRPC and hands them to the
  hooks' thread through a small bounded queue (so a slow task still slows
  the node through gRPC's flow control). The hooks' thread waits on it in
  0.1 s slices and sees a stop request between two: the SIGTERM/SIGINT
  handler only records the request. Raising from the handler into a
  blocked read, as this runner once did, interrupted gRPC's code while it
  held the call's lock in about 3% of stops, and the process then hung in
  channel.close.
- A watchdog ends the stream when the node sends nothing for 3 ×
  heartbeat_millis while the task waits for it (time spent in the
  component's own hooks does not count: a slow execute is not a silent
  node).
- The emits and acks frames are encoded by hand (gale._wire), because
  building protobuf objects per tuple is what limits a Python component.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NoReturn, Optional

import grpc

from gale import _wire
from gale._tracebacks import Tracebacks, where
from gale.component import Bolt, Component, Spout, _describe_exc, _Outbox
from gale.context import DEFAULT_STREAM, TICK_SOURCE, TICK_STREAM, Source, TaskContext, Tuple
from gale.errors import AttachError
from gale.tls import _PLAINTEXT_HINT, TLSFiles, _channel, _resolve, _TLSProblem
from gale.v1 import attach_pb2

__all__ = ["run", "serve", "AttachOptions", "SDK_VERSION"]

SDK_VERSION = "0.1.0"
SDK_NAME = f"gale-python/{SDK_VERSION}"
ATTACH_METHOD = "/gale.v1.AttachService/Attach"

#: Frames (lists of them) the task may have queued for the sender before its
#: hooks block: the backpressure bound.
_SEND_QUEUE_ITEMS = 64
#: Buffered frames/items that trigger a flush in the middle of a batch.
_FLUSH_ITEMS = 16384
_CLOSE = object()
#: How long a graceful stop waits for the node to end the stream after the
#: half-close (sdk/ATTACH.md, "Ending").
_HANG_UP_GRACE_S = 2.0
#: Exit status after a graceful stop on each signal.
_SIGNAL_EXIT = {signal.SIGTERM: 0, signal.SIGINT: 130}
#: The same signal again within this many seconds is the first request
#: delivered twice (a wrapper such as npm or a shell script forwarding it
#: to a process that got it too, systemd signalling the control group),
#: not a second request (which ends the process at once).
_DUPLICATE_SIGNAL_S = 1.0
#: The longest the main thread blocks in one wait before it looks for a stop
#: request: a signal that the kernel delivers to another thread (gRPC's)
#: runs its handler only when the main thread runs Python code again.
_WAIT_SLICE_S = 0.1
#: Frames the reader thread may hold for the frame loop: a slow task still
#: slows the node's sends through gRPC's flow control.
_RECV_QUEUE_ITEMS = 4
#: Put by the reader thread after the node's last frame.
_END = object()



def _is_config_error(e: BaseException) -> bool:
    """Whether e is a bad setting (a config getter's or a window config's
    error), whose message is the whole story."""
    from gale.context import ConfigError
    from gale.window import WindowConfigError

    return isinstance(e, (ConfigError, WindowConfigError))

class _StopNow(BaseException):
    """Raised by the frame loop's own waits when a stop was requested: the
    graceful stop starts at once. A BaseException, like KeyboardInterrupt,
    so that a component's ``except Exception`` cannot swallow it. The signal
    handler itself never raises: an exception raised into gRPC's code while
    it holds a call's lock leaves that lock held, and gRPC's threads (and
    channel.close) then wait for it forever."""


def _identity(b: bytes) -> bytes:
    return b


@dataclass
class AttachOptions:
    """Where and as what a process attaches.

    ``task_id`` 0 asks the node for any free task of the component (an
    attached process); a managed process gets its task id in GALE_TASK_ID.
    ``max_batch`` is the largest inputs batch wanted (0: the node's choice).
    ``tls`` names the files of mutual TLS to the node (gale.TLSFiles); None
    or an empty TLSFiles is plaintext. resolve fills it from GALE_TLS_*.
    """

    addr: str
    topology: str
    component: str
    task_id: int = 0
    token: str = ""
    max_batch: int = 0
    connect_timeout: float = 10.0
    welcome_timeout: float = 10.0
    tls: Optional[TLSFiles] = None

    @classmethod
    def resolve(
        cls,
        env: Optional[Mapping[str, str]] = None,
        *,
        addr: Optional[str] = None,
        topology: Optional[str] = None,
        component: Optional[str] = None,
        task_id: Optional[int] = None,
        token: Optional[str] = None,
        max_batch: int = 0,
        tls: Optional[TLSFiles] = None,
    ) -> "AttachOptions":
        """Fills what the arguments leave out from the GALE_* variables of
        env (os.environ by default); raises AttachError naming what is
        missing or malformed. ``tls`` replaces the three GALE_TLS_*
        variables as a whole (TLSFiles() is plaintext whatever they say);
        its files are read and checked when the session connects."""
        env = os.environ if env is None else env
        files = _resolve(tls, env)
        addr = addr if addr is not None else env.get("GALE_ATTACH_ADDR", "")
        topology = topology if topology is not None else env.get("GALE_TOPOLOGY", "")
        component = component if component is not None else env.get("GALE_COMPONENT", "")
        token = token if token is not None else env.get("GALE_TOKEN", "")
        missing = [
            name
            for name, v in (("GALE_ATTACH_ADDR", addr), ("GALE_TOPOLOGY", topology), ("GALE_COMPONENT", component))
            if not v
        ]
        if missing:
            raise AttachError(
                f"{', '.join(missing)} not set: a node sets them when it starts the component from a topology's "
                "run: command; to attach by hand, set them or pass addr=, topology= and component= to gale.run"
            )
        if task_id is None:
            raw = env.get("GALE_TASK_ID", "").strip()
            if raw == "":
                task_id = 0
            else:
                try:
                    task_id = int(raw, 10)
                except ValueError:
                    raise AttachError(f"GALE_TASK_ID={raw!r} is not a task id (an integer >= 0)") from None
        if not isinstance(task_id, int) or task_id < 0 or task_id >= 1 << 31:
            raise AttachError(f"task id {task_id!r} is invalid: want an integer >= 1, or 0 to take any free task")
        if not isinstance(max_batch, int) or max_batch < 0 or max_batch >= 1 << 31:
            raise AttachError(f"max_batch {max_batch!r} is invalid: want an integer >= 0 (0: the node's choice)")
        if ":" not in addr:
            raise AttachError(f"node address {addr!r} is not HOST:PORT")
        return cls(
            addr=addr,
            topology=topology,
            component=component,
            task_id=task_id,
            token=token,
            max_batch=max_batch,
            tls=files if files.enabled else None,
        )


def serve(component: Component, /, options: Optional[AttachOptions] = None, **kwargs: Any) -> None:
    """Runs component as one Gale task until the node ends the stream.

    Returns when the node ended the stream with an OK status (after the
    component's close/cleanup hook ran); raises AttachError with a message
    that says what went wrong otherwise. Keyword arguments are those of
    AttachOptions.resolve (addr, topology, component, task_id, token,
    max_batch, tls) and override the environment.
    """
    _session(component, options, kwargs).serve()


def _session(component: Component, options: Optional[AttachOptions], kwargs: dict) -> "_Session":
    if not isinstance(component, (Spout, Bolt)):
        raise TypeError(f"gale.run needs a gale.Spout or gale.Bolt instance, got {type(component).__name__}")
    if options is None:
        options = AttachOptions.resolve(**kwargs)
    elif kwargs:
        raise TypeError("pass either options or keyword arguments, not both")
    return _Session(component, options)


def run(component: Component, /, **kwargs: Any) -> NoReturn:
    """Runs component as a Gale task and exits the process: 0 when the node
    ended the stream normally, 1 with a one-line reason on stderr when it
    did not. SIGTERM or SIGINT (Ctrl-C) stop it gracefully (sdk/ATTACH.md,
    "Ending"): the running hook finishes and no other starts, its acks and
    emits are sent, the stream is half-closed and, once the node has ended
    it, close/cleanup runs; the exit status is then 0 after SIGTERM, 130
    after SIGINT. A second signal ends it at once, by that signal (the same
    signal within a second is taken for the first delivered twice). Takes
    the keyword arguments of serve."""
    who = kwargs.get("component") or os.environ.get("GALE_COMPONENT") or type(component).__name__
    previous = {}
    try:
        session = _session(component, None, kwargs)
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNAL_EXIT:
                previous[sig] = signal.signal(sig, session.request_stop)
        session.serve()
    except AttachError as e:
        print(f"gale: {who}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:  # no handler of ours (not the main thread)
        print(f"gale: {who}: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if session.stop_signal is not None:
        sys.exit(_SIGNAL_EXIT[session.stop_signal])
    sys.exit(0)


class _Session:
    """One Attach stream: the sender, the watchdog and the frame loop."""

    def __init__(self, component: Component, opts: AttachOptions):
        self.comp = component
        self.opts = opts
        self.is_bolt = isinstance(component, Bolt)
        self.kind = "bolt" if self.is_bolt else "spout"
        self.label = f"{self.kind} '{opts.component}'" + (f" task {opts.task_id}" if opts.task_id else "")
        #: Tracebacks of the per-tuple hooks (execute, next_tuple, ack, fail),
        #: one in full per kind of failure, then counts.
        self.tracebacks = Tracebacks(self.label)
        self.sendq: queue.Queue = queue.Queue(maxsize=_SEND_QUEUE_ITEMS)
        self.hb_s = 1.0  # until the welcome says otherwise
        self.silence_limit = opts.welcome_timeout
        self.waiting_since: Optional[float] = None
        # How long the component's current call has run, for heartbeats
        # (busy_millis): the hooks' thread counts the calls it begins and
        # names the frame's hook; the watchdog notes when the count last
        # moved while a frame is handled (waiting_since is None).
        self.calls = 0
        self.hook = ""
        self.busy_seen = -1
        self.busy_since = 0.0
        self.busy_ms = 0
        self.silent_for: Optional[float] = None
        self.stop = threading.Event()
        self.sender_done = threading.Event()
        self.call: Any = None
        self.ctx: Optional[TaskContext] = None
        self.out = _Outbox(defer_acks=bool(getattr(component, "defer_acks", False)))
        self.sources: dict = {}
        self.started = False  # open/prepare ran: close/cleanup is due
        self.finished = False
        #: The signal that asked for a graceful stop (request_stop), if any.
        self.stop_signal: Optional[int] = None
        self.stop_at = 0.0
        #: The node's frames, read from the call by the reader thread.
        self.inq: queue.Queue = queue.Queue(maxsize=_RECV_QUEUE_ITEMS)

    def request_stop(self, signum: int, _frame: Any = None) -> None:
        """The signal handler (main thread, between two bytecodes): asks for
        a graceful stop, which the frame loop makes after the hook that
        runs; when the process is waiting (connecting, or for the node's
        next frame) it starts within one wait slice (_WAIT_SLICE_S). A
        second signal ends the process at once, by that signal's default
        action. It only sets the request, and never raises (_StopNow)."""
        if self.stop_signal is not None:
            if signum == self.stop_signal and time.monotonic() - self.stop_at < _DUPLICATE_SIGNAL_S:
                return  # the same request, delivered twice
            for sig in _SIGNAL_EXIT:
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.stop_signal = signum
        self.stop_at = time.monotonic()

    # -- sender ----------------------------------------------------------------

    def _requests(self) -> Iterator[bytes]:
        """The request stream gRPC consumes on its own thread: hello, then
        whatever the task queued, with a heartbeat whenever nothing was sent
        for heartbeat_millis."""
        try:
            o = self.opts
            yield _wire.hello_frame(o.topology, o.component, o.task_id, o.token, SDK_NAME, os.getpid(), o.max_batch)
            get = self.sendq.get
            while True:
                try:
                    item = get(timeout=self.hb_s)
                except queue.Empty:
                    busy_ms, hook = self.busy_ms, self.hook
                    if busy_ms >= self.hb_s * 1000 and hook and self.waiting_since is None:
                        yield _wire.heartbeat_frame(busy_ms, hook)
                    else:
                        yield _wire.HEARTBEAT_FRAME
                    continue
                if item is _CLOSE:
                    return
                if type(item) is list:
                    yield from item
                else:
                    yield item
        finally:
            self.sender_done.set()

    def _send(self, frames: list, deadline: Optional[float] = None) -> None:
        """Queues frames for the sender, blocking while the queue is full
        (the node is not reading) unless the session is over or the
        deadline (time.monotonic) has passed."""
        while True:
            try:
                self.sendq.put(frames, timeout=0.25)
                return
            except queue.Full:
                if self.stop.is_set() or self.sender_done.is_set():
                    return  # the stream is gone; nothing will be sent
                if deadline is not None and time.monotonic() >= deadline:
                    return

    def _send_direct(self, frame: bytes) -> None:
        """For log and error frames from threads other than the task's."""
        if not self.sender_done.is_set():
            self._send([frame])

    def _flush(self, deadline: Optional[float] = None) -> None:
        frames = self.out.take()
        if frames:
            self._send(frames, deadline)

    # -- watchdog --------------------------------------------------------------

    def _watch(self) -> None:
        while not self.stop.wait(min(self.hb_s / 4, 0.25)):
            since = self.waiting_since
            if since is None:
                self._time_call()
                continue
            self.busy_ms = 0
            idle = time.monotonic() - since
            if idle > self.silence_limit:
                self.silent_for = idle
                self.call.cancel()
                return

    def _time_call(self) -> None:
        """Updates busy_ms while a frame is handled: how long the call
        running now has run, from when the count of calls last moved (0
        outside the per-frame hooks: prepare and open are not timed)."""
        now = time.monotonic()
        calls = self.calls
        if calls != self.busy_seen or not self.hook:
            self.busy_seen, self.busy_since, self.busy_ms = calls, now, 0
            return
        self.busy_ms = int((now - self.busy_since) * 1000)

    # -- the stream ------------------------------------------------------------

    def serve(self) -> None:
        o = self.opts
        # The TLS files are read and checked before anything is dialled: a
        # bad one is a message naming it, not a node that cannot be reached.
        try:
            creds = o.tls._credentials() if o.tls is not None else None
        except _TLSProblem as e:
            raise AttachError(str(e)) from None
        channel = _channel(
            o.addr,
            creds,
            [
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.max_send_message_length", 64 << 20),
            ],
        )
        watchdog = threading.Thread(target=self._watch, name="gale-watchdog", daemon=True)
        try:
            try:
                # Waited in slices: a signal delivered to one of gRPC's
                # threads only runs its handler once the main thread runs
                # Python code again, and a stop is seen between two slices.
                ready = grpc.channel_ready_future(channel)
                deadline = time.monotonic() + o.connect_timeout
                while True:
                    if self.stop_signal is not None:
                        ready.cancel()
                        raise _StopNow
                    try:
                        ready.result(timeout=min(_WAIT_SLICE_S, max(deadline - time.monotonic(), 0)))
                        break
                    except grpc.FutureTimeoutError:
                        if time.monotonic() >= deadline:
                            ready.cancel()
                            tls = (
                                f" over TLS ({o.tls._describe()})"
                                if o.tls is not None and creds is not None
                                else _PLAINTEXT_HINT
                            )
                            raise AttachError(
                                f"cannot connect to the node at {o.addr} within {o.connect_timeout:g} s{tls}"
                            ) from None
            except _StopNow:
                return  # stopped before anything started
            attach = channel.stream_stream(
                ATTACH_METHOD, request_serializer=_identity, response_deserializer=attach_pb2.AttachResponse.FromString
            )
            self.call = attach(self._requests())
            threading.Thread(target=self._read, name="gale-reader", daemon=True).start()
            watchdog.start()
            try:
                self._loop()
            except grpc.RpcError as e:
                err = self._rpc_error(e)
                self._stop_hook_quietly()
                raise err from None
            except BaseException:
                self._stop_hook_quietly()
                raise
            if self.started:
                self._stop_hook()
        finally:
            self.stop.set()
            self._close_sender()
            if self.call is not None and not self._call_done():
                self.call.cancel()
            channel.close()

    def _call_done(self) -> bool:
        try:
            return self.call.done()
        except Exception:
            return True

    def _close_sender(self) -> None:
        try:
            self.sendq.put_nowait(_CLOSE)
        except queue.Full:
            # The sender is stuck behind a node that does not read; the
            # call is cancelled next, which ends it.
            pass

    def _read(self) -> None:
        """The reader thread: hands the node's frames to the frame loop
        through inq, then _END, or the error that ended the call. The frame
        loop waits on inq in slices, so that it sees a stop request at once
        without ever being interrupted inside gRPC's code."""
        end: Any = _END
        try:
            for resp in self.call:
                if not self._put_in(resp):
                    return
        except grpc.RpcError as e:
            end = e  # the node's status (a frame that does not parse is INTERNAL)
        except Exception as e:  # not gRPC's error: a one-line reason, no traceback
            end = AttachError(f"reading the node's frames failed: {type(e).__name__}: {e}")
        self._put_in(end)

    def _put_in(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.inq.put(item, timeout=0.25)
                return True
            except queue.Full:
                pass
        return False

    def _recv(self) -> Optional[attach_pb2.AttachResponse]:
        """The node's next frame, or None once it ended the stream with an
        OK status; raises the call's error, or _StopNow when a stop was
        requested (frames that arrived meanwhile are not handled, as frames
        the node sent after seeing the half-close would not be)."""
        self.waiting_since = time.monotonic()
        # No hook runs while the loop waits, nor while it handles a frame
        # that calls none (a heartbeat): the busy clock must not go on
        # timing the last call that ran (_time_call).
        self.hook = ""
        try:
            while self.stop_signal is None:
                try:
                    item = self.inq.get(timeout=_WAIT_SLICE_S)
                except queue.Empty:
                    continue
                if item is _END:
                    return None
                if isinstance(item, BaseException):
                    raise item
                if self.stop_signal is None:
                    return item
                # The handler ran while this wait went on (it does not
                # interrupt it): no hook starts after a stop request.
            raise _StopNow
        finally:
            self.waiting_since = None

    def _rpc_error(self, e: grpc.RpcError) -> AttachError:
        code = e.code() if hasattr(e, "code") else None
        details = (e.details() if hasattr(e, "details") else None) or str(e)
        name = code.name if code is not None else "UNKNOWN"
        if self.silent_for is not None:
            hb_ms = round(self.hb_s * 1000)
            if self.ctx is None:
                return AttachError(
                    f"no welcome from the node at {self.opts.addr} within {self.silence_limit:g} s of the hello"
                )
            return AttachError(
                f"the node at {self.opts.addr} sent nothing for {self.silent_for * 1000:.0f} ms "
                f"(limit: 3 x heartbeat_millis = {3 * hb_ms} ms): giving up"
            )
        if code == grpc.StatusCode.UNAVAILABLE:
            return AttachError(f"lost the node at {self.opts.addr} (UNAVAILABLE): {details}")
        if code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ) and self.ctx is None:
            return AttachError(f"the node refused the hello ({name}): {details}")
        return AttachError(f"the node ended the stream with {name}: {details}")

    def _loop(self) -> None:
        try:
            first = self._recv()
        except _StopNow:
            return  # stopped before the welcome: no hook ran, nothing to send
        if first is None:
            raise AttachError(f"the node at {self.opts.addr} ended the stream before sending a welcome")
        kind = first.WhichOneof("frame")
        if kind != "welcome":
            msg = f"the node's first frame was {kind or 'empty'}, not welcome: protocol mismatch"
            self.out.add_frame(_wire.error_frame(msg))
            self._hang_up()
            raise AttachError(msg)
        self._welcome(first.welcome)
        if not self.started and self.stop_signal is not None:
            return  # stopped as the welcome came: no hook ran, nothing to send

        handle = self._bolt_frame if self.is_bolt else self._spout_frame
        while self.stop_signal is None:
            try:
                resp = self._recv()
            except _StopNow:
                break
            if resp is None:
                return  # the node ended the stream with an OK status
            handle(resp)
            # The frame's hooks returned: a flush that waits for the node
            # (backpressure) is not a call of the component (busy_millis).
            self.hook = ""
            if self.out.frames or self.out.emits or self.out.acked or self.out.failed or self.out.reset:
                self._flush()
        self._hang_up()

    def _hang_up(self) -> None:
        """Sends what the outbox holds, half-closes the stream, and waits
        (at most _HANG_UP_GRACE_S) for the node to end it, for a graceful
        stop or a fatal error whose reason the node should see. Cancelling
        the call at once could drop frames gRPC has not written yet; the
        node handles every frame sent before the half-close, then ends the
        call (and fails the inputs this task still holds). The node's last
        frames are taken from the reader meanwhile (and not handled), so
        that it can read on to the call's end; the wait is in slices, so
        that a second signal is handled at once."""
        self._flush(time.monotonic() + _HANG_UP_GRACE_S)
        self._close_sender()
        deadline = time.monotonic() + _HANG_UP_GRACE_S
        while time.monotonic() < deadline:
            try:
                item = self.inq.get(timeout=_WAIT_SLICE_S)
            except queue.Empty:
                continue
            if item is _END or isinstance(item, BaseException):
                return  # the node's status, OK or not
        self.call.cancel()  # the node did not end it within the grace

    def _welcome(self, pb: attach_pb2.TaskContext) -> None:
        ctx = TaskContext.from_proto(pb)
        self.ctx = ctx
        hb = ctx.heartbeat_millis if ctx.heartbeat_millis > 0 else 1000
        self.hb_s = hb / 1000.0
        self.silence_limit = 3 * self.hb_s
        self.label = f"{self.kind} '{ctx.component}' task {ctx.task_id}"
        self.tracebacks.who = self.label
        # The sender is waiting with the pre-welcome heartbeat interval:
        # wake it so the node's interval applies from now on.
        self._send([])
        if self.stop_signal is not None:
            return  # stopping: no hook starts (the loop stops next)
        comp = self.comp
        comp._bind(ctx, self.out, self._send_direct)
        hook = "prepare" if self.is_bolt else "open"
        if self.is_bolt:
            comp._pending = set()
        try:
            if self.is_bolt:
                comp.prepare(ctx)
            else:
                comp.open(ctx)
        except Exception as e:
            if _is_config_error(e):
                # Its message says what is wrong and with which key: one
                # line with the user's line that read it, not a traceback
                # at each of the node's restarts.
                print(f"gale: {self.label}: {hook} failed: {_describe_exc(e)}{where(e)}", file=sys.stderr, flush=True)
            else:
                traceback.print_exc(file=sys.stderr)
            msg = f"{hook} failed: {_describe_exc(e)}"
            self.out.add_frame(_wire.error_frame(f"{self.label}: {msg}"))
            self._hang_up()
            raise AttachError(msg) from None
        self.started = True
        self._flush()

    def _stop_hook(self) -> None:
        """Runs close/cleanup once; its failure is the process's failure."""
        self.started = False
        self.tracebacks.flush()
        hook = "cleanup" if self.is_bolt else "close"
        try:
            if self.is_bolt:
                self.comp.cleanup()
            else:
                self.comp.close()
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            raise AttachError(f"{hook} failed: {_describe_exc(e)}") from None

    def _stop_hook_quietly(self) -> None:
        """close/cleanup on the way out of an error: its own failure is
        printed, the first error stays the reported one."""
        if self.started:
            try:
                self._stop_hook()
            except AttachError as e:
                print(f"gale: {self.label}: {e}", file=sys.stderr, flush=True)

    def _protocol_error(self, msg: str) -> None:
        self.out.add_frame(_wire.error_frame(f"{self.label}: {msg}"))

    def _node_error(self, msg: str) -> None:
        print(f"gale: {self.label}: the node rejected a frame: {msg}", file=sys.stderr, flush=True)

    # -- bolts -----------------------------------------------------------------

    def _bolt_frame(self, resp: attach_pb2.AttachResponse) -> None:
        kind = resp.WhichOneof("frame")
        if kind == "inputs":
            self._inputs(resp.inputs.tuples)
        elif kind == "heartbeat":
            pass
        elif kind == "end_of_input":
            self._finish()
        elif kind == "error":
            self._node_error(resp.error.message)
        elif kind is None:
            self._protocol_error("empty frame from the node (an AttachResponse with no frame set): ignored")
        elif kind == "welcome":
            self._protocol_error("a second welcome frame from the node: ignored")
        else:
            self._protocol_error(f"'{kind}' frame sent to a bolt: {kind} is for spouts; ignored")

    def _inputs(self, tuples: Any) -> None:
        bolt = self.comp
        execute = bolt.execute
        pending = bolt._pending
        sources = self.sources
        out = self.out
        flush_every = self.hb_s / 4
        monotonic = time.monotonic
        last_flush = monotonic()
        n = 0
        self.hook = "execute"
        for pt in tuples:
            if self.stop_signal is not None:
                break  # stopping: the node fails the inputs not executed
            st = pt.source_task
            key = (st, pt.stream)
            src = sources.get(key)
            if src is None:
                src = self._source(pt)
                if src is None:
                    continue
            vals = []
            for v in pt.values:
                k = v.WhichOneof("kind")
                vals.append(getattr(v, k) if k else None)
            i = pt.id
            if len(vals) != len(src.fields) and src is not TICK_SOURCE:
                self._bad_input(
                    i,
                    f"input {i} from {src.component}:{src.stream} has {len(vals)} value{'s' if len(vals) != 1 else ''} "
                    f"for {len(src.fields)} field{'s' if len(src.fields) != 1 else ''} ({', '.join(src.fields)})",
                )
                continue
            tup = Tuple(vals, src, st, i)
            if i:
                pending.add(i)
            self.calls += 1
            try:
                execute(tup)
            except Exception as e:
                self._execute_failed(tup, e)
            n += 1
            # The clock after every execute, as the Go and TypeScript SDKs
            # do: a slow execute's acks and emits go out within
            # heartbeat_millis / 4 of it, not after the whole batch (a
            # batch of 8 inputs of 3 s each sent all 8 acks after 24 s,
            # and the node reported the process as acking nothing). The
            # size check costs more, and only matters for fast executes.
            now = monotonic()
            if now - last_flush >= flush_every or (not n & 63 and out.pending() >= _FLUSH_ITEMS):
                self.hook = ""  # waiting for room to send is not execute
                self._flush()
                self.hook = "execute"
                last_flush = now

    def _source(self, pt: Any) -> Optional[Source]:
        """Resolves (source task, stream) to a Source and caches it; reports
        and fails an input it cannot place, returning None."""
        stream = pt.stream or DEFAULT_STREAM
        st = pt.source_task
        if stream == TICK_STREAM and st == 0:
            self.sources[(st, pt.stream)] = TICK_SOURCE
            return TICK_SOURCE
        ctx = self.ctx
        comp = ctx.component_of(st)
        if comp is None:
            self._bad_input(pt.id, f"input {pt.id} comes from task {st}, which belongs to no component of the topology")
            return None
        fields = ctx.source_fields.get(f"{comp}:{stream}")
        if fields is None:
            subs = ", ".join(sorted(ctx.source_fields)) or "nothing"
            self._bad_input(
                pt.id,
                f"input {pt.id} is on unknown stream '{stream}' of component '{comp}' (this bolt subscribes to {subs})",
            )
            return None
        src = Source(comp, stream, fields)
        self.sources[(st, pt.stream)] = src
        return src

    def _bad_input(self, input_id: int, msg: str) -> None:
        self._protocol_error(msg + ": failed without calling execute")
        if input_id:
            self.out.add_fail(input_id)

    def _execute_failed(self, tup: Tuple, e: Exception) -> None:
        what = "tick" if tup.is_tick else f"input {tup.id} from {tup.component}:{tup.stream}"
        self.tracebacks.print(e, f"execute failed on {what}")
        self.out.add_frame(_wire.error_frame(f"{self.label}: execute failed on {what}: {_describe_exc(e)}"))
        pending = self.comp._pending
        if tup.id in pending:
            pending.discard(tup.id)
            self.out.add_fail(tup.id)

    def _finish(self) -> None:
        bolt = self.comp
        if self.finished:
            self._protocol_error("end_of_input received again: finish already ran; answering finished again")
        else:
            self.finished = True
            self.hook = "finish"
            self.calls += 1
            try:
                bolt.finish()
            except Exception as e:
                traceback.print_exc(file=sys.stderr)
                self.out.add_frame(_wire.error_frame(f"{self.label}: finish failed: {_describe_exc(e)}"))
            if bolt._pending:
                ids = sorted(bolt._pending)
                shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
                self.out.add_frame(
                    _wire.log_frame(
                        3, f"{self.label}: finish left {len(ids)} input(s) unacked ({shown}); they fail when the stream ends"
                    )
                )
        self.out.add_frame(_wire.FINISHED_FRAME, barrier=True)

    # -- spouts ----------------------------------------------------------------

    def _spout_frame(self, resp: attach_pb2.AttachResponse) -> None:
        kind = resp.WhichOneof("frame")
        sp = self.comp
        if kind == "next":
            self._next(resp.next.max)
        elif kind == "spout_acks":
            for mid in resp.spout_acks.acked:
                self._call_hook("ack", sp.ack, mid)
            for mid in resp.spout_acks.failed:
                self._call_hook("fail", sp.fail, mid)
        elif kind == "heartbeat":
            pass
        elif kind == "activate":
            self._call_hook("activate", sp.activate)
        elif kind == "deactivate":
            self._call_hook("deactivate", sp.deactivate)
        elif kind == "error":
            self._node_error(resp.error.message)
        elif kind is None:
            self._protocol_error("empty frame from the node (an AttachResponse with no frame set): ignored")
        elif kind == "welcome":
            self._protocol_error("a second welcome frame from the node: ignored")
        else:
            self._protocol_error(f"'{kind}' frame sent to a spout: {kind} is for bolts; ignored")

    def _call_hook(self, name: str, fn: Any, *args: Any) -> None:
        self.hook = name
        self.calls += 1
        try:
            fn(*args)
        except Exception as e:
            arg = f"({args[0]})" if args else ""
            self.tracebacks.print(e, f"{name}{arg} failed")
            self.out.add_frame(_wire.error_frame(f"{self.label}: {name}{arg} failed: {_describe_exc(e)}"))

    def _next(self, max_tuples: int) -> None:
        sp = self.comp
        sp._emitted = 0
        want = max_tuples if max_tuples > 0 else 1
        self.hook = "next_tuple"
        try:
            while sp._emitted < want and self.stop_signal is None:
                before = sp._emitted
                self.calls += 1
                sp.next_tuple()
                if sp._emitted == before:
                    break
        except Exception as e:
            self.tracebacks.print(e, "next_tuple failed")
            self.out.add_frame(_wire.error_frame(f"{self.label}: next_tuple failed: {_describe_exc(e)}"))
        self.out.add_frame(_wire.NEXT_DONE_END_FRAME if sp._ended else _wire.NEXT_DONE_FRAME, barrier=True)
