"""Session windows (gale.window): every shared case of
sdk/window/testdata/sessions, in both ack modes, with the acking contract
checked on the way, plus the bolt's configuration and failure handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gale import window
from gale.component import _Outbox
from gale.context import TICK_SOURCE, Config, Source, Stream, TaskContext, Tuple
from gale.errors import GaleError

CASES_DIR = Path(__file__).resolve().parents[3] / "sdk" / "window" / "testdata" / "sessions"
CASE_FILES = sorted(CASES_DIR.glob("*.json"))

EVENTS = Source("events", "default", ["key", "ts", "index"])
PUNCT = Source("events", "watermark", ["watermark"])
ITEM_KEYS = {"key", "ts", "tick", "watermark", "end_of_event_time", "end", "wall_ms"}


def load_case(path: Path) -> dict:
    c = json.loads(path.read_text())
    assert set(c) <= {"name", "description", "params", "input", "expected"}, path
    assert c["name"] == path.stem, f"{path}: name {c['name']!r} differs from the file name"
    assert set(c["params"]) == {"gap_ms", "out_of_orderness_ms", "allowed_lateness_ms", "idle_timeout_ms"}, path
    for i, it in enumerate(c["input"]):
        assert set(it) <= ITEM_KEYS, f"{path}: input {i}: unknown keys {set(it) - ITEM_KEYS}"
        if ("key" in it) != ("ts" in it):
            pytest.fail(f"{path}: input {i}: an event needs both key and ts")
        kinds = ("key" in it) + sum(bool(it.get(k)) for k in ("tick", "end_of_event_time", "end")) + ("watermark" in it)
        assert kinds == 1, f"{path}: input {i}: want exactly one of event, tick, watermark, end_of_event_time, end"
    return c


def context(conf: dict | None = None, outputs=("default", "late")) -> TaskContext:
    streams = {
        "default": Stream("default", ["key", "start", "end", "events"]),
        "late": Stream("late", ["key", "ts", "index"]),
    }
    return TaskContext(
        topology="test",
        topology_id="test-1",
        component="sessions",
        task_id=10,
        task_index=0,
        config=Config(conf or {}),
        component_tasks={"events": (1,), "sessions": (10,)},
        outputs={k: streams[k] for k in outputs},
    )


class Recording(window.SessionBolt):
    """A session bolt bound to a real outbox (so emits and anchors are
    checked as in a task) that records what it does, in order."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.order: list[tuple] = []
        self.errors: list[str] = []

    def start(self, ctx: TaskContext) -> None:
        self._bind(ctx, _Outbox(True), lambda frame: None)
        self._pending = set()
        self.prepare(ctx)

    def deliver(self, tup: Tuple) -> None:
        if tup.id:
            self._pending.add(tup.id)
        self.execute(tup)

    def emit(self, values, anchors=None, *, stream="default", direct_task=0):
        super().emit(values, anchors, stream=stream, direct_task=direct_task)
        if anchors is None:
            anchors = []
        elif isinstance(anchors, Tuple):
            anchors = [anchors]
        self.order.append(("emit", stream, list(values), list(anchors)))

    def ack(self, tup):
        super().ack(tup)
        self.order.append(("ack", tup))

    def fail(self, tup):
        super().fail(tup)
        self.order.append(("fail", tup))

    def report_error(self, error):
        self.errors.append(str(error))


