"""Event-time session windows for Python bolts.

The same windows as the Go SDK's ``sdk/window`` (session kind), with the
same results on the same input: the shared cases in
``sdk/window/testdata/sessions/`` (their README states the exact
semantics) run against this module too.

    from gale import window

    def sessionize(w, events, out):
        out.emit([w.key, w.start, w.end, len(events)])

    cfg = window.SessionConfig(gap_ms=30_000, key_field="visitor", time_field="ts",
                               out_of_orderness_ms=2_000, idle_timeout_ms=10_000)
    gale.run(window.SessionBolt(cfg, sessionize))

**Sessions.** Two consecutive events of a key (in event-time order) are in
one session when the later is at most ``gap_ms`` after the earlier; an
event that bridges two sessions merges them. A session fires, once, when
the watermark passes ``end + gap + allowed_lateness`` (``end`` is the time
of its last event); sessions due at the same input fire ordered by end,
then key (byte order), then start. The window function gets the session's
events sorted by event time, equal times in arrival order.

**Watermark.** The largest event time seen minus ``out_of_orderness_ms``;
punctuated watermarks (one int field on the ``punctuation_stream``) raise
it to at least the least punctuation of all source tasks;
:data:`END_OF_EVENT_TIME` there fires everything. With ``idle_timeout_ms``
tick tuples (``topology.tick.tuple.freq.secs`` on the component) advance
it as if event time followed the wall clock once the input has been quiet
that long. At end of input (``finish``) every open session fires.

**Late events** (time before ``watermark - allowed_lateness``) join
nothing: they are emitted on ``late_stream`` with their values unchanged
(anchored to themselves), then acked.

**Delivery guarantee.** With :data:`ACK_ON_FIRE` (the default) the bolt
holds every input until the session containing it has fired, anchors the
window function's emits to all of the session's inputs, then acks them:
at-least-once results. If the task or its node fails, the held inputs time
out and the spout replays them, so the sessions are rebuilt (a result
emitted before the failure may be emitted again). A session's last input is
held for up to ``gap + out_of_orderness + allowed_lateness`` of event time
(or the idle timeout, if longer) plus a tick interval, so ``prepare`` checks
that ``topology.message.timeout.secs`` exceeds that (``timeout_check``). Its
first inputs are held for as long as the session lasts on top of that, which
only the traffic bounds, so every held input has its message timeout reset
(``reset_timeout``, Storm's resetTimeout) once a third of the timeout has
passed since the last reset, checked on every input and tick tuple
(``Stats.touches`` counts the rounds): a session stays open as long as its
events keep coming, without its first inputs replaying. A round costs an
acker operation per held input. With
:data:`ACK_ON_RECEIPT` inputs are acked as soon as they are buffered and
results are unanchored: at-most-once, no timeout constraint, and a failure
loses the task's open sessions. Without ackers
(``topology.acker.executors: 0``) inputs are acked at once in both modes.
"""

from __future__ import annotations

import heapq
import inspect
import re
import time
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from gale.component import Bolt
from gale.context import DEFAULT_STREAM, TICK_STREAM, Config, TaskContext, Tuple
from gale.errors import GaleError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

#: The punctuated watermark a finite source sends when its input is
#: exhausted: every session fires.
END_OF_EVENT_TIME = INT64_MAX

#: Ack modes (see the module documentation, "Delivery guarantee").
ACK_ON_FIRE = "ack-on-fire"
ACK_ON_RECEIPT = "ack-on-receipt"

#: What prepare does when the message timeout is too short for ACK_ON_FIRE.
CHECK_ERROR = "error"
CHECK_WARN = "warn"
CHECK_OFF = "off"

DEFAULT_PUNCTUATION_STREAM = "watermark"
DEFAULT_LATE_STREAM = "late"

KIND_SESSION = "session"

_KEY_ACKERS = "topology.acker.executors"
_KEY_TIMEOUT = "topology.message.timeout.secs"
_KEY_TICK_FREQ = "topology.tick.tuple.freq.secs"
_DEFAULT_TIMEOUT_NS = 30 * 1_000_000_000
_MS = 1_000_000  # ns


