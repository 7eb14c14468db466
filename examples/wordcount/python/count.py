"""Word count's count bolt in Python: counts words, writes totals at the end.

Same contract as the Go wordcount.WordCount (../README.md), so a topology
may mix Go and Python count tasks and the output is byte-for-byte the one
the Go bolts write:

- counts field 0 ("word"); ticks are acked and ignored; a value that
  cannot be an output line (not a string, empty, or containing a tab or a
  newline) is acked, not counted, and reported once;
- when the input ends (the finish hook) it merges its totals into the file
  at config ``wordcount.output`` as ``word<TAB>count`` lines sorted by the
  bytes of the word, or logs its top 10 words when that key is unset.

The count tasks hold disjoint words (fields grouping) and all write the
same file, so finish merges under the Go bolts' protocol (merge.go): an
exclusive flock on ``OUT.lock``; a sidecar ``OUT.gale-merge`` holding the
topology run id and how many tasks merged so far (another run's sidecar
means the old output is stale); a streaming merge of the sorted output and
this task's sorted totals into a temp file that is fsynced and renamed over
the output; the last task removes the sidecar and the lock file.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from typing import BinaryIO, Iterator, Optional

import gale

KEY_OUTPUT = "wordcount.output"
LOCK_SUFFIX = ".lock"
SIDECAR_SUFFIX = ".gale-merge"
TOP_LOGGED = 10

_INT64 = re.compile(rb"^[+-]?[0-9]+$")


class MergeError(Exception):
    """The output or merge state of the current run cannot be merged."""


class WordCount(gale.Bolt):
    """Counts "word" tuples and writes the totals when the input ends."""

    def prepare(self, context: gale.TaskContext) -> None:
        self.output = self.config.get_str(KEY_OUTPUT, "")
        # Every count task writes the output; the one that merges last
        # (merged == tasks) cleans up, so each must know how many there are.
        self.tasks = len(context.tasks) or 1
        self.counts: dict[str, int] = {}
        self.rejected = 0
        self.done = False

    def execute(self, tup: gale.Tuple) -> None:
        if tup.is_tick:
            self.ack(tup)
            return
        w = tup.values[0] if tup.values else None
        if type(w) is not str or not w or "\t" in w or "\n" in w:
            # The split bolt never emits such a value, and failing it would
            # only replay it forever: ack it, count it out, say so once.
            if self.rejected == 0:
                self.report_error(
                    f"count: ignoring input {w!r} from {tup.component}: not a word "
                    "(want a non-empty string without tab or newline)"
                )
            self.rejected += 1
            self.ack(tup)
            return
        counts = self.counts
        counts[w] = counts.get(w, 0) + 1
        self.ack(tup)

    def finish(self) -> None:
        if self.done:
            raise RuntimeError(f"count task {self.context.task_id}: finish called twice; totals were already written")
        if self.rejected:
            self.log.warning("ignored %d inputs that are not words", self.rejected)
        if not self.output:
            self._log_top()
            self.done = True
            return
        # Sorted by UTF-8 bytes, as Go sorts strings (for valid UTF-8 that
        # is also code point order, but the merge compares bytes anyway).
        entries = sorted((w.encode("utf-8"), c) for w, c in self.counts.items())
        try:
            merge_output(self.output, self.context.topology_id, self.tasks, entries)
        except (OSError, MergeError) as e:
            raise RuntimeError(f"count task {self.context.task_id}: write totals ({KEY_OUTPUT}): {e}") from None
        self.done = True
        self.log.info("word totals merged into %s (%d words)", self.output, len(entries))

    def _log_top(self) -> None:
        top = sorted(self.counts.items(), key=lambda wc: (-wc[1], wc[0].encode("utf-8")))[:TOP_LOGGED]
        self.log.info(
            "word totals (no %s set, nothing written): %d distinct, top %d", KEY_OUTPUT, len(self.counts), len(top)
        )
        for rank, (w, c) in enumerate(top, 1):
            self.log.info("top word %d: %s %d", rank, w, c)


# -- the merge (the Go bolts' protocol, merge.go) -----------------------------


def merge_output(path: str, topology_id: str, tasks: int, entries: list[tuple[bytes, int]]) -> None:
    """Merges one task's sorted (word, count) entries into the output file
    under the exclusive lock."""
    lock_path = path + LOCK_SUFFIX
    fd = _lock(lock_path)
    try:
        sidecar = path + SIDECAR_SUFFIX
        merged = _read_sidecar(sidecar, topology_id)
        if merged >= tasks:
            raise MergeError(f"read merge state {sidecar}: {merged} of {tasks} tasks merged already: corrupt merge state")
        # Tasks that merged before this one in this run left their totals
        # in the output; otherwise whatever is there is stale.
        prev: Optional[BinaryIO] = None
        if merged > 0:
            try:
                prev = open(path, "rb")
            except OSError as e:
                raise MergeError(f"read output of the {merged} tasks merged so far: {e}") from None
        try:
            _write_atomic(path, lambda f: _write_merged(f, prev, path, entries))
        finally:
            if prev is not None:
                prev.close()
        merged += 1
        if merged < tasks:
            data = f"{topology_id}\n{merged}\n".encode("utf-8")
            try:
                _write_atomic(sidecar, lambda f: f.write(data))
            except OSError as e:
                raise MergeError(f"update merge state: {e}") from None
            return
        # The last task cleans up while still holding the lock: a task of a
        # later run that opened the lock file meanwhile notices it was
        # removed (_lock) and locks a fresh one.
        for p, what in ((sidecar, "merge state"), (lock_path, "lock file")):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise MergeError(f"remove {what}: {e}") from None
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _lock(path: str) -> int:
    """Takes an exclusive flock on the file at path (creating it) and
    returns its descriptor. Polls a non-blocking flock, like the Go bolt,
    and retries when the holder removed the file meanwhile: only a lock on
    the file that is at path now counts."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        delay = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(delay)
                delay = min(2 * delay, 0.02)
            except OSError:
                os.close(fd)
                raise
        try:
            held = os.fstat(fd)
            cur = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if (held.st_dev, held.st_ino) == (cur.st_dev, cur.st_ino):
            return fd
        os.close(fd)


