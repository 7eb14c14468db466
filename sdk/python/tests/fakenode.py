"""A fake Gale node for tests: serves gale.v1.AttachService on 127.0.0.1:0
and lets a test script the stream (sdk/conformance/README.md describes the
conformance run this supports).

The test thread sends AttachResponse frames with ``send``, ends the stream
with ``close`` and reads what the component sent with ``recv``. Frames from
the component are queued by a reader thread as they arrive, with their
arrival time.

With ``server_credentials`` (grpc.ssl_server_credentials) it serves TLS, as
a node started with --tls-cert/--tls-key/--tls-ca does, and records the
client's certificate identity of each stream in ``peers``.
"""

from __future__ import annotations

import base64
import queue
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Optional

import grpc

from gale.v1 import attach_pb2, attach_pb2_grpc, tuple_pb2, value_pb2

_CLOSE = object()


@dataclass
class Received:
    frame: Optional[attach_pb2.AttachRequest]  # None: the component's side ended
    at: float
    end_reason: str = ""


@dataclass
class _Abort:
    code: grpc.StatusCode
    details: str


class FakeNode(attach_pb2_grpc.AttachServiceServicer):
    """One Attach stream at a time, driven by the test."""

    def __init__(self, server_credentials: Optional[grpc.ServerCredentials] = None) -> None:
        self.rx: "queue.Queue[Received]" = queue.Queue()
        self.tx: "queue.Queue[Any]" = queue.Queue()
        self.attached = threading.Event()
        #: Per Attach stream: the auth context's x509 common name of the
        #: client (b"" on a plaintext port or without a client certificate).
        self.peers: list[bytes] = []
        # A node receives messages of up to 16 MiB (transfer.MaxMessageBytes).
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_receive_message_length", 16 << 20)]
        )
        attach_pb2_grpc.add_AttachServiceServicer_to_server(self, self.server)
        if server_credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", server_credentials)
        self.addr = f"127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeNode":
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.tx.put(_CLOSE)
        self.server.stop(grace=0).wait(5)

    # -- the servicer ----------------------------------------------------------

    def Attach(self, request_iterator, context):  # noqa: N802 (gRPC's name)
        self.peers.append(b"".join(context.auth_context().get("x509_common_name", [])))
        self.attached.set()
        threading.Thread(target=self._read, args=(request_iterator,), daemon=True).start()
        while True:
            item = self.tx.get()
            if item is _CLOSE:
                return  # ends the stream with an OK status
            if isinstance(item, _Abort):
                context.abort(item.code, item.details)  # ends it with an error status
            yield item

    def _read(self, it) -> None:
        try:
            for req in it:
                self.rx.put(Received(req, time.monotonic()))
            self.rx.put(Received(None, time.monotonic(), "half-close"))
        except Exception as e:  # cancelled: the process went away
            self.rx.put(Received(None, time.monotonic(), f"stream error: {e!r}"))

    # -- for the test ----------------------------------------------------------

    def send(self, resp: attach_pb2.AttachResponse) -> None:
        self.tx.put(resp)

    def close(self) -> None:
        self.tx.put(_CLOSE)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        """Ends the stream with an error status, as a node that fails."""
        self.tx.put(_Abort(code, details))

    def recv(self, timeout: float) -> Optional[Received]:
        """The next thing the component sent, or None on timeout."""
        try:
            return self.rx.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None


# -- JSON forms of sdk/conformance/README.md ---------------------------------


def json_value(v: Any) -> value_pb2.Value:
    """A conformance JSON value as a gale.v1.Value."""
    if v is None:
        return value_pb2.Value()
    if isinstance(v, bool):
        return value_pb2.Value(bool_value=v)
    if isinstance(v, int):
        return value_pb2.Value(int_value=v)
    if isinstance(v, float):
        return value_pb2.Value(double_value=v)
    if isinstance(v, str):
        return value_pb2.Value(string_value=v)
    if isinstance(v, dict) and "double" in v:
        return value_pb2.Value(double_value=float(v["double"]))
    if isinstance(v, dict) and "bytes" in v:
        return value_pb2.Value(bytes_value=base64.b64decode(v["bytes"]))
    raise ValueError(f"not a conformance value: {v!r}")


def typed(v: Any) -> tuple:
    """A conformance JSON value as (kind, python value), so that true and 1
    or 1 and 1.0 do not compare equal."""
    pb = json_value(v)
    return typed_pb(pb)


def typed_pb(pb: value_pb2.Value) -> tuple:
    kind = pb.WhichOneof("kind")
    return (kind or "null", getattr(pb, kind) if kind else None)


def json_frame(form: dict) -> attach_pb2.AttachResponse:
    """A conformance "send" form as an AttachResponse."""
    if len(form) != 1:
        raise ValueError(f"a frame form has one key, got {sorted(form)}")
    (key, body), = form.items()
    r = attach_pb2.AttachResponse()
    if key == "inputs":
        for t in body:
            r.inputs.tuples.append(
                tuple_pb2.Tuple(
                    id=t.get("id", 0),
                    stream=t.get("stream", ""),
                    source_task=t.get("source_task", 0),
                    values=[json_value(v) for v in t.get("values", [])],
                )
            )
    elif key == "next":
        r.next.max = body.get("max", 0)
    elif key == "spout_acks":
        r.spout_acks.acked.extend(body.get("acked", []))
        r.spout_acks.failed.extend(body.get("failed", []))
    elif key in ("activate", "deactivate", "end_of_input", "heartbeat"):
        getattr(r, key).SetInParent()
    elif key == "empty":
        pass
    else:
        raise ValueError(f"unknown frame form {key!r}")
    return r


_LEVELS = {0: "info", 1: "debug", 2: "info", 3: "warn", 4: "error"}