class WindowConfigError(GaleError, ValueError):
    """A window setting is invalid (the message names it)."""


class TimeoutTooShortError(WindowConfigError):
    """The message timeout is too short for ACK_ON_FIRE to hold inputs until their session fires."""


def _clamp(v: int) -> int:
    """Go's saturating int64 arithmetic: exact results clamped to int64."""
    if v > INT64_MAX:
        return INT64_MAX
    if v < INT64_MIN:
        return INT64_MIN
    return v


@dataclass(frozen=True)
class Window:
    """A window as the window function sees it: for sessions, ``start`` and
    ``end`` are the times of the first and last event (both inclusive), in
    event-time ms; ``key`` is the text of the key field."""

    kind: str
    key: str
    start: int
    end: int


@dataclass
class SessionConfig:
    """Configures a :class:`SessionBolt`; times are integer milliseconds.

    - ``gap_ms``: two consecutive events of a key are in one session when
      the later is at most this after the earlier (>= 0).
    - ``key_field``: the input field that keys sessions (its value's text;
      ints in decimal, like Go's ``Value.String``). "" puts every event of
      the task under key "". Use fields grouping on it.
    - ``time_field``: the input field with the event time (an int, or a
      float with an integral value). Required.
    - ``out_of_orderness_ms``, ``allowed_lateness_ms``, ``idle_timeout_ms``
      (0: ticks do not advance the watermark).
    - ``ack``: :data:`ACK_ON_FIRE` (default) or :data:`ACK_ON_RECEIPT`.
    - ``timeout_check``: :data:`CHECK_ERROR` (default), :data:`CHECK_WARN`
      or :data:`CHECK_OFF`.
    - ``late_stream``: where late events go, "" to drop them (still counted
      and acked). Default "late"; the topology must declare it with the
      input's fields.
    - ``punctuation_stream``: the input stream of punctuated watermarks
      (one int field). Default "watermark".
    """

    gap_ms: int
    key_field: str = ""
    time_field: str = ""
    out_of_orderness_ms: int = 0
    allowed_lateness_ms: int = 0
    idle_timeout_ms: int = 0
    ack: str = ACK_ON_FIRE
    timeout_check: str = CHECK_ERROR
    late_stream: str = DEFAULT_LATE_STREAM
    punctuation_stream: str = DEFAULT_PUNCTUATION_STREAM

    def validate(self) -> None:
        """Raises :class:`WindowConfigError` for the first invalid setting."""
        for name in ("gap_ms", "out_of_orderness_ms", "allowed_lateness_ms", "idle_timeout_ms"):
            v = getattr(self, name)
            if type(v) is not int:
                raise WindowConfigError(f"window config: {name}: want integer milliseconds, got {type(v).__name__} {v!r}")
            if v < 0 or v > INT64_MAX:
                raise WindowConfigError(f"window config: {name}: must be >= 0, got {v}")
        if not self.time_field:
            raise WindowConfigError("window config: time_field: required for session windows: the input field with the event time in ms")
        if self.ack not in (ACK_ON_FIRE, ACK_ON_RECEIPT):
            raise WindowConfigError(f"window config: ack: unknown mode {self.ack!r} (want {ACK_ON_FIRE!r} or {ACK_ON_RECEIPT!r})")
        if self.timeout_check not in (CHECK_ERROR, CHECK_WARN, CHECK_OFF):
            raise WindowConfigError(f"window config: timeout_check: unknown check {self.timeout_check!r}")
        if not self.punctuation_stream:
            raise WindowConfigError(f"window config: punctuation_stream: must not be empty (default {DEFAULT_PUNCTUATION_STREAM!r})")
        if self.late_stream == self.punctuation_stream:
            raise WindowConfigError(f"window config: late_stream: {self.late_stream!r} is also the punctuation stream")

    def hold_bound_ms(self) -> int:
        """The longest event-time span ACK_ON_FIRE may hold the last event
        of a session before the watermark passes its deadline."""
        return max(self.gap_ms + self.out_of_orderness_ms + self.allowed_lateness_ms, self.idle_timeout_ms)