def run_case(c: dict, mode: str):
    p = c["params"]
    cfg = window.SessionConfig(
        gap_ms=p["gap_ms"],
        key_field="key",
        time_field="ts",
        out_of_orderness_ms=p["out_of_orderness_ms"],
        allowed_lateness_ms=p["allowed_lateness_ms"],
        idle_timeout_ms=p["idle_timeout_ms"],
        ack=mode,
        timeout_check=window.CHECK_OFF,
    )
    sessions: list[dict] = []
    at = [0]

    def fn(w: window.Window, events, out: window.Output):
        assert w.kind == window.KIND_SESSION
        sessions.append({"key": w.key, "start": w.start, "end": w.end, "events": [e[2] for e in events], "fired_at": at[0]})
        out.emit([w.key, w.start, w.end, len(events)])

    clock = [0]
    b = Recording(cfg, fn, clock_ns=lambda: 1_000_000_000_000_000 + clock[0] * 1_000_000)
    b.start(context({"topology.tick.tuple.freq.secs": 1}))
    for i, it in enumerate(c["input"]):
        at[0] = i
        if "wall_ms" in it:
            clock[0] = it["wall_ms"]
        if "key" in it:
            b.deliver(Tuple([it["key"], it["ts"], i], EVENTS, 1, 1 + i))
        elif it.get("tick"):
            b.deliver(Tuple([], TICK_SOURCE, 0, 0))
        elif "watermark" in it:
            b.deliver(Tuple([it["watermark"]], PUNCT, 1, 1 + i))
        elif it.get("end_of_event_time"):
            b.deliver(Tuple([window.END_OF_EVENT_TIME], PUNCT, 1, 1 + i))
        elif it.get("end"):
            b.finish()
    late = [{"key": o[2][0], "ts": o[2][1], "index": o[2][2]} for o in b.order if o[0] == "emit" and o[1] == "late"]
    return sessions, late, b


def test_the_shared_cases_are_there():
    assert len(CASE_FILES) >= 8, f"want the shared cases in {CASES_DIR}"


@pytest.mark.parametrize("mode", [window.ACK_ON_FIRE, window.ACK_ON_RECEIPT])
@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_session_case(path: Path, mode: str):
    c = load_case(path)
    sessions, late, b = run_case(c, mode)
    assert sessions == c["expected"]["sessions"], c["description"]
    assert late == c["expected"]["late"], c["description"]
    check_settled(c, b, mode)
    st = b.stats()
    assert (st.open_windows, st.held_events) == (0, 0)
    assert st.fired == len(sessions) and st.late == len(late)
    assert not b._pending, "inputs left unacked"


def check_settled(c: dict, b: Recording, mode: str) -> None:
    """Every event acked exactly once and nothing failed; in ACK_ON_FIRE a
    result is anchored to exactly its session's events, none acked before
    it; in ACK_ON_RECEIPT results are unanchored."""
    acked: dict[int, int] = {}
    acked_before: set[int] = set()
    for o in b.order:
        assert o[0] != "fail", f"input {o[1]} failed"
        if o[0] == "ack" and o[1].source is EVENTS:
            acked[o[1].values[2]] = acked.get(o[1].values[2], 0) + 1
            acked_before.add(o[1].values[2])
        if o[0] == "emit" and o[1] == "default":
            if mode == window.ACK_ON_RECEIPT:
                assert o[3] == [], "result anchored in ack-on-receipt mode"
            else:
                assert len(o[3]) == o[2][3], f"result {o[2]} anchored to {len(o[3])} inputs"
                for a in o[3]:
                    assert a.values[2] not in acked_before, f"result {o[2]} anchored to event {a.values[2]}, acked before"
    for i, it in enumerate(c["input"]):
        if "key" in it:
            assert acked.get(i) == 1, f"event {i} acked {acked.get(i, 0)} times, want once"


# ---- the bolt beyond the cases ---------------------------------------------


def base_config(**kw) -> window.SessionConfig:
    kw.setdefault("timeout_check", window.CHECK_OFF)
    return window.SessionConfig(gap_ms=kw.pop("gap_ms", 10), key_field="key", time_field="ts", **kw)


def collect(results):
    return lambda w, events, out: results.append((w.key, w.start, w.end, [e["ts"] for e in events]))


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"gap_ms": -1}, "gap_ms: must be >= 0"),
        ({"gap_ms": 1.5}, "gap_ms: want integer milliseconds"),
        ({"allowed_lateness_ms": -3}, "allowed_lateness_ms"),
        ({"ack": "sometimes"}, "ack: unknown mode"),
        ({"timeout_check": "maybe"}, "timeout_check"),
        ({"punctuation_stream": ""}, "punctuation_stream"),
    ],
)
def test_config_errors_name_the_setting(kw, match):
    with pytest.raises(window.WindowConfigError, match=match):
        Recording(base_config(**kw), collect([])).start(context())