def events_of(frame: attach_pb2.AttachRequest) -> list[tuple]:
    """Flattens a component frame into conformance events (heartbeats give none)."""
    kind = frame.WhichOneof("frame")
    if kind == "emits":
        return [
            (
                "emit",
                e.stream or "default",
                tuple(typed_pb(v) for v in e.values),
                frozenset(e.anchors),
                e.message_id,
                e.direct_task,
            )
            for e in frame.emits.emits
        ]
    if kind == "acks":
        # As a node reads the frame: timeout resets first.
        return (
            [("reset_timeout", i) for i in frame.acks.reset_timeout]
            + [("ack", i) for i in frame.acks.acked]
            + [("fail", i) for i in frame.acks.failed]
        )
    if kind == "log":
        return [("log", _LEVELS.get(frame.log.level, str(frame.log.level)), frame.log.message)]
    if kind == "error":
        return [("error", frame.error.message)]
    if kind == "next_done":
        return [("next_done", frame.next_done.end_of_input)]
    if kind == "finished":
        return [("finished",)]
    if kind == "heartbeat":
        return []
    return [("unexpected", kind or "empty", str(frame))]


def expected_event(e: dict) -> dict:
    if len(e) != 1:
        raise ValueError(f"an event has one key, got {sorted(e)}")
    return e


def matches(exp: dict, got: tuple) -> bool:
    """Whether one actual event matches one expected event (README rules)."""
    (key, body), = exp.items()
    if key == "emit":
        return got[0] == "emit" and got[1:] == (
            body.get("stream", "default") or "default",
            tuple(typed(v) for v in body.get("values", [])),
            frozenset(body.get("anchors", [])),
            body.get("message_id", 0),
            body.get("direct_task", 0),
        )
    if key in _ACKISH:
        return got == (key, body)
    if key == "log":
        if got[0] != "log":
            return False
        if "level" in body and got[1] != body["level"]:
            return False
        return all(s.lower() in got[2].lower() for s in body.get("contains", []))
    if key == "error":
        return got[0] == "error" and all(s.lower() in got[1].lower() for s in body.get("contains", []))
    if key == "next_done":
        return got == ("next_done", bool(body.get("end_of_input", False)))
    if key == "finished":
        return got == ("finished",)
    raise ValueError(f"unknown event {key!r}")


_ACKISH = ("ack", "fail", "reset_timeout")  # events that compare as a multiset


def _is_ack(e: Any) -> bool:
    if isinstance(e, dict):
        return next(iter(e)) in _ACKISH
    return e[0] in _ACKISH


def _segments(events: list) -> list:
    """Splits events into single events and maximal runs of ack/fail."""
    out: list = []
    for e in events:
        if _is_ack(e):
            if out and isinstance(out[-1], list):
                out[-1].append(e)
            else:
                out.append([e])
        else:
            out.append(e)
    return out


def compare_strict(expected: list[dict], got: list[tuple]) -> Optional[str]:
    """The README's comparison: in order, except that a run of consecutive
    ack/fail events compares as a multiset. Returns what differs, or None."""
    es, gs = _segments(expected), _segments(got)
    if len(es) != len(gs):
        return f"{len(gs)} event groups, want {len(es)}"
    for i, (e, g) in enumerate(zip(es, gs)):
        if isinstance(e, list) != isinstance(g, list):
            return f"group {i}: got {g}, want {e}"
        if isinstance(e, list):
            want = sorted((next(iter(x)), x[next(iter(x))]) for x in e)
            if sorted(g) != want:
                return f"group {i}: acks/fails {sorted(g)}, want {want}"
        elif not matches(e, g):
            return f"event {i}: got {g}, want {e}"
    return None


def compare_deferred(expected: list[dict], got: list[tuple]) -> Optional[str]:
    """The comparison for Bolt.defer_acks (an SDK extension, not the
    README's): every event other than ack/fail in order; the same acks and
    fails; each ack/fail after every emit anchored to its input (the rule
    the node relies on) and before the next_done/finished that followed it
    in the expected order."""
    e_other = [e for e in expected if not _is_ack(e)]
    g_other = [g for g in got if not _is_ack(g)]
    if len(e_other) != len(g_other):
        return f"{len(g_other)} events besides acks, want {len(e_other)}: {g_other}"
    for i, (e, g) in enumerate(zip(e_other, g_other)):
        if not matches(e, g):
            return f"event {i} (acks aside): got {g}, want {e}"
    e_acks = sorted((next(iter(x)), x[next(iter(x))]) for x in expected if _is_ack(x))
    g_acks = sorted(g for g in got if _is_ack(g))
    if e_acks != g_acks:
        return f"acks/fails {g_acks}, want {e_acks}"
    for pos, g in enumerate(got):
        if not _is_ack(g):
            continue
        for later in got[pos + 1 :]:
            if g[0] != "reset_timeout" and later[0] == "emit" and g[1] in later[3]:
                return f"{g[0]} of input {g[1]} was sent before an emit anchored to it: {later}"
            if g[0] != "reset_timeout" and later == ("reset_timeout", g[1]):
                return f"reset_timeout of input {g[1]} was sent after its {g[0]}"
    # barriers: an ack expected before a finished/next_done must precede it
    for i, e in enumerate(expected):
        if not _is_ack(e):
            continue
        barrier = next((j for j in range(i + 1, len(expected)) if next(iter(expected[j])) in ("finished", "next_done")), None)
        if barrier is None:
            continue
        nth = sum(1 for x in expected[:barrier] if not _is_ack(x))
        key = (next(iter(e)), e[next(iter(e))])
        gpos = got.index(key)
        if sum(1 for x in got[:gpos] if not _is_ack(x)) > nth:
            return f"{key} was sent after the {next(iter(expected[barrier]))} it must precede"
    return None
