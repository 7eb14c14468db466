// conf-bolt: the conformance bolt of sdk/conformance/README.md, written
// with the SDK's public API only. Run as a managed process by the
// conformance harness (GALE_* environment).

import { Bolt, run, type Tuple, type TaskContext } from "../../src";

class ConformanceBolt extends Bolt {
  private held: Tuple[] = [];
  private ticks = 0n;

  override prepare(context: TaskContext): void {
    const fail = context.config.getString("fail.prepare");
    if (fail !== "") throw new Error(fail);
  }

  execute(t: Tuple): void | Promise<void> {
    const out = this.collector;
    if (t.isTick) {
      this.ticks++;
      out.emitTo("ticks", null, [this.ticks]);
      return;
    }
    const arg = t.getString("arg");
    switch (t.getString("cmd")) {
      case "ack":
        out.ack(t);
        return;
      case "fail":
        out.fail(t);
        return;
      case "emit":
        out.emit(t, [arg]);
        out.ack(t);
        return;
      case "emit-unanchored":
        out.emit(null, [arg]);
        out.ack(t);
        return;
      case "emit-other":
        out.emitTo("other", t, [arg]);
        out.ack(t);
        return;
      case "emit-direct":
        out.emitDirect(t.getNumber("n") ?? 0, "direct", t, [arg]);
        out.ack(t);
        return;
      case "split":
        for (const w of arg.split(" ")) if (w !== "") out.emit(t, [w]);
        out.ack(t);
        return;
      case "busy": {
        // Work without yielding for n ms (a slow, synchronous execute).
        process.stderr.write("conformance: busy\n");
        const until = Date.now() + (t.getNumber("n") ?? 0);
        while (Date.now() < until) {
          // spin
        }
        out.ack(t);
        return;
      }
      case "wait":
        // Wait n ms without working: an execute whose promise settles
        // later (an awaited timer).
        return new Promise((resolve) =>
          setTimeout(() => {
            out.ack(t);
            resolve();
          }, t.getNumber("n") ?? 0),
        );
      case "hold":
        this.held.push(t);
        return;
      case "reset-held":
        for (const h of this.held) out.resetTimeout(h);
        out.ack(t);
        return;
      case "emit-held": {
        out.emit([...this.held, t], [arg]);
        for (const h of this.held) out.ack(h);
        this.held = [];
        out.ack(t);
        return;
      }
      case "config":
        out.emit(t, [String(this.context.config.get(arg))]);
        out.ack(t);
        return;
      case "context": {
        const c = this.context;
        out.emit(t, [`${c.component}/${c.taskId}/${c.taskIndex}/${t.sourceComponent}`]);
        out.ack(t);
        return;
      }
      case "log":
        this.log.info(arg);
        out.ack(t);
        return;
      case "error":
        out.reportError(arg);
        out.ack(t);
        return;
      case "raise":
        throw new Error(arg);
      case "bad-stream":
        out.emitTo("nope", t, [arg]);
        return;
      case "bad-arity":
        out.emit(t, [arg, arg]);
        return;
      case "too-large":
        out.emit(t, ["x".repeat(t.getNumber("n") ?? 0)]);
        return;
      default:
        out.reportError(`conf-bolt: unknown cmd ${JSON.stringify(t.getString("cmd"))}`);
        out.fail(t);
    }
  }

  override finish(): void {
    this.collector.emit(null, ["bye"]);
    for (const h of this.held) this.collector.ack(h);
    this.held = [];
  }

  override cleanup(): void {
    process.stderr.write("conformance: cleanup\n");
  }
}

run(new ConformanceBolt());