def _read_sidecar(path: str, topology_id: str) -> int:
    """How many tasks of topology_id merged so far: 0 with no sidecar or
    another run's."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise MergeError(f"read merge state: {e}") from None
    run_id, _, rest = data.partition(b"\n")
    if run_id != topology_id.encode("utf-8"):
        return 0  # an earlier run's leftovers: its output is stale
    line = rest.partition(b"\n")[0]
    text = line.strip()
    if not _INT64.match(text) or int(text) < 0:
        raise MergeError(f"read merge state {path}: line 2 {line.decode('utf-8', 'replace')!r} is not a task count: corrupt merge state")
    return int(text)


def _entries(f: BinaryIO, name: str) -> Iterator[tuple[bytes, int]]:
    """The (word, count) lines of a sorted output file, checked."""
    prev = b""
    for n, raw in enumerate(f, 1):
        text = raw[:-1] if raw.endswith(b"\n") else raw
        tab = text.rfind(b"\t")
        if tab <= 0:
            raise MergeError(f"read {name} line {n}: {text.decode('utf-8', 'replace')!r} is not word<TAB>count: corrupt output file")
        word, num = text[:tab], text[tab + 1 :]
        if not _INT64.match(num) or not -(2**63) <= int(num) < 2**63:
            raise MergeError(f"read {name} line {n}: bad count {num.decode('utf-8', 'replace')!r}: corrupt output file")
        if n > 1 and word < prev:
            raise MergeError(
                f"read {name} line {n}: {word.decode('utf-8', 'replace')!r} after {prev.decode('utf-8', 'replace')!r}: "
                "lines not sorted by word: corrupt output file"
            )
        prev = word
        yield word, int(num)


def _write_merged(out: BinaryIO, prev: Optional[BinaryIO], name: str, entries: list[tuple[bytes, int]]) -> None:
    """Writes the merge of prev's sorted lines and entries; equal
    consecutive words are summed (the key sets of count tasks are disjoint
    by design, but a word that shows up twice is still counted in full)."""
    it = _entries(prev, name) if prev is not None else iter(())
    cur = next(it, None)
    i = 0
    pending: Optional[list] = None  # [word, count] not yet written

    def add(word: bytes, count: int) -> None:
        nonlocal pending
        if pending is not None and pending[0] == word:
            pending[1] += count
            return
        if pending is not None:
            out.write(pending[0] + b"\t" + str(pending[1]).encode() + b"\n")
        pending = [word, count]

    while cur is not None or i < len(entries):
        if cur is not None and (i == len(entries) or cur[0] <= entries[i][0]):
            add(*cur)
            cur = next(it, None)
        else:
            add(*entries[i])
            i += 1
    if pending is not None:
        out.write(pending[0] + b"\t" + str(pending[1]).encode() + b"\n")


def _write_atomic(path: str, fill) -> None:
    """Replaces path with what fill writes: a temp file in the same folder,
    fsynced, renamed over path, then the folder fsynced, so that a crash
    leaves the old file or the new one, never a torn one."""
    folder, base = os.path.split(path)
    folder = folder or "."
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb", buffering=64 << 10) as f:
            fill(f)
            f.flush()
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes it 0600
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:  # durability of the rename; some file systems refuse, harmlessly
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


if __name__ == "__main__":
    gale.run(WordCount())
