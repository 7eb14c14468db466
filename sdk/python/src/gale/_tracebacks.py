"""Tracebacks of a component's per-tuple hooks, printed without flooding.

A bolt whose execute raises on every tuple would print a traceback per
tuple: thousands of lines a second on the process's stderr (which the node
copies into its log) for one bug. The first traceback of each kind of
failure (exception type and the line that raised it) is printed in full;
later ones of the same kind are counted, and a one-line count is printed at
most every ``summary_every`` seconds, when one occurs. The node still
records every failure as a task error (``gale status`` counts them).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Callable, Optional, TextIO

#: Kinds of failure remembered; beyond them, failures of new kinds are
#: counted together instead of printed.
MAX_KINDS = 100


class Tracebacks:
    def __init__(
        self,
        who: str,
        summary_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        out: Optional[TextIO] = None,
    ):
        self.who = who
        self.summary_every = summary_every
        self.clock = clock
        self.out = out
        # kind -> [failures not printed since the last line, time of that line]
        self._kinds: dict[tuple[str, str], list] = {}

    def print(self, e: BaseException, what: str) -> None:
        """Prints e's traceback, under a line saying who and what failed,
        the first time its kind fails; later failures of the kind are
        counted."""
        out = self._out()
        kind = _kind(e)
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is None and len(self._kinds) < MAX_KINDS:
            self._kinds[kind] = [0, now]
            print(f"gale: {self.who}: {what}:", file=out)
            traceback.print_exception(e, file=out)
            out.flush()
            return
        if seen is None:
            kind = _OTHER
            seen = self._kinds.setdefault(kind, [0, now])
        seen[0] += 1
        if now - seen[1] >= self.summary_every:
            self._count(kind, seen, now)

    def flush(self) -> None:
        """Prints the counts not printed yet (when the task stops)."""
        now = self.clock()
        for kind, seen in self._kinds.items():
            if seen[0]:
                self._count(kind, seen, now)

    def _count(self, kind: tuple[str, str], seen: list, now: float) -> None:
        above = "" if kind == _OTHER else "the first traceback is above; "
        print(
            f"gale: {self.who}: {seen[0]} more {kind[0]} at {kind[1]} in {now - seen[1]:.0f}s"
            f" ({above}each failure is a task error in gale status)",
            file=self._out(),
            flush=True,
        )
        seen[0], seen[1] = 0, now

    def _out(self) -> TextIO:
        return self.out if self.out is not None else sys.stderr


#: Failures of kinds beyond MAX_KINDS, counted together.
_OTHER = ("other exceptions", "various places")


def _kind(e: BaseException) -> tuple[str, str]:
    f = user_frame(e)
    return type(e).__name__, f"{f.filename}:{f.lineno}" if f else "?"


#: The SDK's own folder: frames in it are not where a user's code failed.
_SDK_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_frame(e: BaseException) -> Optional[traceback.FrameSummary]:
    """The innermost frame of e's traceback outside the SDK: the line that
    raised it, or, for an error the SDK raised in a call (an emit on an
    undeclared stream, an ack of an input acked already), the user's line
    that made the call."""
    frames = traceback.extract_tb(e.__traceback__)
    for f in reversed(frames):
        if not os.path.abspath(f.filename).startswith(_SDK_DIR):
            return f
    return frames[-1] if frames else None


def where(e: BaseException) -> str:
    """" (at file.py:12)": the base name and line of user_frame(e), to end
    a message with; "" when e has no traceback."""
    f = user_frame(e)
    return f" (at {os.path.basename(f.filename)}:{f.lineno})" if f else ""
