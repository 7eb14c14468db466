// The benchmark's bolt: a word count split bolt (lowercase ASCII words;
// the full Unicode version is examples/wordcount/typescript/split.ts),
// started by split-bench.ts with the GALE_* environment.

import { Bolt, run, type Tuple } from "../src";

// Word bytes: ASCII letters and digits (the bench's sentences are ASCII).
const WORD = new Uint8Array(128);
for (let c = 0; c < 128; c++) WORD[c] = /[A-Za-z0-9]/.test(String.fromCharCode(c)) ? 1 : 0;

class Split extends Bolt {
  execute(t: Tuple): void {
    const s = t.getString(0).toLowerCase();
    const out = this.collector;
    let start = -1;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 128 && WORD[c] === 1) {
        if (start < 0) start = i;
      } else if (start >= 0) {
        out.emit(t, [s.slice(start, i)]);
        start = -1;
      }
    }
    if (start >= 0) out.emit(t, [s.slice(start)]);
    out.ack(t);
  }
}

run(new Split());
