// A word count split bolt written for Apache Storm's multilang protocol,
// using Storm's own storm.js unmodified (`make deps` puts it next to this
// file). A word is a maximal run of letters or decimal digits of the
// lowercased sentence, the same rule as the Go split bolt.
'use strict';
const storm = require('./storm');

const WORD = /[\p{L}\p{Nd}]+/gu;

// Go lowercases rune by rune with the simple case mapping; toLowerCase()
// uses the full one, which differs for U+0130 and, in context, for a final
// capital sigma.
function lower(s) {
  let out = '';
  for (const ch of s) out += ch === '\u0130' ? 'i' : ch.toLowerCase();
  return out;
}

class SplitSentenceBolt extends storm.BasicBolt {
  process(tup, done) {
    const words = lower(String(tup.values[0])).match(WORD) || [];
    for (const w of words) {
      // The callback receives the task ids the word went to.
      this.emit({tuple: [w], anchorTupleId: tup.id}, () => {});
    }
    done();
  }
}

new SplitSentenceBolt().run();
