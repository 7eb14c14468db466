"""The sessions example's Sessionize bolt in Python, on gale.window.

Same contract as the Go sessions.Sessionize (../README.md), so the output
file is byte-for-byte the Go topology's:

- session windows keyed by "visitor" on "ts", configured from
  ``sessions.gap_ms`` (default 30 min), ``sessions.out_of_orderness_ms``
  (default 10 s), ``sessions.allowed_lateness_ms`` (0) and
  ``sessions.timeout_check`` (off); acks on fire;
- each session is emitted as (visitor, start, end, events), anchored to
  its events; late events go to stream "late" and are counted;
- at end of input every task merges its sessions into the file at
  ``sessions.output`` as ``visitor<TAB>start<TAB>end<TAB>events`` lines
  sorted by visitor (bytes) then start, under the Go bolts' merge protocol
  (examples/internal/mergefile, implemented in mergefile.py), or logs the
  count when that key is unset.
"""

from __future__ import annotations

import os
import re
import sys
from typing import BinaryIO, Iterator, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gale  # noqa: E402
from gale import window  # noqa: E402

import mergefile  # noqa: E402

KEY_OUTPUT = "sessions.output"
KEY_GAP_MS = "sessions.gap_ms"
KEY_OUT_OF_ORDERNESS = "sessions.out_of_orderness_ms"
KEY_LATENESS = "sessions.allowed_lateness_ms"
KEY_TIMEOUT_CHECK = "sessions.timeout_check"
DEFAULT_GAP_MS = 30 * 60 * 1000
DEFAULT_OUT_OF_ORDERNESS = 10_000
CLASS = "Sessionize"

_INT64 = re.compile(rb"^[+-]?[0-9]+$")


class MergeError(Exception):
    """The output of the current run cannot be merged."""


def session_line(s: tuple[str, int, int, int]) -> bytes:
    return f"{s[0]}\t{s[1]}\t{s[2]}\t{s[3]}\n".encode()


def sort_key(s: tuple[str, int, int, int]) -> tuple[bytes, int]:
    return s[0].encode(), s[1]


class Sessionize(window.SessionBolt):
    """Sessions of visitors, written to sessions.output at end of input."""

    def __init__(self) -> None:
        cfg = window.SessionConfig(gap_ms=DEFAULT_GAP_MS, key_field="visitor", time_field="ts")
        super().__init__(cfg, self._session, on_prepare=self._configure, on_late=self._count_late, on_finish=self._write)
        self.sessions: list[tuple[str, int, int, int]] = []
        self.late = 0

    def _configure(self, context: gale.TaskContext, cfg: window.SessionConfig) -> None:
        conf = context.config
        self.output = conf.get_str(KEY_OUTPUT, "")

        def ms(key: str, default: int) -> int:
            try:
                v = conf.get_int(key, default)
            except gale.ConfigError as e:
                raise gale.ConfigError(f"{CLASS}: {e}") from None
            if v < 0:
                raise gale.ConfigError(f"{CLASS}: config {key}: must be >= 0 ms, got {v}")
            return v

        cfg.gap_ms = ms(KEY_GAP_MS, DEFAULT_GAP_MS)
        cfg.out_of_orderness_ms = ms(KEY_OUT_OF_ORDERNESS, DEFAULT_OUT_OF_ORDERNESS)
        cfg.allowed_lateness_ms = ms(KEY_LATENESS, 0)
        check = conf.get_str(KEY_TIMEOUT_CHECK, "off")
        if check not in ("error", "warn", "off"):
            raise gale.ConfigError(f"{CLASS}: config {KEY_TIMEOUT_CHECK}: want error, warn or off, got {check!r}")
        cfg.timeout_check = check

    def _session(self, w: window.Window, events: list, out: window.Output) -> None:
        self.sessions.append((w.key, w.start, w.end, len(events)))
        out.emit([w.key, w.start, w.end, len(events)])

    def _count_late(self, key: str, ts: int, tup: gale.Tuple) -> None:
        self.late += 1

    def _write(self) -> None:
        if self.late:
            self.log.warning(
                "late events are in no session late=%d hint=\"raise %s or %s\"", self.late, KEY_OUT_OF_ORDERNESS, KEY_LATENESS
            )
        self.sessions.sort(key=sort_key)
        if not self.output:
            self.log.info("sessions (no %s set, nothing written) sessions=%d", KEY_OUTPUT, len(self.sessions))
            return
        tasks = len(self.context.tasks) or 1
        try:
            merge_output(self.output, self.context.topology_id, tasks, self.sessions)
        except (OSError, mergefile.MergeStateError, MergeError) as e:
            raise RuntimeError(f"{CLASS}: task {self.context.task_id}: write sessions ({KEY_OUTPUT}): {e}") from None
        self.log.info("sessions merged output=%s sessions=%d", self.output, len(self.sessions))


def merge_output(path: str, topology_id: str, tasks: int, sessions: list[tuple[str, int, int, int]]) -> None:
    """Merges one task's sorted sessions into the output file under the lock."""
    mergefile.merge(path, topology_id, tasks, lambda prev, out: write_merged(out, prev, path, sessions))


def parse_lines(f: BinaryIO, name: str) -> Iterator[tuple[str, int, int, int]]:
    """The sessions of a sorted output file, checked."""
    last: Optional[tuple[bytes, int]] = None
    for n, raw in enumerate(f, 1):
        text = raw[:-1] if raw.endswith(b"\n") else raw
        parts = text.split(b"\t")
        if len(parts) != 4 or not parts[0]:
            raise MergeError(f"read {name} line {n}: {text.decode('utf-8', 'replace')!r} is not visitor<TAB>start<TAB>end<TAB>events: corrupt sessions output")
        for p in parts[1:]:
            if not _INT64.match(p) or not -(2**63) <= int(p) < 2**63:
                raise MergeError(f"read {name} line {n}: bad number {p.decode('utf-8', 'replace')!r}: corrupt sessions output")
        s = (parts[0].decode("utf-8", "surrogateescape"), int(parts[1]), int(parts[2]), int(parts[3]))
        k = (parts[0], s[1])
        if last is not None and last > k:
            raise MergeError(f"read {name} line {n}: not sorted by visitor, start: corrupt sessions output")
        last = k
        yield s


def write_merged(out: BinaryIO, prev: Optional[BinaryIO], name: str, mine: list[tuple[str, int, int, int]]) -> None:
    """Writes the merge of prev's sorted lines (first on ties) and mine."""
    it = parse_lines(prev, name) if prev is not None else iter(())
    cur = next(it, None)
    i = 0
    while cur is not None or i < len(mine):
        if cur is not None and (i == len(mine) or sort_key(cur) <= sort_key(mine[i])):
            out.write(session_line(cur))
            cur = next(it, None)
        else:
            out.write(session_line(mine[i]))
            i += 1


if __name__ == "__main__":
    gale.run(Sessionize())
