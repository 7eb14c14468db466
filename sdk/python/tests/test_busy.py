"""The heartbeats' busy clock (busy_millis, sdk/ATTACH.md "Heartbeats and
timeouts"): it times the component's call running now, and nothing else.

A node ends the session of a process whose heartbeat says a call has run
longer than topology.subprocess.timeout.secs, so a clock that keeps
counting a call that returned long ago gets a healthy process replaced.
"""

from __future__ import annotations

import time

from gale import Bolt
from gale.runner import AttachOptions, _Session
from gale.v1 import attach_pb2


class _Idle(Bolt):
    def execute(self, tup):  # pragma: no cover - never called here
        pass


def _session() -> _Session:
    s = _Session(_Idle(), AttachOptions(addr="127.0.0.1:1", topology="t", component="c"))
    s.hb_s = 0.05
    return s


def _watchdog_tick(s: _Session) -> None:
    """What one turn of _Session._watch does."""
    if s.waiting_since is None:
        s._time_call()
    else:
        s.busy_ms = 0


def _sender_heartbeat(s: _Session) -> attach_pb2.Heartbeat:
    """The heartbeat the sender sends when it had nothing to send."""
    gen = s._requests()
    next(gen)  # the hello
    frame = attach_pb2.AttachRequest.FromString(next(gen))
    gen.close()
    assert frame.WhichOneof("frame") == "heartbeat"
    return frame.heartbeat


def test_a_call_that_returned_is_not_timed_across_the_wait_for_the_next_frame():
    s = _session()
    # An execute runs (the frame loop names the hook and counts the call),
    # and the watchdog sees it.
    s.hook = "execute"
    s.calls += 1
    _watchdog_tick(s)
    # It returns at once; the frame loop waits a while for the node, and
    # the watchdog sees it waiting.
    heartbeat = attach_pb2.AttachResponse(heartbeat=attach_pb2.Heartbeat())
    s.inq.put(heartbeat)
    s.waiting_since = time.monotonic()
    _watchdog_tick(s)
    time.sleep(0.3)
    # The node's heartbeat frame comes: handling it runs no hook of the
    # component, and a watchdog turn may fall on it.
    assert s._recv() is heartbeat
    _watchdog_tick(s)
    assert s.busy_ms == 0, f"the execute that returned 300 ms ago is still timed: busy {s.busy_ms} ms"
    hb = _sender_heartbeat(s)
    assert hb.busy_millis == 0 and hb.busy_in == "", f"idle heartbeat says busy {hb.busy_millis} ms in {hb.busy_in!r}"


def test_a_call_that_runs_is_timed():
    s = _session()
    s.hook = "execute"
    s.calls += 1
    _watchdog_tick(s)
    time.sleep(0.2)
    _watchdog_tick(s)
    assert s.busy_ms >= 150
    hb = _sender_heartbeat(s)
    assert hb.busy_millis >= 150 and hb.busy_in == "execute"
