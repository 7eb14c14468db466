// The word definition of Gale's word count, identical to the Go split bolt
// (examples/wordcount/split.go): lowercase the sentence rune by rune
// (Go's strings.ToLower, i.e. unicode.ToLower per code point), then take
// every maximal run of letters or digits (unicode.IsLetter: category L;
// unicode.IsDigit: category Nd only, so "²" or "Ⅻ" are not digits).

import { compareUtf8 } from "@gale-stream/gale";

// JavaScript's toLowerCase applies two mappings that Go's simple per-rune
// mapping does not: "İ" (U+0130) becomes "i̇" (two code points) instead of
// "i", and a final capital sigma becomes "ς" instead of "σ". Both are
// replaced first; toLowerCase is locale-independent otherwise and maps
// every other code point as Go does.
const SPECIAL = /[\u0130\u03a3]/g;
const special = (c: string): string => (c === "\u0130" ? "i" : "\u03c3");

/** Lowercases like Go's strings.ToLower. */
export function goLower(s: string): string {
  return s.replace(SPECIAL, special).toLowerCase();
}

const NON_ASCII = /[^\x00-\x7f]/;
const WORD = /[\p{L}\p{Nd}]+/gu;

// ASCII letters and digits: the common case is a table lookup per char.
const ASCII_WORD = new Uint8Array(128);
for (let c = 0; c < 128; c++) ASCII_WORD[c] = /[A-Za-z0-9]/.test(String.fromCharCode(c)) ? 1 : 0;

/** Calls emit with each word of sentence, in order. */
export function forEachWord(sentence: string, emit: (word: string) => void): void {
  if (NON_ASCII.test(sentence)) {
    const s = goLower(sentence);
    WORD.lastIndex = 0;
    for (let m = WORD.exec(s); m !== null; m = WORD.exec(s)) emit(m[0]);
    return;
  }
  const s = sentence.toLowerCase();
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    if (ASCII_WORD[s.charCodeAt(i)] === 1) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      emit(s.slice(start, i));
      start = -1;
    }
  }
  if (start >= 0) emit(s.slice(start));
}

/** The words of a sentence, for tests. */
export function words(sentence: string): string[] {
  const out: string[] = [];
  forEachWord(sentence, (w) => out.push(w));
  return out;
}

/** Compares strings by their UTF-8 bytes, as Go's < on strings does (the SDK's compareUtf8). */
export const compareBytes = compareUtf8;
