// conf-spout: the conformance spout of sdk/conformance/README.md, written
// with the SDK's public API only.

import { Spout, run, type TaskContext } from "../../src";

class ConformanceSpout extends Spout {
  private count = 5;
  private nextId = 0;
  private replay: number[] = []; // failed message ids, in the order they failed
  private busyMs = 0; // each nextTuple works this long without yielding

  override open(ctx: TaskContext): void {
    this.count = Number(ctx.config.getInt("conformance.count", 5n));
    this.busyMs = Number(ctx.config.getInt("conformance.busy_ms", 0n));
  }

  nextTuple(): void {
    // One tuple per call: the runtime calls again while the node wants more.
    if (this.busyMs > 0) process.stderr.write("conformance: busy\n");
    for (const until = Date.now() + this.busyMs; Date.now() < until; ) {
      // spin: a slow, synchronous nextTuple
    }
    const failed = this.replay.shift();
    if (failed !== undefined) {
      this.collector.emit([BigInt(failed - 1)], failed);
    } else if (this.nextId < this.count) {
      const id = this.nextId++;
      this.collector.emit([BigInt(id)], id + 1);
    }
    if (this.nextId >= this.count) this.collector.end();
  }

  override ack(_messageId: number): void {
    // Forgotten: the spout keeps nothing but the replay queue.
  }

  override fail(messageId: number): void {
    this.replay.push(messageId);
  }

  override activate(): void {
    this.log.info("activated");
  }

  override close(): void {
    process.stderr.write("conformance: close\n");
  }

  override deactivate(): void {
    this.log.info("deactivated");
  }
}

run(new ConformanceSpout());
