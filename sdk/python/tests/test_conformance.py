"""The shared Attach conformance suite (sdk/conformance), every case file.

The harness plays the node as sdk/conformance/README.md specifies: a real
gRPC server on 127.0.0.1:0, the conformance component started as a real
subprocess with the managed-process environment, the case's steps played
against its stream.

Every case runs in the SDK's default mode (Bolt.defer_acks on) and is
compared by the README's rule (fakenode.compare_deferred): events in order,
acks and fails possibly later, but never before an emit anchored to their
input nor after the next_done/finished that follows them. The bolt cases
run a second time with defer_acks off ("strict"), compared in the cases'
exact order, which that mode promises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from google.protobuf import json_format

from gale.v1 import attach_pb2
from fakenode import FakeNode, compare_deferred, compare_strict, events_of, json_frame

HERE = Path(__file__).resolve().parent
CONFORMANCE = HERE.parent.parent / "conformance"
CASES = sorted((CONFORMANCE / "cases").glob("*.json"))
WELCOME = json.loads((CONFORMANCE / "welcome.json").read_text())
COMPONENTS = {"bolt": HERE / "components" / "conf_bolt.py", "spout": HERE / "components" / "conf_spout.py"}
TOKEN = "conformance-token"
EXPECT_TIMEOUT = 5.0
# Until the hello: a fresh interpreter importing grpc and protobuf.
HELLO_TIMEOUT = 15.0

# The ack order changes nothing in these (no acks, or no interleaving).
_NOT_ABOUT_ACKS = {"heartbeat", "node-silent", "node-closes"}


def _params():
    out = []
    for path in CASES:
        case = json.loads(path.read_text())
        out.append(pytest.param(path, "defer_acks", id=path.stem))
        if case["component"] == "bolt" and case["name"] not in _NOT_ABOUT_ACKS:
            out.append(pytest.param(path, "strict", id=f"{path.stem}-strict"))
    return out


def test_every_case_file_is_run():
    assert len(CASES) >= 17, f"expected the conformance cases in {CONFORMANCE / 'cases'}"


class CaseRun:
    """One case: the fake node, the component process, and the step player."""

    def __init__(self, case: dict, mode: str, node: FakeNode, tmp: Path):
        self.case = case
        self.mode = mode
        self.node = node
        kind = case["component"]
        welcome = dict(WELCOME[kind])
        welcome.update(case.get("welcome", {}))
        self.welcome = json_format.ParseDict(welcome, attach_pb2.TaskContext())
        self.hb = (self.welcome.heartbeat_millis or 1000) / 1000.0
        self.stderr_path = tmp / "stderr.txt"
        env = dict(os.environ)
        env.update(
            GALE_ATTACH_ADDR=node.addr,
            GALE_TOPOLOGY="conformance",
            GALE_COMPONENT=self.welcome.component,
            GALE_TASK_ID=str(self.welcome.task_id),
            GALE_TOKEN=TOKEN,
            GALE_CONF_DEFER_ACKS="1" if mode == "defer_acks" else "0",
            PYTHONUNBUFFERED="1",
        )
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(COMPONENTS[kind])], env=env, stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr
        )
        self.ended = False  # the process's end was checked
        self.closed = False  # the harness ended the stream

    def fail(self, msg: str) -> None:
        pytest.fail(f"{self.case['name']} [{self.mode}]: {msg}\n--- component output ---\n{self.output()}", pytrace=False)

    def output(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.stderr.close()

    # -- steps -----------------------------------------------------------------

    def hello(self) -> None:
        r = self.node.recv(HELLO_TIMEOUT)
        if r is None or r.frame is None:
            self.fail("no hello from the component")
        f = r.frame
        if f.WhichOneof("frame") != "hello":
            self.fail(f"first frame is {f.WhichOneof('frame')}, want hello")
        h = f.hello
        want = ("conformance", self.welcome.component, self.welcome.task_id, TOKEN)
        if (h.topology, h.component, h.task_id, h.token) != want:
            self.fail(f"hello names {(h.topology, h.component, h.task_id, h.token)}, want {want}")
        if not h.sdk or h.pid <= 0:
            self.fail(f"hello needs a non-empty sdk and pid > 0, got sdk={h.sdk!r} pid={h.pid}")
        self.node.send(attach_pb2.AttachResponse(welcome=self.welcome))

    def expect(self, expected: list[dict], live: bool = False) -> None:
        """Reads events until it has as many as expected, within
        EXPECT_TIMEOUT. With live (step expect_live) the component must also
        stay live meanwhile: no gap between its frames (heartbeats count)
        longer than 3 heartbeat intervals, after which a node gives it up;
        and, like a node, the harness sends a heartbeat every interval."""
        got: list[tuple] = []
        deadline = time.monotonic() + EXPECT_TIMEOUT
        last = next_beat = time.monotonic()
        while len(got) < len(expected):
            now = time.monotonic()
            if now >= deadline:
                self.fail(f"timed out after {EXPECT_TIMEOUT} s with events {got}, want {expected}")
            wait = deadline - now
            if live:
                if now >= next_beat:
                    self.node.send(attach_pb2.AttachResponse(heartbeat=attach_pb2.Heartbeat()))
                    next_beat = now + self.hb
                if now - last >= 3 * self.hb:
                    self.fail(f"no frame for 3 x heartbeat = {3 * self.hb * 1000:.0f} ms with events {got} so far")
                wait = max(0.0, min(deadline, next_beat, last + 3 * self.hb) - now)
            r = self.node.recv(wait)
            if r is None:
                continue
            if r.frame is None:
                self.fail(f"the component ended its stream ({r.end_reason}) with events {got}, want {expected}")
            if live and time.monotonic() - last > 3 * self.hb:
                self.fail(f"no frame for 3 x heartbeat = {3 * self.hb * 1000:.0f} ms with events {got} so far")
            last = time.monotonic()
            got.extend(events_of(r.frame))
        compare = compare_deferred if self.mode == "defer_acks" else compare_strict
        diff = compare(expected, got)
        if diff:
            self.fail(f"events differ: {diff}\n got:  {got}\n want: {expected}")

    def expect_heartbeat(self) -> None:
        r = self.node.recv(3 * self.hb)
        if r is None:
            self.fail(f"no heartbeat within 3 x {self.hb * 1000:.0f} ms")
        if r.frame is None or r.frame.WhichOneof("frame") != "heartbeat":
            self.fail(f"want a heartbeat, got {r.frame!r} {r.end_reason}")
        hb = r.frame.heartbeat
        if hb.busy_millis != 0:
            self.fail(f"an idle process's heartbeat says busy_millis {hb.busy_millis} (busy_in {hb.busy_in!r})")

    def expect_busy(self, hook: str, min_ms: int) -> None:
        """Waits, sending heartbeats as a node does, for a heartbeat whose
        busy_millis is at least min_ms and whose busy_in is hook; any other
        frame before it fails the case."""
        limit = min_ms / 1000.0 + 5 * self.hb + 2.0
        deadline = time.monotonic() + limit
        next_beat = time.monotonic()
        most = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                self.fail(f"no heartbeat with busy_millis >= {min_ms} within {limit:.1f} s (the most was {most})")
            if now >= next_beat:
                self.node.send(attach_pb2.AttachResponse(heartbeat=attach_pb2.Heartbeat()))
                next_beat = now + self.hb
            r = self.node.recv(max(0.0, min(deadline, next_beat) - now))
            if r is None:
                continue
            if r.frame is None:
                self.fail(f"the component ended its stream ({r.end_reason}) while {hook} ran")
            if r.frame.WhichOneof("frame") != "heartbeat":
                self.fail(f"want only heartbeats while {hook} runs, got {events_of(r.frame)}")
            hb = r.frame.heartbeat
            if hb.busy_millis and hb.busy_in != hook:
                self.fail(f"a heartbeat says busy_in {hb.busy_in!r}, want {hook!r}")
            if hb.busy_millis >= min_ms:
                return
            most = max(most, hb.busy_millis)

    def silence(self, ms: int) -> None:
        deadline = time.monotonic() + ms / 1000.0
        while True:
            r = self.node.recv(deadline - time.monotonic())
            if r is None:
                return
            if r.frame is None:
                self.fail(f"the component ended its stream ({r.end_reason}) during silence_ms {ms}")
            if r.frame.WhichOneof("frame") != "heartbeat":
                self.fail(f"want silence for {ms} ms, got {events_of(r.frame)}")

    def expect_end(self, how: str) -> None:
        self.ended = True
        limit = EXPECT_TIMEOUT if how == "ok" else 5 * self.hb + 2.0
        try:
            rc = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.fail(f"the component did not end within {limit:g} s (want {how})")
        out = self.output()
        if how == "ok":
            if rc != 0:
                self.fail(f"the component exited {rc}, want a clean end (0)")
        else:
            if rc == 0:
                self.fail("the component exited 0, want an error")
            # The component's own exception may print its traceback (it
            # shows where in the component), but the process's last word
            # is one message that says what went wrong.
            lines = out.strip().splitlines()
            if not lines or not lines[-1].startswith("gale: "):
                self.fail("an error end must say what went wrong in one last message (gale: ...), not a traceback or nothing")

    def signal(self, name: str) -> None:
        signals = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
        if name not in signals:
            raise ValueError(f"unknown signal {name!r}")
        self.proc.send_signal(signals[name])

    def expect_stop(self, exit_code: int) -> None:
        """A graceful stop: the component half-closes its stream with nothing
        but heartbeats first; the harness ends the stream, and the process
        exits with exit_code."""
        self.ended = True
        deadline = time.monotonic() + EXPECT_TIMEOUT
        while True:
            r = self.node.recv(deadline - time.monotonic())
            if r is None:
                self.fail(f"the component did not half-close its stream within {EXPECT_TIMEOUT} s")
            if r.frame is None:
                if r.end_reason != "half-close":
                    self.fail(f"the stream ended by {r.end_reason}, want a half-close")
                break
            if r.frame.WhichOneof("frame") != "heartbeat":
                self.fail(f"got {events_of(r.frame)} before the half-close")
        hook = "cleanup" if self.case["component"] == "bolt" else "close"
        try:
            rc = self.proc.wait(0.3)
            self.fail(f"the component exited {rc} before the node ended the stream")
        except subprocess.TimeoutExpired:
            pass  # it waits for the node, as it should
        if f"conformance: {hook}" in self.output():
            self.fail(f"the component ran its {hook} hook before the node ended the stream")
        self.closed = True
        self.node.close()
        try:
            rc = self.proc.wait(EXPECT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail(f"the component did not exit within {EXPECT_TIMEOUT} s of the stream's end")
        if rc != exit_code:
            self.fail(f"the component exited {rc}, want {exit_code}")
        if f"conformance: {hook}" not in self.output():
            self.fail(f"the component exited without running its {hook} hook")

    def expect_output(self, line: str) -> None:
        deadline = time.monotonic() + EXPECT_TIMEOUT
        while line not in self.output():
            if time.monotonic() >= deadline:
                self.fail(f"no {line!r} on the component's stderr within {EXPECT_TIMEOUT} s")
            time.sleep(0.005)

    def play(self) -> None:
        self.hello()
        for step in self.case["steps"]:
            (op, arg), = step.items()
            if op == "send":
                self.node.send(json_frame(arg))
            elif op == "expect":
                self.expect(arg)
            elif op == "expect_live":
                self.expect(arg, live=True)
            elif op == "expect_heartbeat":
                self.expect_heartbeat()
            elif op == "expect_busy":
                self.expect_busy(arg["hook"], arg["min_ms"])
            elif op == "silence_ms":
                self.silence(arg)
            elif op == "close":
                self.closed = True
                self.node.close()
            elif op == "expect_end":
                self.expect_end(arg)
            elif op == "expect_output":
                self.expect_output(arg)
            elif op == "signal":
                self.signal(arg)
            elif op == "expect_stop":
                self.expect_stop(arg["exit"])
            else:
                raise ValueError(f"unknown step {op!r}")
        if not self.ended:
            if not self.closed:
                self.node.close()
            self.expect_end("ok")


@pytest.mark.parametrize("path,mode", _params())
def test_conformance(path: Path, mode: str):
    case = json.loads(path.read_text())
    with FakeNode() as node, tempfile.TemporaryDirectory() as tmp:
        run = CaseRun(case, mode, node, Path(tmp))
        try:
            run.play()
        finally:
            run.close()
