"""Throughput of a Python split bolt over the Attach protocol.

A fake node (a real grpcio server on 127.0.0.1) sends input batches of
sentences to the word count split bolt (examples/wordcount/python/split.py)
run by gale.serve, keeping at most 2048 inputs unacked as the real node
does, and counts the emits and acks that come back. It reports sentences/s
and emits/s from the welcome to the bolt's `finished`, and, as the baseline
measured in the same run, the speed of the split function alone (no SDK,
no gRPC), so that the SDK's share of the cost is visible.

By default the fake node runs in this process (sharing its GIL with the
bolt, a pessimistic setup); --node-process runs it in a child process,
closer to a real deployment where the node is a separate Go process.

    .venv/bin/python bench/bench_split.py [--sentences N] [--batch 512]
        [--words 6] [--strict] [--node-process]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent / "examples" / "wordcount" / "python"))

import gale  # noqa: E402
import split  # noqa: E402
from gale.v1 import attach_pb2, attach_pb2_grpc, tuple_pb2, value_pb2  # noqa: E402

MAX_INFLIGHT = 2048
RING = 8  # prebuilt batches, reused once acked


def sentences(n_words: int, count: int) -> list[str]:
    """Mixed-case ASCII sentences with punctuation, n_words words each."""
    rnd = random.Random(1)
    vocab = [
        "the", "cow", "jumped", "over", "moon", "Alice", "was", "beginning", "to", "get", "very",
        "tired", "of", "sitting", "by", "her", "sister", "on", "bank", "and", "having", "nothing", "do",
        "once", "twice", "she", "had", "peeped", "into", "book", "reading", "but", "it", "no", "pictures",
    ]
    out = []
    for _ in range(count):
        ws = [rnd.choice(vocab) for _ in range(n_words)]
        out.append(" ".join(ws).capitalize() + rnd.choice([".", "!", "?", ","]))
    return out


def welcome() -> attach_pb2.TaskContext:
    ctx = attach_pb2.TaskContext(
        topology="bench", topology_id="bench-1", component="split", task_id=2, task_index=0, heartbeat_millis=1000
    )
    ctx.component_tasks["sentences"].ids.append(1)
    ctx.component_tasks["split"].ids.append(2)
    ctx.component_tasks["count"].ids.extend([3, 4])
    ctx.outputs.add(id="default", fields=["word"])
    ctx.inputs.add(component="sentences", stream="default").grouping.type = 1
    ctx.source_fields["sentences:default"].names.append("sentence")
    return ctx


class BenchNode(attach_pb2_grpc.AttachServiceServicer):
    """Sends `total` sentences in batches of `batch`, then end_of_input;
    closes the stream after `finished`."""

    def __init__(self, total: int, batch: int, n_words: int, result):
        self.total, self.batch, self.result = total, batch, result
        pool = sentences(n_words, 4096)
        self.batches = []
        for k in range(RING):
            tb = attach_pb2.AttachResponse()
            for j in range(batch):
                tb.inputs.tuples.append(
                    tuple_pb2.Tuple(
                        id=k * batch + j + 1,
                        stream="default",
                        source_task=1,
                        values=[value_pb2.Value(string_value=pool[(k * batch + j) % len(pool)])],
                    )
                )
            self.batches.append(tb.SerializeToString())
        self.cond = threading.Condition()
        self.acked = self.emitted = self.frames = 0
        self.finished = False
        self.started = 0.0

    def Attach(self, request_iterator, context):  # noqa: N802
        first = next(request_iterator)
        assert first.WhichOneof("frame") == "hello", first
        threading.Thread(target=self._read, args=(request_iterator,), daemon=True).start()
        self.started = time.perf_counter()
        yield attach_pb2.AttachResponse(welcome=welcome()).SerializeToString()
        sent = k = 0
        while sent < self.total:
            with self.cond:
                while sent - self.acked > MAX_INFLIGHT - self.batch:
                    self.cond.wait()
            yield self.batches[k % RING]
            sent += self.batch
            k += 1
        yield attach_pb2.AttachResponse(end_of_input=attach_pb2.EndOfInput()).SerializeToString()
        with self.cond:
            while not self.finished:
                self.cond.wait()
        elapsed = time.perf_counter() - self.started
        self.result.update(elapsed=elapsed, sent=sent, acked=self.acked, emitted=self.emitted, frames=self.frames)

    def _read(self, it) -> None:
        for req in it:
            kind = req.WhichOneof("frame")
            with self.cond:
                self.frames += 1
                if kind == "emits":
                    self.emitted += len(req.emits.emits)
                elif kind == "acks":
                    self.acked += len(req.acks.acked) + len(req.acks.failed)
                    self.cond.notify_all()
                elif kind == "finished":
                    self.finished = True
                    self.cond.notify_all()


def serve_node(total: int, batch: int, n_words: int, result, port_box=None):
    ident = lambda b: b  # noqa: E731
    node = BenchNode(total, batch, n_words, result)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.stream_stream_rpc_method_handler(
        node.Attach, request_deserializer=attach_pb2.AttachRequest.FromString, response_serializer=ident
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("gale.v1.AttachService", {"Attach": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _node_process(total, batch, n_words, conn):
    result: dict = {}
    server, port = serve_node(total, batch, n_words, result)
    conn.send(port)
    while "elapsed" not in result:
        time.sleep(0.01)
    conn.send(result)
    server.stop(0)


def baseline(pool: list[str], n: int) -> float:
    """Sentences/s of the split function alone, the same work minus the SDK."""
    words = split.words
    t = time.perf_counter()
    k = 0
    for i in range(n):
        for w in words(pool[i % len(pool)]):
            k += 1
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=204800)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--words", type=int, default=6, help="words per sentence")
    ap.add_argument("--strict", action="store_true", help="run the bolt without defer_acks (strict ack order)")
    ap.add_argument("--node-process", action="store_true", help="run the fake node in a child process")
    a = ap.parse_args()

    bolt = split.SplitSentence()
    if a.strict:
        bolt.defer_acks = False
    result: dict = {}
    if a.node_process:
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(target=_node_process, args=(a.sentences, a.batch, a.words, child))
        proc.start()
        port = parent.recv()
        server = None
    else:
        server, port = serve_node(a.sentences, a.batch, a.words, result)
    gale.serve(bolt, addr=f"127.0.0.1:{port}", topology="bench", component="split", task_id=2)
    if a.node_process:
        result = parent.recv()
        proc.join(10)
    else:
        server.stop(0)

    base = baseline(sentences(a.words, 4096), 100000)
    s_per = result["sent"] / result["elapsed"]
    e_per = result["emitted"] / result["elapsed"]
    mode = "strict acks" if a.strict else "defer_acks"
    where = "node in a child process" if a.node_process else "node in-process"
    print(
        f"split bolt, {mode}, {where}: {result['sent']} sentences x {a.words} words, batch {a.batch}\n"
        f"  {s_per:,.0f} sentences/s  {e_per:,.0f} emits/s  ({result['frames']} frames, "
        f"{result['acked']} acks, {result['elapsed']:.2f} s)\n"
        f"  baseline (split function alone): {base:,.0f} sentences/s; SDK+gRPC at {s_per / base:.0%} of it"
    )
    if result["acked"] != result["sent"] or result["emitted"] != result["sent"] * a.words:
        sys.exit(f"bench: counts do not add up: {result}")


if __name__ == "__main__":
    main()
