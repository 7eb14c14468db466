"""The Python word count bolts (examples/wordcount/python) keep the Go
contract: the same words, the same output bytes, the same merge."""

import itertools
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "wordcount" / "python"))

import count  # noqa: E402
import split  # noqa: E402

# Produced by the Go tokenizer (strings.ToLower, then runs of
# unicode.IsLetter || unicode.IsDigit) on Go 1.26 (Unicode 15.0.0).
GO_VECTORS = [
    ("It's abc123def, Ça!", ["it", "s", "abc123def", "ça"]),
    ("İSTANBUL ΣΊΣΥΦΟΣ", ["istanbul", "σίσυφοσ"]),
    ("nai\u0308ve naïve", ["nai", "ve", "naïve"]),
    ("x²y ⅻ ①", ["x", "y"]),
    ("\U00011f04\U00011f05 abc", ["\U00011f04\U00011f05", "abc"]),
    ("ǅungla ǈ", ["ǆungla", "ǉ"]),
    ("ẞtraße", ["ßtraße"]),
    ("ΌΣΟΣ", ["όσοσ"]),
    ("٣٤ abc ٥", ["٣٤", "abc", "٥"]),
    ("\U00031350\U000323af", ["\U00031350\U000323af"]),
    ("", []),
    ("The cat sat.", ["the", "cat", "sat"]),
    ("snake_case and-dash 3.14", ["snake", "case", "and", "dash", "3", "14"]),
]


@pytest.mark.parametrize("sentence,want", GO_VECTORS, ids=[repr(s) for s, _ in GO_VECTORS])
def test_words_match_the_go_tokenizer(sentence, want):
    assert split.words(sentence) == want


def run_tasks(path, topology_id, task_counts, order):
    for i in order:
        entries = sorted((w.encode(), c) for w, c in task_counts[i].items())
        count.merge_output(str(path), topology_id, len(task_counts), entries)


def expected_bytes(total: Counter) -> bytes:
    return b"".join(w.encode() + b"\t" + str(c).encode() + b"\n" for w, c in sorted(total.items(), key=lambda x: x[0].encode()))


def test_readme_example_is_byte_identical(tmp_path):
    lines = ["The cat sat.", "The cat ran, 2 times!", "Ça va? Naïve."]
    words = [w for s in lines for w in split.words(s)]
    # Two count tasks, fields grouping: disjoint words.
    tasks = [Counter(w for w in words if hash(w) % 2 == k) for k in range(2)]
    out = tmp_path / "OUT.tsv"
    run_tasks(out, "wc-1", tasks, [1, 0])
    assert out.read_bytes() == b"2\t1\ncat\t2\nna\xc3\xafve\t1\nran\t1\nsat\t1\nthe\t2\ntimes\t1\nva\t1\n\xc3\xa7a\t1\n"
    assert sorted(os.listdir(tmp_path)) == ["OUT.tsv"]  # sidecar and lock removed by the last task


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_three_tasks_merge_in_any_order(tmp_path, order):
    tasks = [Counter({"b": 2, "zz": 1}), Counter({"a": 5, "ça": 1}), Counter({"c": 1, "b": 1})]
    out = tmp_path / "o.tsv"
    out.write_bytes(b"stale\t99\n")  # an earlier run's output is overwritten
    run_tasks(out, "run-2", tasks, order)
    assert out.read_bytes() == expected_bytes(sum(tasks, Counter()))
    assert sorted(os.listdir(tmp_path)) == ["o.tsv"]


def test_sidecar_of_another_run_means_stale_output(tmp_path):
    out = tmp_path / "o.tsv"
    out.write_bytes(b"old\t1\n")
    (tmp_path / "o.tsv.gale-merge").write_bytes(b"run-1\n1\n")
    run_tasks(out, "run-2", [Counter({"new": 2}), Counter()], [0])
    assert out.read_bytes() == b"new\t2\n"
    assert (tmp_path / "o.tsv.gale-merge").read_bytes() == b"run-2\n1\n"


def test_corrupt_output_is_refused_with_the_line(tmp_path):
    out = tmp_path / "o.tsv"
    out.write_bytes(b"b\t1\na\t2\n")
    (tmp_path / "o.tsv.gale-merge").write_bytes(b"run-1\n1\n")
    with pytest.raises(count.MergeError, match=r"line 2: 'a' after 'b': lines not sorted by word"):
        run_tasks(out, "run-1", [Counter({"x": 1}), Counter()], [1])
    out.write_bytes(b"a\tx1\n")
    with pytest.raises(count.MergeError, match=r"line 1: bad count 'x1'"):
        run_tasks(out, "run-1", [Counter({"x": 1}), Counter()], [1])
