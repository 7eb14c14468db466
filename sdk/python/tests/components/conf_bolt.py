"""conf-bolt: the conformance suite's bolt (sdk/conformance/README.md),
written with the SDK's public API only.

Input fields cmd, arg, n; outputs default [word], other [word], direct
stream direct [word], ticks [n]. GALE_CONF_DEFER_ACKS=1 runs it with
Bolt.defer_acks (the harness's deferred-acks mode).
"""

import os
import sys
import time

import gale


class ConfBolt(gale.Bolt):
    defer_acks = os.environ.get("GALE_CONF_DEFER_ACKS", "1") == "1"

    def prepare(self, context):
        self.held = []
        self.ticks = 0
        fail = context.config.get_str("fail.prepare")
        if fail:
            raise RuntimeError(fail)

    def execute(self, tup):
        if tup.is_tick:
            self.ticks += 1
            self.emit([self.ticks], stream="ticks")
            return
        cmd, arg, n = tup["cmd"], tup["arg"], tup["n"]
        if cmd == "ack":
            self.ack(tup)
        elif cmd == "fail":
            self.fail(tup)
        elif cmd == "emit":
            self.emit([arg], tup)
            self.ack(tup)
        elif cmd == "emit-unanchored":
            self.emit([arg])
            self.ack(tup)
        elif cmd == "emit-other":
            self.emit([arg], tup, stream="other")
            self.ack(tup)
        elif cmd == "emit-direct":
            self.emit([arg], tup, stream="direct", direct_task=n)
            self.ack(tup)
        elif cmd == "split":
            for word in arg.split(" "):
                if word:
                    self.emit([word], tup)
            self.ack(tup)
        elif cmd == "busy":
            # Work without yielding for n ms (a slow, synchronous execute).
            print("conformance: busy", file=sys.stderr, flush=True)
            until = time.monotonic() + n / 1000.0
            while time.monotonic() < until:
                pass
            self.ack(tup)
        elif cmd == "wait":
            # Wait n ms without working (a call that does not return for a
            # while: a sleep).
            time.sleep(n / 1000.0)
            self.ack(tup)
        elif cmd == "hold":
            self.held.append(tup)
        elif cmd == "reset-held":
            for held in self.held:
                self.reset_timeout(held)
            self.ack(tup)
        elif cmd == "emit-held":
            self.emit([arg], self.held + [tup])
            for held in self.held:
                self.ack(held)
            self.held = []
            self.ack(tup)
        elif cmd == "config":
            self.emit([self.config.get_str(arg)], tup)
            self.ack(tup)
        elif cmd == "context":
            ctx = self.context
            self.emit([f"{ctx.component}/{ctx.task_id}/{ctx.task_index}/{tup.component}"], tup)
            self.ack(tup)
        elif cmd == "log":
            self.log.info(arg)
            self.ack(tup)
        elif cmd == "error":
            self.report_error(arg)
            self.ack(tup)
        elif cmd == "raise":
            raise RuntimeError(arg)
        elif cmd == "bad-stream":
            self.emit([arg], tup, stream="nope")
        elif cmd == "bad-arity":
            self.emit([arg, arg], tup)
        elif cmd == "too-large":
            self.emit(["x" * n], tup)
        else:
            raise ValueError(f"conf-bolt: unknown cmd {cmd!r}")

    def finish(self):
        self.emit(["bye"])
        for held in self.held:
            self.ack(held)
        self.held = []

    def cleanup(self):
        print("conformance: cleanup", file=sys.stderr, flush=True)


if __name__ == "__main__":
    gale.run(ConfBolt())
