"""conf-spout: the conformance suite's spout (sdk/conformance/README.md),
written with the SDK's public API only.

Emits ids 0..conformance.count-1 as [i] with message id i + 1, replays
failed messages first, declares end of input once every new id is out.
"""

import sys
import time
from collections import deque

import gale


class ConfSpout(gale.Spout):
    def open(self, context):
        self.count = self.config.get_int("conformance.count", 5)
        self.busy_s = self.config.get_int("conformance.busy_ms", 0) / 1000.0
        self.next_id = 0
        self.replay = deque()

    def next_tuple(self):
        if self.busy_s > 0:
            print("conformance: busy", file=sys.stderr, flush=True)
        until = time.monotonic() + self.busy_s
        while time.monotonic() < until:
            pass  # a slow, synchronous next_tuple
        if self.replay:
            i = self.replay.popleft()
        elif self.next_id < self.count:
            i = self.next_id
            self.next_id += 1
        else:
            self.end_of_input()  # covers conformance.count = 0
            return
        self.emit([i], message_id=i + 1)
        if self.next_id >= self.count:
            self.end_of_input()

    def ack(self, message_id):
        pass  # nothing kept per message: an acked id is simply forgotten

    def fail(self, message_id):
        self.replay.append(message_id - 1)

    def activate(self):
        self.log.info("activated")

    def deactivate(self):
        self.log.info("deactivated")

    def close(self):
        print("conformance: close", file=sys.stderr, flush=True)


if __name__ == "__main__":
    gale.run(ConfSpout())