def test_time_field_is_required():
    cfg = window.SessionConfig(gap_ms=5, key_field="key")
    with pytest.raises(window.WindowConfigError, match="time_field: required"):
        Recording(cfg, collect([])).start(context())


@pytest.mark.parametrize(
    "key_field,time_field,sources,error",
    [
        ("key", "ts", {"events:default": ("key", "ts")}, None),
        ("key", "time", {"events:default": ("key", "ts", "x")}, "time_field: 'time' is not a field of input events/default \\(its fields: key, ts, x\\)"),
        ("user", "ts", {"events:default": ("key", "ts")}, "key_field: 'user' is not a field of input events/default"),
        ("key", "ts", {"events:default": ("key", "ts"), "events:watermark": ("wm",)}, None),  # the watermark stream is not checked
        ("user", "time", {}, None),  # fields not known
        ("key", "ts", {"events:default": ("key", "ts"), "clicks:default": ("ts",)}, "key_field: 'key' is not a field of input clicks/default"),
    ],
)
def test_a_field_the_input_lacks_is_refused_at_start(key_field, time_field, sources, error):
    from gale.context import Input

    ctx = context()
    ctx.inputs = [Input(*k.split(":"), "shuffle") for k in sources] or [Input("events", "default", "shuffle")]
    ctx.source_fields = dict(sources)
    # late_stream="": the late stream's width is checked below.
    cfg = window.SessionConfig(gap_ms=10, key_field=key_field, time_field=time_field, timeout_check=window.CHECK_OFF, late_stream="")
    if error is None:
        Recording(cfg, collect([])).start(ctx)
    else:
        with pytest.raises(window.WindowConfigError, match=error):
            Recording(cfg, collect([])).start(ctx)


@pytest.mark.parametrize(
    "sources,error",
    [
        ({"events:default": ("key", "ts", "index")}, None),
        ({"events:default": ("key", "ts")}, "late_stream: stream 'late' of component 'sessions' declares 3 fields \\(key, ts, index\\), "
         "but late events are emitted with the 2 values of input events/default \\(key, ts\\)"),
        ({"events:default": ("key", "ts", "index"), "events:watermark": ("wm",)}, None),  # the watermark stream is not checked
    ],
)
def test_a_late_stream_of_another_width_is_refused_at_start(sources, error):
    # Every late event would be refused on emit, fail, replay and be late
    # again: a run that never ends.
    from gale.context import Input

    ctx = context()
    ctx.inputs = [Input(*k.split(":"), "shuffle") for k in sources]
    ctx.source_fields = dict(sources)
    cfg = window.SessionConfig(gap_ms=10, key_field="key", time_field="ts", timeout_check=window.CHECK_OFF)
    if error is None:
        Recording(cfg, collect([])).start(ctx)
    else:
        with pytest.raises(window.WindowConfigError, match=error):
            Recording(cfg, collect([])).start(ctx)


def test_an_undeclared_late_stream_is_refused_unless_dropped():
    with pytest.raises(window.WindowConfigError, match="late_stream: stream 'late' is not declared"):
        Recording(base_config(), collect([])).start(context(outputs=("default",)))
    b = Recording(base_config(late_stream=""), collect([]))
    b.start(context(outputs=("default",)))
    b.deliver(Tuple(["a", 100, 0], EVENTS, 1, 1))
    b.deliver(Tuple(["a", 5, 1], EVENTS, 1, 2))  # late, dropped but acked
    assert b.stats().late == 1 and [o[0] for o in b.order] == ["ack"]