@dataclass
class Stats:
    """A task's counters, for tests and tools."""

    events: int = 0
    late: int = 0
    invalid: int = 0
    fired: int = 0
    touches: int = 0  # rounds in which held inputs had their timeout reset
    open_windows: int = 0
    held_events: int = 0
    watermark: int = INT64_MIN


class Output:
    """What a window function emits through: anchored to every event of the
    session in ACK_ON_FIRE mode, unanchored in ACK_ON_RECEIPT mode."""

    __slots__ = ("_bolt", "_anchors")

    def __init__(self, bolt: "SessionBolt"):
        self._bolt = bolt
        self._anchors: Optional[list] = None

    def emit(self, values: Sequence[Any], *, stream: str = DEFAULT_STREAM) -> None:
        """Emits on stream (declared in the topology)."""
        self._bolt.emit(values, self._anchors, stream=stream)

    def report_error(self, error: BaseException | str) -> None:
        """Records an error in the task's status."""
        self._bolt.report_error(error)


#: A window function: called once per session that fires, with the events
#: sorted by event time (ties in arrival order). It must not ack or fail
#: them (the bolt does); it emits through out.
WindowFunc = Callable[[Window, "list[Tuple]", Output], None]


# ---- the session engine ----------------------------------------------------


class _Session:
    __slots__ = ("key", "start", "end", "events", "alive")

    def __init__(self, key: str, ev: tuple):
        self.key = key
        self.start = self.end = ev[0]
        self.events = [ev]
        self.alive = True


class _SessionEngine:
    """Each key's open sessions, sorted by start (disjoint, more than gap
    apart, so sorted by end too), and a heap of (end, key, start) with lazy
    deletion: an entry is current while its session is alive with the same
    bounds (bounds only widen, so a stale entry never becomes current)."""

    def __init__(self, gap: int, lateness: int, fire: Callable, release: Callable):
        self.gap = gap
        self.lateness = lateness
        self.keys: dict[str, list[_Session]] = {}
        self.heap: list = []
        self.stale = 0
        self.live = 0
        self.events = 0
        self.serial = 0
        self._win_fire = fire
        self._win_release = release

    def _push(self, s: _Session) -> None:
        self.serial += 1
        heapq.heappush(self.heap, (s.end, s.key, s.start, self.serial, s))

    def add(self, key: str, ev: tuple) -> None:
        """Buffers ev = (ts, seq, tuple): an event at t joins a session
        [start, end] when start - gap <= t <= end + gap, merging every
        session it joins."""
        ts = ev[0]
        gap = self.gap
        lst = self.keys.get(key)
        if lst is None:
            lst = self.keys[key] = []
        i = bisect_left(lst, ts, key=lambda s: s.end + gap)
        j = i
        n = len(lst)
        while j < n and lst[j].start - gap <= ts:
            j += 1
        self.events += 1
        if i == j:
            s = _Session(key, ev)
            lst.insert(i, s)
            self.live += 1
            self._push(s)
            return
        s = lst[i]
        start, end = s.start, s.end
        for o in lst[i + 1 : j]:
            s.events.extend(o.events)
            o.alive = False
            o.events = []
            s.start, s.end = min(s.start, o.start), max(s.end, o.end)
            self.live -= 1
            self.stale += 1
        s.events.append(ev)
        s.start, s.end = min(s.start, ts), max(s.end, ts)
        del lst[i + 1 : j]
        if s.start != start or s.end != end:
            self.stale += 1
            self._push(s)
        if self.stale > 64 and self.stale > 2 * self.live:
            self._compact()

    def _compact(self) -> None:
        self.heap = [e for e in self.heap if self._current(e)]
        heapq.heapify(self.heap)
        self.stale = 0

    @staticmethod
    def _current(e: tuple) -> bool:
        s = e[4]
        return s.alive and s.end == e[0] and s.start == e[2]

    def fire_due(self, wm: int) -> None:
        """Fires, in (end, key, start) order, every session whose deadline
        end + gap + lateness is before wm."""
        heap = self.heap
        span = self.gap + self.lateness
        while heap:
            e = heap[0]
            if not self._current(e):
                heapq.heappop(heap)
                self.stale -= 1
                continue
            if e[0] + span >= wm:
                return
            heapq.heappop(heap)
            self._fire_one(e[4])

    def flush(self) -> None:
        heap = self.heap
        while heap:
            e = heapq.heappop(heap)
            if not self._current(e):
                self.stale -= 1
                continue
            self._fire_one(e[4])

    def _fire_one(self, s: _Session) -> None:
        # A key's sessions fire in order of end, which is their order in
        # the list: the one firing is first.
        lst = self.keys[s.key]
        if len(lst) == 1:
            del self.keys[s.key]
        else:
            del lst[0]
        s.alive = False
        self.live -= 1
        evs = s.events
        s.events = []
        self.events -= len(evs)
        evs.sort(key=lambda e: (e[0], e[1]))
        self._win_fire(Window(KIND_SESSION, s.key, s.start, s.end), evs)
        self._win_release(evs)

    def open(self) -> tuple[int, int]:
        return self.live, self.events


