"""The merge protocol of examples/internal/mergefile, in Python: the tasks
of one component merge their sorted results into one output file, whatever
process runs them, serialised by an exclusive flock on ``OUT.lock``:

1. Read the sidecar ``OUT.gale-merge``: line 1 is the topology run id,
   line 2 how many tasks merged so far. Another run's sidecar (or none)
   means the output is stale: start empty.
2. Merge the current output with this task's results (the caller's write,
   streaming) into a temp file in the same folder; fsync it and rename it
   over the output.
3. Update the sidecar (also by rename); the last task removes the sidecar
   and the lock file instead.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from typing import BinaryIO, Callable, Optional

LOCK_SUFFIX = ".lock"
SIDECAR_SUFFIX = ".gale-merge"

_COUNT = re.compile(rb"^[+-]?[0-9]+$")


class MergeStateError(Exception):
    """The merge state of the current run is unreadable or says every task merged already."""


def merge(path: str, topology_id: str, tasks: int, write: Callable[[Optional[BinaryIO], BinaryIO], None]) -> None:
    """Merges one task's results into the output at path under the lock:
    write(prev, out) writes the merge of prev (the output of the tasks
    merged before in this run, or None) with this task's results."""
    lock_path = path + LOCK_SUFFIX
    fd = lock(lock_path)
    try:
        sidecar = path + SIDECAR_SUFFIX
        merged = read_sidecar(sidecar, topology_id)
        if merged >= tasks:
            raise MergeStateError(f"read merge state {sidecar}: {merged} of {tasks} tasks merged already: corrupt merge state")
        prev: Optional[BinaryIO] = None
        if merged > 0:
            try:
                prev = open(path, "rb")
            except OSError as e:
                raise MergeStateError(f"read output of the {merged} tasks merged so far: {e}") from None
        try:
            write_atomic(path, lambda f: write(prev, f))
        finally:
            if prev is not None:
                prev.close()
        merged += 1
        if merged < tasks:
            data = f"{topology_id}\n{merged}\n".encode()
            write_atomic(sidecar, lambda f: f.write(data))
            return
        # The last task cleans up while still holding the lock.
        for p in (sidecar, lock_path):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
    finally:
        os.close(fd)  # releases the flock


def lock(path: str) -> int:
    """Takes an exclusive flock on the file at path (created if missing),
    retrying when the holder removed the file meanwhile."""
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
            held, cur = os.fstat(fd), os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if (held.st_dev, held.st_ino) == (cur.st_dev, cur.st_ino):
            return fd
        os.close(fd)


def read_sidecar(path: str, topology_id: str) -> int:
    """How many tasks of topology_id merged so far: 0 with no sidecar or another run's."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    run_id, _, rest = data.partition(b"\n")
    if run_id != topology_id.encode():
        return 0
    line = rest.partition(b"\n")[0].strip()
    if not _COUNT.match(line) or int(line) < 0:
        raise MergeStateError(f"read merge state {path}: line 2 {line!r} is not a task count: corrupt merge state")
    return int(line)


def write_atomic(path: str, fill: Callable[[BinaryIO], object]) -> None:
    """Replaces path with what fill writes: a temp file in the same folder,
    fsynced and renamed over path, so a crash leaves the old or the new file."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb", buffering=64 << 10) as f:
            fill(f)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
