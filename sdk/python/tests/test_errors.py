"""Error paths of the runner: each ends with a message that says what is
wrong (never a raw traceback for a protocol problem), or, inside a hook,
becomes an error frame while the task goes on."""

import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
import pytest

import gale
from gale.v1 import attach_pb2, attach_pb2_grpc
from fakenode import FakeNode, events_of, json_frame


def opts(addr, **kw):
    return gale.AttachOptions(addr=addr, topology="t", component="c", task_id=3, **kw)


def test_missing_environment_names_the_variables():
    with pytest.raises(gale.AttachError, match="GALE_ATTACH_ADDR, GALE_TOPOLOGY, GALE_COMPONENT not set"):
        gale.AttachOptions.resolve({})


def test_bad_task_id():
    env = {"GALE_ATTACH_ADDR": "h:1", "GALE_TOPOLOGY": "t", "GALE_COMPONENT": "c", "GALE_TASK_ID": "x1"}
    with pytest.raises(gale.AttachError, match="GALE_TASK_ID='x1' is not a task id"):
        gale.AttachOptions.resolve(env)
    o = gale.AttachOptions.resolve(dict(env, GALE_TASK_ID="7", GALE_TOKEN="tok"))
    assert (o.addr, o.task_id, o.token) == ("h:1", 7, "tok")
    assert gale.AttachOptions.resolve(env, task_id=0, addr="a:2").addr == "a:2"


def test_unreachable_node():
    with pytest.raises(gale.AttachError, match=r"cannot connect to the node at 127.0.0.1:1 within 0.3 s"):
        gale.serve(gale.Bolt(), opts("127.0.0.1:1", connect_timeout=0.3))


class Refusing(attach_pb2_grpc.AttachServiceServicer):
    def Attach(self, request_iterator, context):  # noqa: N802
        next(request_iterator)
        context.abort(grpc.StatusCode.NOT_FOUND, "topology 't' has no component 'c' on this node")