def test_late_events_are_warned_of_at_the_1st_10th_100th():
    import logging

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    ctx = context()
    b = Recording(base_config(late_stream=""), collect([]))
    logging.getLogger(f"gale.task.{ctx.component}.{ctx.task_id}").addHandler(Keep())
    b.start(ctx)
    b.deliver(Tuple(["a", 100, 0], EVENTS, 1, 1))  # watermark 100
    for i in range(150):
        b.deliver(Tuple(["a", 5, i + 1], EVENTS, 1, i + 2))
    assert b.stats().late == 150
    warned = [r for r in records if "late events so far" in r]
    assert [w.split(" late")[0] for w in warned] == ["window: 1", "window: 10", "window: 100"], warned
    assert "the last, at 5 (key 'a', from events/default), came after the watermark 100" in warned[0], warned[0]


def test_on_prepare_reads_the_task_config():
    def on_prepare(ctx, cfg):
        cfg.gap_ms = ctx.config.get_int("sessions.gap_ms", 0)

    res = []
    b = Recording(window.SessionConfig(gap_ms=0, key_field="key", time_field="ts", timeout_check=window.CHECK_OFF), collect(res), on_prepare=on_prepare)
    b.start(context({"sessions.gap_ms": 50}))
    for i, ts in enumerate([0, 50, 101]):
        b.deliver(Tuple(["k", ts, i], EVENTS, 1, i + 1))
    b.finish()
    assert res == [("k", 0, 50, [0, 50]), ("k", 101, 101, [101])]


@pytest.mark.parametrize(
    "conf,kw,outcome",
    [
        ({}, {}, "ok"),  # 30s default timeout > 10ms gap
        ({"topology.message.timeout.secs": 1}, {"gap_ms": 1000}, "error"),
        ({"topology.message.timeout.secs": "1s"}, {"gap_ms": 900, "out_of_orderness_ms": 100}, "error"),
        ({"topology.message.timeout.secs": "1m30s"}, {"gap_ms": 60_000}, "ok"),
        ({"topology.message.timeout.secs": 2, "topology.tick.tuple.freq.secs": 1}, {"gap_ms": 500, "idle_timeout_ms": 1000}, "error"),
        ({"topology.message.timeout.secs": 3, "topology.tick.tuple.freq.secs": 1}, {"gap_ms": 500, "idle_timeout_ms": 1000}, "ok"),
        ({"topology.message.timeout.secs": 1}, {"gap_ms": 1000, "ack": window.ACK_ON_RECEIPT}, "ok"),
        ({"topology.message.timeout.secs": 1, "topology.acker.executors": 0}, {"gap_ms": 1000}, "ok"),
        ({"topology.message.timeout.secs": 1}, {"gap_ms": 1000, "timeout_check": window.CHECK_WARN}, "warn"),
    ],
)
def test_the_message_timeout_must_cover_what_ack_on_fire_holds(conf, kw, outcome):
    kw.setdefault("timeout_check", window.CHECK_ERROR)
    b = Recording(base_config(**kw), collect([]))
    if outcome == "error":
        with pytest.raises(window.TimeoutTooShortError, match="topology.message.timeout.secs"):
            b.start(context(conf))
        return
    b.start(context(conf))
    assert bool(b.errors) == (outcome == "warn"), b.errors


def test_idle_timeout_needs_ticks():
    b = Recording(base_config(idle_timeout_ms=1000, timeout_check=window.CHECK_ERROR), collect([]))
    with pytest.raises(window.WindowConfigError, match="needs tick tuples"):
        b.start(context())


def test_invalid_inputs_are_acked_and_reported():
    other = Source("events", "default", ["key", "when"])
    b = Recording(base_config(), collect([]))
    b.start(context())
    b.deliver(Tuple(["a", 1], other, 1, 1))  # no ts field
    b.deliver(Tuple(["a", "soon", 2], EVENTS, 1, 2))  # ts not a number
    b.deliver(Tuple(["a", 1.5, 3], EVENTS, 1, 3))  # not integral
    b.deliver(Tuple(["a", True, 3], EVENTS, 1, 4))  # a bool is no time
    b.deliver(Tuple(["x"], PUNCT, 1, 5))  # punctuation not an int
    assert b.stats().invalid == 5 and b.stats().events == 0
    assert [o[0] for o in b.order] == ["ack"] * 5
    assert "no time field 'ts'" in b.errors[0] and "want integer milliseconds" in b.errors[1]
    assert "punctuation on stream 'watermark'" in b.errors[4]


