"""The Python Sessionize (examples/sessions/python) writes the Go bolt's
file: lines sorted by visitor bytes then start, tasks merged in any order."""

import itertools
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "sessions" / "python"))

import sessionize  # noqa: E402

TASKS = [
    [("v1-ça", 5, 9, 2), ("v2", 1, 1, 1)],
    [("v1", 3, 3, 1), ("v1", 10, 20, 4), ("w", 0, 0, 1)],
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(2))))
def test_tasks_merge_into_one_sorted_file(tmp_path, order):
    out = tmp_path / "out.tsv"
    out.write_bytes(b"stale\t1\t1\t1\n")
    for i in order:
        sessionize.merge_output(str(out), "run-1", 2, sorted(TASKS[i], key=sessionize.sort_key))
    assert out.read_bytes() == "v1\t3\t3\t1\nv1\t10\t20\t4\nv1-ça\t5\t9\t2\nv2\t1\t1\t1\nw\t0\t0\t1\n".encode()
    assert sorted(os.listdir(tmp_path)) == ["out.tsv"]


def test_corrupt_output_is_refused(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_bytes(b"b\t1\t1\t1\na\t1\t1\t1\n")
    (tmp_path / "out.tsv.gale-merge").write_bytes(b"run-1\n1\n")
    with pytest.raises(sessionize.MergeError, match="line 2: not sorted"):
        sessionize.merge_output(str(out), "run-1", 2, [("c", 1, 1, 1)])