# ---- the bolt --------------------------------------------------------------


class SessionBolt(Bolt):
    """A bolt that buffers its inputs in event-time session windows and
    calls ``fn(window, events, out)`` for every session that fires.

    One instance per task (make it in the script that ``gale.run`` runs).
    Hooks, all optional: ``on_prepare(context, config)`` runs in
    ``prepare`` before the config is validated and may change it (read the
    task's config into it); ``on_finish()`` runs at end of input after every
    session fired; ``on_cleanup()`` in ``cleanup``; ``on_late(key, ts, tup)``
    for every late event before it is emitted on the late stream.
    ``clock_ns`` is the wall clock for the idle advance (monotonic ns;
    tests replace it).
    """

    def __init__(
        self,
        config: SessionConfig,
        fn: WindowFunc,
        *,
        on_prepare: Optional[Callable[[TaskContext, SessionConfig], None]] = None,
        on_finish: Optional[Callable[[], None]] = None,
        on_cleanup: Optional[Callable[[], None]] = None,
        on_late: Optional[Callable[[str, int, Tuple], None]] = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ):
        self.window_config = config
        self._fn = fn
        self._on_prepare = on_prepare
        self._on_finish = on_finish
        self._on_cleanup = on_cleanup
        self._on_late = on_late
        self._clock_ns = clock_ns
        self._engine: Optional[_SessionEngine] = None
        self._finished = False
        self._stats = Stats()

    # -- hooks ---------------------------------------------------------------

    def _check_input_fields(self, context: TaskContext) -> None:
        """Refuse at start a key or time field that an input stream (other
        than the watermark stream) does not declare: every event of it would
        be skipped as invalid, one at a time, and the run would produce
        nothing."""
        cfg = self.window_config
        for inp in context.inputs:
            if inp.stream in (cfg.punctuation_stream, TICK_STREAM):
                continue
            fields = context.source_fields.get(f"{inp.component}:{inp.stream}")
            if fields is None:
                continue
            for setting, name in (("key_field", cfg.key_field), ("time_field", cfg.time_field)):
                if name and name not in fields:
                    raise WindowConfigError(
                        f"window config: {setting}: {name!r} is not a field of input {inp.component}/{inp.stream} "
                        f"(its fields: {', '.join(fields)})"
                    )
            # Late events go out with their values unchanged: a late stream
            # of another width would refuse every one of them, failing it,
            # and its replay is late again (a loop, not a run that ends).
            late = context.outputs.get(cfg.late_stream) if cfg.late_stream else None
            if late is not None and len(late.fields) != len(fields):
                raise WindowConfigError(
                    f"window config: late_stream: stream {cfg.late_stream!r} of component '{context.component}' declares "
                    f"{len(late.fields)} fields ({', '.join(late.fields)}), but late events are emitted with the "
                    f"{len(fields)} values of input {inp.component}/{inp.stream} ({', '.join(fields)}): declare it with the input's fields"
                )

    def prepare(self, context: TaskContext) -> None:
        if self._fn is None:
            raise WindowConfigError("window config: no window function")
        cfg = self.window_config
        if self._on_prepare is not None:
            self._on_prepare(context, cfg)
        cfg.validate()
        conf = context.config
        ackers = conf.get_int(_KEY_ACKERS, 1)
        self._hold = cfg.ack == ACK_ON_FIRE and ackers > 0
        if cfg.late_stream and cfg.late_stream not in context.outputs:
            raise WindowConfigError(
                f"window config: late_stream: stream {cfg.late_stream!r} is not declared by component "
                f"'{context.component}': declare it in the topology with the input's fields, "
                "or set late_stream to \"\" to drop late events"
            )
        self._check_input_fields(context)
        if (
            self._hold
            and cfg.idle_timeout_ms == 0
            and context.inputs
            and not any(i.stream == cfg.punctuation_stream for i in context.inputs)
        ):
            self.log.warning(
                f"window: no input on stream {cfg.punctuation_stream!r} and no idle_timeout_ms: the sessions still open "
                "when a finite input ends never fire, their events are never acked, and the run does not end; "
                f"subscribe to the spout's {cfg.punctuation_stream!r} stream (all grouping) or set idle_timeout_ms"
            )
        self._win_check_timeout(conf)
        self._touch_ns = _duration_ns(conf, _KEY_TIMEOUT, _DEFAULT_TIMEOUT_NS) // 3 if self._hold else 0
        self._last_touch_ns = self._clock_ns()
        self._engine = _SessionEngine(cfg.gap_ms, cfg.allowed_lateness_ms, self._win_fire, self._win_release)
        self._lateness = cfg.allowed_lateness_ms
        self._ooo = cfg.out_of_orderness_ms
        self._idle_ns = cfg.idle_timeout_ms * _MS
        self._punct_stream = cfg.punctuation_stream
        self._ix: dict = {}
        self._max_ts = 0
        self._have_ts = False
        self._wm = INT64_MIN
        self._last_event_ns = 0
        self._punct: dict[str, dict[int, int]] = {}
        self._seq = 0
        self._failed: set = set()
        self._output = Output(self)
        self._stats = Stats()

    def _win_check_timeout(self, conf: Config) -> None:
        cfg = self.window_config
        if not self._hold or cfg.timeout_check == CHECK_OFF:
            return
        timeout = _duration_ns(conf, _KEY_TIMEOUT, _DEFAULT_TIMEOUT_NS)
        tick = _duration_ns(conf, _KEY_TICK_FREQ, 0)
        if cfg.idle_timeout_ms > 0 and tick <= 0:
            raise WindowConfigError(
                f"window config: idle_timeout_ms: {cfg.idle_timeout_ms}ms needs tick tuples: set {_KEY_TICK_FREQ} on the component"
            )
        bound = cfg.hold_bound_ms() * _MS
        need = bound + tick
        if cfg.idle_timeout_ms == 0:
            self.log.info(
                "window: no idle_timeout_ms: on a quiet input, open sessions and their unacked inputs wait for the next event "
                f"(message timeout {timeout / 1e9:g}s)"
            )
        if timeout > need:
            return
        msg = (
            f"message timeout too short for the window: {_KEY_TIMEOUT}={timeout / 1e9:g}s must exceed what {ACK_ON_FIRE} "
            f"holds an input: {need / 1e9:g}s (span {bound / 1e9:g}s + tick {tick / 1e9:g}s); "
            f"raise the timeout, shorten the window, use {ACK_ON_RECEIPT}, or (replaying a file, where event time "
            f"runs far ahead of the wall clock) set timeout_check={CHECK_OFF!r}"
        )
        if cfg.timeout_check == CHECK_ERROR:
            raise TimeoutTooShortError(msg)
        self.log.warning("window: " + msg)
        self.report_error("window: " + msg)

    def execute(self, tup: Tuple) -> None:
        if tup.is_tick:
            self._win_tick()
        elif tup.source.stream == self._punct_stream:
            self._win_punctuate(tup)
        else:
            self._win_event(tup)
        if self._touch_ns > 0:
            self._win_touch()

    def _win_touch(self) -> None:
        """Resets the message timeout of every held input once a third of it
        has passed since the last time, so that the first inputs of a session
        longer than the timeout do not replay while it is open. On an input
        quiet for longer than the timeout only tick tuples keep them alive."""
        now = self._clock_ns()
        if now - self._last_touch_ns < self._touch_ns:
            return
        self._last_touch_ns = now
        self._stats.touches += 1
        for sessions in self._engine.keys.values():
            for s in sessions:
                for ev in s.events:
                    self.reset_timeout(ev[2])

    def finish(self) -> None:
        """Fires every open session (the end of input is the end of event
        time), then runs on_finish."""
        if self._finished:
            raise RuntimeError("window: finish called twice")
        self._finished = True
        if self._engine is not None:
            self._wm = END_OF_EVENT_TIME
            self._engine.flush()
        if self._on_finish is not None:
            self._on_finish()

    def cleanup(self) -> None:
        if self._on_cleanup is not None:
            self._on_cleanup()

    def stats(self) -> Stats:
        """The task's counters and what is buffered now."""
        s = Stats(**vars(self._stats))
        if self._engine is not None:
            s.open_windows, s.held_events = self._engine.open()
            s.watermark = self._wm
        return s

    # -- inputs --------------------------------------------------------------

    def _win_fields(self, src: Any) -> tuple:
        ix = self._ix.get(src)
        if ix is None:
            cfg = self.window_config
            k = src.index.get(cfg.key_field, -1) if cfg.key_field else -1
            ix = self._ix[src] = (k, src.index.get(cfg.time_field, -1))
        return ix

    def _win_invalid(self, tup: Tuple, reason: str) -> None:
        """Acks an input that cannot be windowed; reports the first ten and
        then every thousandth."""
        self._stats.invalid += 1
        n = self._stats.invalid
        if n <= 10 or n % 1000 == 0:
            self.report_error(f"window: skipping input {n} from {tup.component}/{tup.stream}: not a windowable event: {reason}")
        self.ack(tup)

    def _win_event(self, tup: Tuple) -> None:
        cfg = self.window_config
        ki, ti = self._win_fields(tup.source)
        values = tup.values
        key = ""
        if cfg.key_field:
            if ki < 0 or ki >= len(values):
                self._win_invalid(tup, f"no key field {cfg.key_field!r} (fields {list(tup.fields)})")
                return
            key = key_text(values[ki])
        if ti < 0 or ti >= len(values):
            self._win_invalid(tup, f"no time field {cfg.time_field!r} (fields {list(tup.fields)})")
            return
        v = values[ti]
        t = type(v)
        if t is int:
            ts = v
        elif t is float and v == v and v.is_integer() and abs(v) < 1 << 62:
            ts = int(v)
        else:
            self._win_invalid(tup, f"time field {cfg.time_field!r} is {_kind(v)} {key_text(v)!r}, want integer milliseconds")
            return
        self._stats.events += 1
        self._last_event_ns = self._clock_ns()
        if ts < _clamp(self._wm - self._lateness):
            self._win_late(key, ts, tup)
            return
        if not self._hold:
            self.ack(tup)
        self._seq += 1
        self._engine.add(key, (ts, self._seq, tup))
        if not self._have_ts or ts > self._max_ts:
            self._max_ts, self._have_ts = ts, True
        self._win_advance(_clamp(self._max_ts - self._ooo))

    def _win_late(self, key: str, ts: int, tup: Tuple) -> None:
        self._stats.late += 1
        n = self._stats.late
        if str(n).rstrip("0") == "1":
            # Late events leave silently otherwise (the late stream is
            # dropped unless subscribed): say so at the 1st, 10th, 100th...
            lateness = self.window_config.allowed_lateness_ms
            self.log.warning(
                f"window: {n} late events so far; the last, at {ts} (key {key!r}, from {tup.component}/{tup.stream}), "
                f"came after the watermark {self._wm}{f' less its allowed lateness {lateness} ms' if lateness else ''}: "
                "late events go to the late stream or are dropped; they come from a watermark punctuation that reached "
                "this bolt before events still on their way (through another bolt: send the watermark stream along the "
                "events' path), from inputs more out of order than out_of_orderness_ms, or from replays of inputs whose "
                "trees timed out while a session held them (an input quiet for longer than the message timeout without tick tuples), "
                "or from replays and resends after a failure (a node died: the events in flight replay to this task's new copy "
                "after newer events moved its watermark on; a client sent a batch again)"
            )
        if self._on_late is not None:
            self._on_late(key, ts, tup)
        if self.window_config.late_stream:
            self.emit(list(tup.values), tup, stream=self.window_config.late_stream)
        self.ack(tup)

    def _win_advance(self, wm: int) -> None:
        """Raises the watermark (it never goes back) and fires what became due."""
        if wm > self._wm:
            self._wm = wm
            self._engine.fire_due(wm)

    def _win_tick(self) -> None:
        if self._idle_ns <= 0 or not self._have_ts:
            return
        quiet = self._clock_ns() - self._last_event_ns
        if quiet < self._idle_ns:
            return
        base = _clamp(self._max_ts - self._ooo)
        self._win_advance(_clamp(base + quiet // _MS))

    def _win_punctuate(self, tup: Tuple) -> None:
        """Records a source task's watermark. The punctuated watermark is the
        least over every task of every component that sent one (tasks not
        heard from yet count as minus infinity)."""
        v = tup.values[0] if tup.values else None
        if type(v) is not int:
            self._win_invalid(
                tup, f"punctuation on stream {tup.stream!r}: field 0 is {_kind(v)} {key_text(v)!r}, want integer milliseconds"
            )
            return
        m = self._punct.setdefault(tup.component, {})
        old = m.get(tup.source_task)
        if old is None or v > old:
            m[tup.source_task] = v
        least = INT64_MAX
        tasks = self.context.component_tasks
        for comp, seen in self._punct.items():
            if len(seen) < len(tasks.get(comp, ())):
                least = INT64_MIN
                break
            least = min(least, min(seen.values()))
        if least == END_OF_EVENT_TIME:
            self._wm = END_OF_EVENT_TIME
            self._engine.flush()
        else:
            self._win_advance(least)
        self.ack(tup)

    # -- firing --------------------------------------------------------------

    def _win_fire(self, w: Window, evs: list) -> None:
        self._stats.fired += 1
        tuples = [e[2] for e in evs]
        out = self._output
        out._anchors = tuples if self._hold else None
        try:
            r = self._fn(w, tuples, out)
            if inspect.iscoroutine(r):
                r.close()  # never run: its emits would come after the events were acked
                raise WindowConfigError(
                    "the window function is a coroutine (async def): it must emit before it returns; make it a plain function"
                )
        except Exception as e:  # noqa: BLE001: reported, like Go's recover
            from gale._tracebacks import where

            self.report_error(
                f"window: exception in the window function for key {w.key!r} [{w.start}, {w.end}] "
                f"({len(tuples)} event{'' if len(tuples) == 1 else 's'}): {type(e).__name__}: {e}{where(e)}"
            )
            if self._hold:
                # The events replay from their spouts. A bug that fails
                # them every time fails them again, and once the watermark
                # has passed their session they come back as late events.
                for t in tuples:
                    if t not in self._failed:
                        self._failed.add(t)
                        self.fail(t)
        finally:
            out._anchors = None

    def _win_release(self, evs: list) -> None:
        """Acks the events of a session that fired (ACK_ON_FIRE)."""
        if not self._hold:
            return
        failed = self._failed
        for e in evs:
            t = e[2]
            if failed and t in failed:
                failed.discard(t)
                continue
            self.ack(t)


# ---- helpers ---------------------------------------------------------------


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "bool", int: "int", float: "double", str: "string", bytes: "bytes"}.get(type(v), type(v).__name__)


def key_text(v: Any) -> str:
    """The text of a value as Go's ``Value.String`` gives it: strings as
    they are, ints in decimal, doubles in Go's %g-shortest form, bools
    true/false, bytes Go-quoted, None "null". Session keys use it, so a
    non-string key field keys the same sessions in every SDK."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_double(v)
    if t is bytes or t is bytearray:
        return go_quote(bytes(v))
    if v is None:
        return "null"
    return str(v)


def format_double(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)  # shortest round-trip digits
    neg = r.startswith("-")
    if neg:
        r = r[1:]
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    e10 = int(exp) if exp else 0
    digits = (ip + fp).lstrip("0")
    if not digits:  # zero
        return "-0" if neg else "0"
    # Decimal point position (Go's digs.dp): value = 0.digits * 10^dp.
    lead = len(ip + fp) - len((ip + fp).lstrip("0"))
    dp = len(ip) + e10 - lead
    digits = digits.rstrip("0")
    nd = len(digits)
    x = dp - 1
    # Go's rule for the shortest %g: the exponent form when the exponent is
    # below -4 or at least 6 (eprec = 6 when shortest), with all digits.
    if x < -4 or x >= 6:
        s = digits[0] + ("." + digits[1:] if nd > 1 else "")
        s += "e" + ("-" if x < 0 else "+") + f"{abs(x):02d}"
    elif dp <= 0:
        s = "0." + "0" * (-dp) + digits
    elif dp >= nd:
        s = digits + "0" * (dp - nd)
    else:
        s = digits[:dp] + "." + digits[dp:]
    return "-" + s if neg else s


_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 0x5C: "\\\\", 0x22: '\\"'}


def go_quote(b: bytes) -> str:
    """strconv.Quote of b as a Go string: printable runes as they are,
    invalid UTF-8 bytes as \\xNN."""
    out = ['"']
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            if c in _ESCAPES:
                out.append(_ESCAPES[c])
            elif c < 0x20 or c == 0x7F:
                out.append(f"\\x{c:02x}")
            else:
                out.append(chr(c))
            continue
        size = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 0
        r = None
        if size and i + size <= n:
            try:
                r = b[i : i + size].decode("utf-8")
            except UnicodeDecodeError:
                r = None
        if r is None:
            out.append(f"\\x{c:02x}")
            i += 1
            continue
        i += size
        cp = ord(r)
        if _is_print(r):
            out.append(r)
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def _is_print(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols
    # and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


_DUR_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DUR_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def _duration_ns(conf: Config, key: str, default: int) -> int:
    """Go's sdk.Config.Duration with unit seconds: a number of seconds, or a
    duration string such as "30s" or "1m30s"."""
    v = conf.get(key)
    if v is None:
        return default
    if type(v) in (int, float):
        return int(v * 1_000_000_000)
    if type(v) is str:
        s = v.strip()
        sign = 1
        body = s
        if body[:1] in "+-" and body:
            sign = -1 if body[0] == "-" else 1
            body = body[1:]
        if body == "0":
            return 0
        pos = 0
        total = 0.0
        ok = bool(body)
        while pos < len(body):
            m = _DUR_PART.match(body, pos)
            if not m:
                ok = False
                break
            total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
            pos = m.end()
        if ok:
            return sign * int(total)
        try:
            return int(float(s) * 1_000_000_000)
        except ValueError:
            pass
    raise WindowConfigError(f"config {key}: want a duration such as 30s, got {_kind(v)} {key_text(v)!r}")


__all__ = [
    "ACK_ON_FIRE",
    "ACK_ON_RECEIPT",
    "CHECK_ERROR",
    "CHECK_OFF",
    "CHECK_WARN",
    "DEFAULT_LATE_STREAM",
    "DEFAULT_PUNCTUATION_STREAM",
    "END_OF_EVENT_TIME",
    "KIND_SESSION",
    "Output",
    "SessionBolt",
    "SessionConfig",
    "Stats",
    "TimeoutTooShortError",
    "Window",
    "WindowConfigError",
    "WindowFunc",
    "key_text",
]
