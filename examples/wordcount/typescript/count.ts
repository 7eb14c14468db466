// The word count count bolt: counts "word" tuples (fields grouping on
// "word", so count tasks hold disjoint words) and, at end of input (the
// finish hook), merges its totals into the file at config wordcount.output
// as word<TAB>count lines sorted by the words' bytes, byte-identical to the
// Go wordcount.WordCount (see merge.ts). Without wordcount.output it logs
// its top 10 words instead.
//
//   node examples/wordcount/typescript/dist/count.js   (run by a Gale node)

import { Bolt, run, type Tuple } from "@gale-stream/gale";
import { mergeOutput } from "./merge";
import { compareBytes } from "./words";

export const KEY_OUTPUT = "wordcount.output";
const TOP_LOGGED = 10;

export class WordCount extends Bolt {
  private readonly counts = new Map<string, number>();
  private rejected = 0;
  private finished = false;

  execute(t: Tuple): void {
    if (t.isTick) return;
    const w = t.values[0];
    if (typeof w !== "string" || w === "" || w.includes("\t") || w.includes("\n")) {
      // Not a line of the output file: acked (failing would replay it
      // forever), not counted, reported once.
      if (this.rejected === 0) {
        this.collector.reportError(
          `wordcount count: ignoring input ${JSON.stringify(String(w))} from ${t.sourceComponent}: not a word (want a non-empty string without tab or newline)`,
        );
      }
      this.rejected++;
    } else {
      this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
    }
    this.collector.ack(t);
  }

  /** A copy of the totals so far (tests, tools). */
  totals(): Map<string, number> {
    return new Map(this.counts);
  }

  override async finish(): Promise<void> {
    const ctx = this.context;
    if (this.finished) throw new Error(`task ${ctx.taskId}: finish called twice; totals were already written`);
    if (this.rejected > 0) this.log.warn(`ignored ${this.rejected} inputs that are not words`);
    const output = ctx.config.getString(KEY_OUTPUT, "");
    if (output === "") {
      this.logTop();
      this.finished = true;
      return;
    }
    const words = [...this.counts.keys()].sort(compareBytes);
    const counts = words.map((w) => this.counts.get(w)!);
    try {
      await mergeOutput({
        path: output,
        topologyId: ctx.topologyId,
        tasks: Math.max(1, ctx.tasks.length),
        words,
        counts,
      });
    } catch (e) {
      throw new Error(`task ${ctx.taskId}: write totals (${KEY_OUTPUT}): ${(e as Error).message}`);
    }
    this.finished = true;
    this.log.info(`word totals merged into ${output} (${words.length} words)`);
  }

  private logTop(): void {
    const all = [...this.counts.entries()].sort((x, y) => y[1] - x[1] || compareBytes(x[0], y[0]));
    const top = all.slice(0, TOP_LOGGED);
    this.log.info(`word totals (no ${KEY_OUTPUT} set, nothing written): ${all.length} distinct, top ${top.length}`);
    top.forEach(([w, c], i) => this.log.info(`top word ${i + 1}: ${w} ${c}`));
  }
}

if (require.main === module) run(new WordCount());