def test_refused_hello_says_why():
    server = grpc.server(futures.ThreadPoolExecutor(2))
    attach_pb2_grpc.add_AttachServiceServicer_to_server(Refusing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(gale.AttachError, match=r"refused the hello \(NOT_FOUND\): topology 't' has no component 'c'"):
            gale.serve(gale.Bolt(), opts(f"127.0.0.1:{port}"))
    finally:
        server.stop(0)


def test_run_exits_1_with_one_line_and_no_traceback():
    p = subprocess.run(
        [sys.executable, "-c", "import gale; gale.run(gale.Bolt())"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("gale: Bolt: GALE_ATTACH_ADDR, GALE_TOPOLOGY, GALE_COMPONENT not set")


WELCOME = attach_pb2.TaskContext(topology="t", topology_id="t-1", component="c", task_id=3, heartbeat_millis=1000)
WELCOME.component_tasks["src"].ids.append(1)
WELCOME.component_tasks["c"].ids.append(3)
WELCOME.outputs.add(id="default", fields=["word"])
WELCOME.outputs.add(id="direct", fields=["word"], direct=True)
WELCOME.source_fields["src:default"].names.append("cmd")


class Session:
    """serve() in a thread against the fake node."""

    def __init__(self, component, welcome=WELCOME):
        self.node = FakeNode().__enter__()
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(component,), daemon=True)
        self.thread.start()
        r = self.node.recv(10)
        assert r.frame.WhichOneof("frame") == "hello"
        assert r.frame.hello.sdk.startswith("gale-python/") and r.frame.hello.task_id == 3
        self.node.send(attach_pb2.AttachResponse(welcome=welcome))

    def _serve(self, component):
        try:
            gale.serve(component, opts(self.node.addr))
        except gale.AttachError as e:
            self.error = e

    def events(self, n, timeout=5):
        got = []
        while len(got) < n:
            r = self.node.recv(timeout)
            assert r is not None, f"timed out with {got}"
            assert r.frame is not None, f"stream ended with {got}"
            got.extend(events_of(r.frame))
        return got

    def end(self):
        self.node.close()
        self.thread.join(5)
        assert not self.thread.is_alive()
        self.node.__exit__()


class Misbehaving(gale.Bolt):
    def prepare(self, context):
        self.acked = None
        self.cleaned = False

    def execute(self, tup):
        cmd = tup["cmd"]
        if cmd == "bad-value":
            self.emit([[1, 2]], tup)
        elif cmd == "no-direct-task":
            self.emit(["x"], tup, stream="direct")
        elif cmd == "direct-on-plain":
            self.emit(["x"], tup, direct_task=4)
        elif cmd == "string-values":
            self.emit("word", tup)
        elif cmd == "ack-twice":
            self.ack(tup)
            self.ack(tup)
        elif cmd == "anchor-after-ack":
            self.ack(tup)
            self.emit(["late"], tup)
        elif cmd == "too-large":
            self.emit(["x" * (16 << 20)], tup)
        elif cmd == "large-after-small":
            # Together over the 16 MiB a node receives: the large one
            # must go in a frame of its own.
            self.emit(["a" * 900_000], tup)
            self.emit(["b" * ((16 << 20) - 200_000)], tup)
            self.ack(tup)
        elif cmd == "ok":
            self.emit(["fine"], tup)
            self.ack(tup)

    def cleanup(self):
        self.cleaned = True


@pytest.mark.parametrize(
    "cmd,message,fails",
    [
        ("bad-value", "stream 'default', field 0 ('word'): a list cannot be a Gale value", True),
        ("no-direct-task", "direct stream 'direct' needs direct_task", True),
        ("direct-on-plain", "stream 'default' with direct_task 4, but the stream is not direct", True),
        ("string-values", "values must be a list of field values, e.g. ['word'], not a str", True),
        ("too-large", "stream 'default': the tuple's values take 16777", True),
        ("ack-twice", "ack of input 1, which this task does not hold", False),
        ("anchor-after-ack", "anchored to input 1, which this task no longer holds", False),
    ],
)
def test_mistakes_in_execute_become_error_frames(cmd, message, fails):
    bolt = Misbehaving()
    s = Session(bolt)
    try:
        s.node.send(json_frame({"inputs": [{"id": 1, "stream": "default", "source_task": 1, "values": [cmd]}]}))
        s.node.send(json_frame({"inputs": [{"id": 2, "stream": "default", "source_task": 1, "values": ["ok"]}]}))
        got = s.events(4 if fails else 4)
        errors = [e for e in got if e[0] == "error"]
        assert len(errors) == 1 and message in errors[0][1], got
        # The error names the user's line that made the call, not the SDK's.
        assert "(at test_errors.py:" in errors[0][1], errors[0][1]
        assert ("fail", 1) in got if fails else ("ack", 1) in got
        assert got[-2:] == [("emit", "default", (("string_value", "fine"),), frozenset({2}), 0, 0), ("ack", 2)]
    finally:
        s.end()
    assert s.error is None and bolt.cleaned


def test_a_large_emit_goes_in_a_frame_of_its_own():
    bolt = Misbehaving()
    s = Session(bolt)
    try:
        s.node.send(json_frame({"inputs": [{"id": 1, "stream": "default", "source_task": 1, "values": ["large-after-small"]}]}))
        got = s.events(3)
        assert [e[0] for e in got] == ["emit", "emit", "ack"], [e[:1] for e in got]
        assert [len(e[2][0][1]) for e in got[:2]] == [900_000, (16 << 20) - 200_000]
    finally:
        s.end()
    assert s.error is None


class FailingPrepare(gale.Bolt):
    def prepare(self, context):
        raise OSError("cannot open model.bin")


def test_prepare_failure_is_reported_and_ends_the_task():
    s = Session(FailingPrepare())
    got = s.events(1)
    assert got[0][0] == "error" and "prepare failed: OSError: cannot open model.bin" in got[0][1]
    s.thread.join(5)
    assert isinstance(s.error, gale.AttachError) and "prepare failed" in str(s.error)
    s.node.__exit__()


def test_a_bad_setting_in_prepare_is_one_line_not_a_traceback(capsys):
    class BadSetting(gale.Bolt):
        def prepare(self, context):
            self.n = context.config.get_int("split.min_len", 3)  # the node sends no such key: default

            raise gale.ConfigError("config split.min_len: want an integer, got string 'three'")

        def execute(self, tup):
            self.ack(tup)

    s = Session(BadSetting())
    try:
        got = s.events(1)
        s.thread.join(5)
    finally:
        s.node.__exit__()
    assert got[0][0] == "error" and "prepare failed: ConfigError: config split.min_len: want an integer" in got[0][1]
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert "prepare failed: ConfigError: config split.min_len: want an integer, got string 'three' (at test_errors.py:" in err, err


def test_cleanup_runs_once_and_its_failure_is_the_process_failure():
    class BadCleanup(gale.Bolt):
        def execute(self, tup):
            self.ack(tup)

        def cleanup(self):
            raise RuntimeError("flush to disk failed")

    s = Session(BadCleanup())
    s.end()
    assert isinstance(s.error, gale.AttachError) and "cleanup failed: RuntimeError: flush to disk failed" in str(s.error)


def test_log_levels_and_other_threads():
    class Logger(gale.Bolt):
        def execute(self, tup):
            self.log.warning("careful: %s", tup["cmd"])
            t = threading.Thread(target=self.report_error, args=(ValueError("from a thread"),))
            t.start()
            t.join()
            self.ack(tup)

    s = Session(Logger())
    try:
        s.node.send(json_frame({"inputs": [{"id": 1, "stream": "default", "source_task": 1, "values": ["x"]}]}))
        got = s.events(3)
        assert ("log", "warn", "careful: x") in got and ("ack", 1) in got
        assert ("error", "ValueError: from a thread") in got
    finally:
        s.end()


def test_emit_outside_a_running_task_says_so():
    with pytest.raises(gale.EmitError, match="before the component was started"):
        gale.Bolt().emit(["x"])


# A signal before the task has started: nothing to finish, so the process
# ends at once with the signal's status (sdk/ATTACH.md, "Ending"), and no
# hook runs.
_SIGNAL_CHILD = """
import sys, gale
class B(gale.Bolt):
    def prepare(self, context):
        print("prepared", file=sys.stderr, flush=True)
    def execute(self, tup):
        pass
gale.run(B())
"""


def _signal_child(addr, script=_SIGNAL_CHILD):
    # faulthandler: a child that does not end dumps its threads' stacks on
    # SIGABRT (_exit_status), so that a hang says where it hung.
    env = {
        "PATH": "/usr/bin:/bin",
        "GALE_ATTACH_ADDR": addr,
        "GALE_TOPOLOGY": "t",
        "GALE_COMPONENT": "c",
        "PYTHONFAULTHANDLER": "1",
    }
    return subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)


def _exit_status(p, timeout):
    """p's exit status once it ends within timeout; else fails with the
    stacks of its threads."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)
        try:
            _, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            err = "(no stacks: the child did not end on SIGABRT either)"
        pytest.fail(f"the child did not end within {timeout} s of the signal; its stderr:\n{err}")


def test_signal_before_the_welcome_ends_at_once():
    with FakeNode() as node:
        p = _signal_child(node.addr)
        try:
            r = node.recv(15.0)
            assert r is not None and r.frame is not None and r.frame.WhichOneof("frame") == "hello"
            p.send_signal(signal.SIGTERM)
            # A welcome right after the stop must not start the task.
            node.send(attach_pb2.AttachResponse(welcome=WELCOME))
            assert _exit_status(p, 1.5) == 0
            assert "prepared" not in p.stderr.read()
        finally:
            p.kill()


def test_signal_while_connecting_ends_at_once():
    # A listener that accepts and never answers: the runner waits in its
    # connect (for the HTTP/2 handshake) once it has connected here, with
    # its signal handlers installed.
    lis = socket.create_server(("127.0.0.1", 0))
    p = _signal_child(f"127.0.0.1:{lis.getsockname()[1]}")
    try:
        lis.settimeout(15.0)
        conn, _ = lis.accept()
        p.send_signal(signal.SIGINT)
        assert _exit_status(p, 1.5) == 130
        conn.close()
    finally:
        p.kill()
        lis.close()


def _welcome_opened(node, p):
    """Takes the child's hello, welcomes it, and waits for its open hook."""
    r = node.recv(15.0)
    assert r is not None and r.frame is not None and r.frame.WhichOneof("frame") == "hello"
    node.send(attach_pb2.AttachResponse(welcome=WELCOME))
    assert p.stderr.readline().strip() == "opened"


_SIGNAL_CHILD_SPOUT = """
import sys, gale
class S(gale.Spout):
    def open(self, context):
        print("opened", file=sys.stderr, flush=True)
    def next_tuple(self):
        pass
    def ack(self, message_id):
        print("acked", file=sys.stderr, flush=True)
    def deactivate(self):
        print("deactivated", file=sys.stderr, flush=True)
    def close(self):
        print("closed", file=sys.stderr, flush=True)
gale.run(S())
"""


@pytest.mark.parametrize("frame", [{"spout_acks": {"acked": [1]}}, {"deactivate": {}}])
def test_a_frame_right_after_the_signal_starts_no_hook(frame):
    # The frame arrives while the runner waits, right after the stop
    # request: its hook does not run (sdk/ATTACH.md, "Ending": no other hook
    # starts), and the process stops gracefully: it half-closes, and as this
    # node never ends the stream, it gives up after the grace (2 s), runs
    # close and exits 0.
    with FakeNode() as node:
        p = _signal_child(node.addr, _SIGNAL_CHILD_SPOUT)
        try:
            _welcome_opened(node, p)
            p.send_signal(signal.SIGTERM)
            node.send(json_frame(frame))
            assert _exit_status(p, 5) == 0
            err = p.stderr.read()
            assert "acked" not in err and "deactivated" not in err, err
            assert "closed" in err, err
            ends = []
            while (r := node.recv(1.0)) is not None:
                if r.frame is None:
                    ends.append(r.end_reason)
            assert ends[:1] == ["half-close"], ends
        finally:
            p.kill()


_THREAD_CHILD = """
import sys, threading, gale
class S(gale.Spout):
    def open(self, context):
        print("opened", file=sys.stderr, flush=True)
    def next_tuple(self):
        pass
    def close(self):
        print("closed", file=sys.stderr, flush=True)
codes = []
def body():
    try:
        gale.run(S())
    except SystemExit as e:
        codes.append(e.code)
t = threading.Thread(target=body, name="not-main")
t.start()
t.join()
print("run exited", codes, file=sys.stderr, flush=True)
sys.exit(codes[0] if codes else 3)
"""


def test_run_outside_the_main_thread():
    # Signal handlers can only be installed from the main thread: run in
    # another thread skips them (signals then keep their defaults) and
    # otherwise serves as usual, ending with SystemExit(0) in its thread
    # when the node ends the stream.
    with FakeNode() as node:
        p = _signal_child(node.addr, _THREAD_CHILD)
        try:
            _welcome_opened(node, p)
            node.close()
            assert _exit_status(p, 5) == 0
            err = p.stderr.read()
            assert "closed" in err and "run exited [0]" in err, err
            assert "Traceback" not in err, err
        finally:
            p.kill()


def test_a_node_error_during_a_graceful_stop_still_stops_gracefully():
    # After SIGTERM the process half-closes and waits for the node to end
    # the stream. A node that ends it with an error instead (it failed, or
    # it gave up on this task) ends the wait the same way: close runs once
    # and the exit status is the signal's (0 after SIGTERM), with no
    # traceback; the inputs the node still held replay on its side.
    with FakeNode() as node:
        p = _signal_child(node.addr, _SIGNAL_CHILD_SPOUT)
        try:
            _welcome_opened(node, p)
            p.send_signal(signal.SIGTERM)
            ends = []
            deadline = time.monotonic() + 5
            while not ends and time.monotonic() < deadline:
                r = node.recv(0.5)
                if r is not None and r.frame is None:
                    ends.append(r.end_reason)
            assert ends == ["half-close"], ends
            node.abort(grpc.StatusCode.INTERNAL, "the node failed while the task stopped")
            assert _exit_status(p, 5) == 0
            err = p.stderr.read()
            assert err.count("closed") == 1, err
            assert "Traceback" not in err, err
        finally:
            p.kill()