def test_keys_are_the_go_text_of_the_value():
    res = []
    b = Recording(base_config(), collect(res))
    b.start(context())
    b.deliver(Tuple([7, 0, 0], EVENTS, 1, 1))
    b.deliver(Tuple([1e6, 2.0, 1], EVENTS, 1, 2))  # integral double time
    b.deliver(Tuple([b"\x00k", 3, 2], EVENTS, 1, 3))
    b.deliver(Tuple([None, 4, 3], EVENTS, 1, 4))
    b.finish()
    assert sorted(r[0] for r in res) == sorted(['"\\x00k"', "1e+06", "7", "null"])


def test_punctuation_is_the_least_of_all_source_tasks():
    res = []
    b = Recording(base_config(), collect(res))
    ctx = context()
    ctx.component_tasks["events"] = (1, 2)
    b.start(ctx)
    b.deliver(Tuple(["a", 0, 0], EVENTS, 1, 1))
    b.deliver(Tuple([100], PUNCT, 1, 2))
    assert res == [] and b.stats().watermark == 0  # task 2 not heard from
    b.deliver(Tuple([50], PUNCT, 2, 3))
    assert res == [("a", 0, 0, [0])] and b.stats().watermark == 50
    b.deliver(Tuple([window.END_OF_EVENT_TIME], PUNCT, 1, 4))
    assert b.stats().watermark == 50
    b.deliver(Tuple(["b", 60, 5], EVENTS, 1, 5))
    b.deliver(Tuple([window.END_OF_EVENT_TIME], PUNCT, 2, 6))
    assert res[-1] == ("b", 60, 60, [60]) and b.stats().watermark == window.END_OF_EVENT_TIME
    assert not b._pending


def test_a_failing_window_function_fails_its_events_once_in_ack_on_fire():
    def fn(w, events, out):
        if w.key == "bad":
            out.emit([w.key, w.start, w.end, len(events)])
            raise ValueError("boom")
        out.emit([w.key, w.start, w.end, len(events)])

    b = Recording(base_config(), fn)
    b.start(context())
    for i, (k, ts) in enumerate([("bad", 0), ("ok", 1), ("bad", 2)]):
        b.deliver(Tuple([k, ts, i], EVENTS, 1, i + 1))
    b.finish()
    kinds = [(o[0], o[1].values[2]) for o in b.order if o[0] in ("ack", "fail")]
    assert sorted(kinds) == [("ack", 1), ("fail", 0), ("fail", 2)]
    assert "exception in the window function for key 'bad' [0, 2] (2 events): ValueError: boom (at test_window.py:" in b.errors[0]
    assert not b._pending


def test_an_async_window_function_is_refused_not_lost():
    async def fn(w, events, out):  # its emits would come after the events were acked
        out.emit([w.key, w.start, w.end, len(events)])

    b = Recording(base_config(), fn)
    b.start(context())
    b.deliver(Tuple(["a", 0, 0], EVENTS, 1, 1))
    b.finish()
    assert "the window function is a coroutine (async def)" in b.errors[0], b.errors
    assert [(o[0], o[1].values[2]) for o in b.order if o[0] in ("ack", "fail")] == [("fail", 0)]


def test_a_failing_window_function_in_ack_on_receipt_loses_only_its_result():
    def fn(w, events, out):
        raise RuntimeError("nope")

    b = Recording(base_config(ack=window.ACK_ON_RECEIPT), fn)
    b.start(context())
    b.deliver(Tuple(["a", 0, 0], EVENTS, 1, 1))
    b.finish()
    assert [o[0] for o in b.order] == ["ack"] and len(b.errors) == 1


