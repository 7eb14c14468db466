// The word count split bolt: "sentence" in, one anchored "word" per word
// out, then the sentence is acked. Same contract as the Go
// wordcount.SplitSentence (see words.ts for the exact word definition).
//
//   node examples/wordcount/typescript/dist/split.js   (run by a Gale node)

import { Bolt, run, type Tuple } from "@gale-stream/gale";
import { forEachWord } from "./words";

export class SplitSentence extends Bolt {
  private current: Tuple | undefined;
  // One closure for the life of the bolt, not one per sentence.
  private readonly emitWord = (w: string): void => this.collector.emit(this.current!, [w]);

  execute(t: Tuple): void {
    // Field 0 is "sentence"; a tuple without a string there has no words.
    this.current = t;
    forEachWord(t.getString(0), this.emitWord);
    this.current = undefined;
    this.collector.ack(t);
  }
}

if (require.main === module) {
  // The SDK's default ack order ("batch": acks after each input batch's
  // emits) is what makes a bolt that emits and acks per input fast;
  // GALE_ACK_ORDER=strict restores strict order.
  run(new SplitSentence());
}