def test_without_ackers_inputs_are_acked_at_once():
    res = []
    b = Recording(base_config(), collect(res))
    b.start(context({"topology.acker.executors": 0}))
    b.deliver(Tuple(["a", 0, 0], EVENTS, 1, 1))
    assert [o[0] for o in b.order] == ["ack"]
    b.finish()
    assert res == [("a", 0, 0, [0])] and len(b.order) == 1  # no second ack


def test_finish_twice_is_an_error_and_hooks_run():
    calls = []
    b = Recording(base_config(), collect([]), on_finish=lambda: calls.append("finish"), on_cleanup=lambda: calls.append("cleanup"),
                  on_late=lambda k, ts, t: calls.append(("late", k, ts)))
    b.start(context())
    b.deliver(Tuple(["a", 100, 0], EVENTS, 1, 1))
    b.deliver(Tuple(["a", 50, 1], EVENTS, 1, 2))
    b.finish()
    with pytest.raises(RuntimeError, match="finish called twice"):
        b.finish()
    b.cleanup()
    assert calls == [("late", "a", 50), "finish", "cleanup"]


def test_many_events_stay_fast_and_ordered():
    # A long session grown by many events, interleaved keys: the lazy heap
    # compacts and the output order is (end, key, start).
    res = []
    b = Recording(base_config(gap_ms=5, ack=window.ACK_ON_RECEIPT), collect(res))
    b.start(context())
    n = 0
    for ts in range(0, 20000, 3):
        for k in ("b", "a"):
            n += 1
            b.deliver(Tuple([k, ts, n], EVENTS, 1, n))
    assert len(b._engine.heap) < 200
    b.deliver(Tuple([k, 40000, n + 1], EVENTS, 1, n + 1))
    assert [r[:3] for r in res] == [("a", 0, 19998), ("b", 0, 19998)]


def test_gale_error_base():
    assert issubclass(window.WindowConfigError, GaleError)


def test_no_watermark_input_and_no_idle_timeout_is_warned_of():
    import logging

    from gale.context import Input

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    for inputs, warned in [
        ([Input("events", "default", "fields", ("key",))], True),
        ([Input("events", "default", "fields", ("key",)), Input("events", "watermark", "all")], False),
    ]:
        records.clear()
        ctx = context()
        ctx.inputs = inputs
        b = Recording(base_config(), lambda w, evs, out: None)
        logging.getLogger(f"gale.task.{ctx.component}.{ctx.task_id}").addHandler(Keep())
        b.start(ctx)
        got = any("no input on stream 'watermark' and no idle_timeout_ms" in r for r in records)
        assert got == warned, (inputs, records)


def test_held_inputs_have_their_timeout_reset_while_the_session_lasts():
    # A session longer than the message timeout (30 s): its held inputs
    # get their timeout reset every 10 s, the first one included, so it
    # does not replay while the session is open; once fired and acked they
    # are no longer touched.
    res = []
    clock = [0]
    b = Recording(base_config(gap_ms=10_000), collect(res), clock_ns=lambda: clock[0] * 1_000_000)
    b.start(context({"topology.message.timeout.secs": 30}))
    resets: list[int] = []
    b.reset_timeout = lambda tup: (window.SessionBolt.reset_timeout(b, tup), resets.append(tup.values[2]))  # type: ignore[method-assign]
    for i, s in enumerate(range(0, 65, 5)):  # one event every 5 s for a minute
        clock[0] = s * 1000
        b.deliver(Tuple(["a", s * 1000, i], EVENTS, 1, i + 1))
    assert resets.count(0) == 6, resets  # at 10, 20, ... 60 s
    assert b.stats().touches == 6 and not res
    b.deliver(Tuple(["b", 200_000, 99], EVENTS, 1, 100))  # a's session fires
    assert len(res) == 1 and resets.count(0) == 6
    clock[0] = 70_000
    b.deliver(Tuple(["b", 201_000, 100], EVENTS, 1, 101))
    assert resets.count(0) == 6 and resets.count(99) == 1 and b.stats().touches == 7
