// The TypeScript word count (examples/wordcount/typescript, built by
// `make build`): the word definition matches Go's, the order is Go's byte
// order, and count tasks merge into one file as the Go ones do.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const EXAMPLE = path.resolve(__dirname, "../../../../examples/wordcount/typescript/dist");
const { words, compareBytes } = require(path.join(EXAMPLE, "words.js")) as {
  words(s: string): string[];
  compareBytes(a: string, b: string): number;
};
const { mergeOutput } = require(path.join(EXAMPLE, "merge.js")) as {
  mergeOutput(job: { path: string; topologyId: string; tasks: number; words: string[]; counts: number[] }): Promise<void>;
};

test("words are split exactly as the Go split bolt does", () => {
  // Expected values produced by Go's strings.ToLower + unicode.IsLetter/IsDigit.
  const cases: [string, string[]][] = [
    ["It's abc123def, Ça!", ["it", "s", "abc123def", "ça"]],
    ["İSTANBUL and ΟΔΟΣ ΣΑΣ", ["istanbul", "and", "οδοσ", "σασ"]],
    ["naïve nai\\u0308ve ² Ⅻ ١٢٣ ５", ["naïve", "nai", "u0308ve", "١٢٣", "５"]],
    ["emoji 😀x 𝔘nicode ﬁne ǅungla ǲ", ["emoji", "x", "𝔘nicode", "ﬁne", "ǆungla", "ǳ"]],
    ["Straße STRASSE ΐ ẞ", ["straße", "strasse", "ΐ", "ß"]],
    ["tab\there, new-line; dots...", ["tab", "here", "new", "line", "dots"]],
    ["nai\u0308ve", ["nai", "ve"]],
    ["", []],
  ];
  for (const [s, want] of cases) assert.deepEqual(words(s), want, s);
});

test("compareBytes is UTF-8 byte order", () => {
  const alphabet = ["a", "z", "A", "0", "é", "ça", "\uffff", "\ue000", "😀", "𝔘", "\u00ff", "ab", ""];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
  const strs: string[] = [];
  for (let i = 0; i < 300; i++) {
    let s = "";
    for (let k = rnd() % 4; k >= 0; k--) s += alphabet[rnd() % alphabet.length];
    strs.push(s);
  }
  for (const a of strs) {
    for (const b of strs.slice(0, 60)) {
      assert.equal(Math.sign(compareBytes(a, b)), Buffer.compare(Buffer.from(a), Buffer.from(b)), `${a} vs ${b}`);
    }
  }
});

function totals(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) for (const w of words(l)) m.set(w, (m.get(w) ?? 0) + 1);
  return m;
}

test("count tasks merge their totals into one sorted file, like the Go ones", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gale-wc-"));
  try {
    const out = path.join(dir, "OUT.tsv");
    fs.writeFileSync(out, "stale\t99\n");
    fs.writeFileSync(out + ".gale-merge", "another-run\n1\n");
    // The README's example, split over three tasks by word (as fields grouping would).
    const all = totals(["The cat sat.", "The cat ran, 2 times!", "Ça va? Naïve."]);
    const tasks = 3;
    const jobs = [...Array(tasks).keys()].map((i) => {
      const ws = [...all.keys()].filter((w) => w.length % tasks === i).sort(compareBytes);
      return { path: out, topologyId: "wc-1", tasks, words: ws, counts: ws.map((w) => all.get(w)!) };
    });
    await Promise.all(jobs.map((j) => mergeOutput(j)));
    assert.equal(fs.readFileSync(out, "utf8"), "2\t1\ncat\t2\nnaïve\t1\nran\t1\nsat\t1\nthe\t2\ntimes\t1\nva\t1\nça\t1\n");
    assert.equal(fs.existsSync(out + ".gale-merge"), false, "the last task removes the sidecar");
    assert.equal(fs.existsSync(out + ".lock"), false, "the last task removes the lock file");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a corrupt output of the same run is refused, naming the line", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gale-wc-"));
  try {
    const out = path.join(dir, "OUT.tsv");
    fs.writeFileSync(out, "b\t1\na\t2\n");
    fs.writeFileSync(out + ".gale-merge", "wc-1\n1\n");
    await assert.rejects(
      mergeOutput({ path: out, topologyId: "wc-1", tasks: 2, words: ["c"], counts: [1] }),
      /line 2: "a" after "b": lines not sorted by word/,
    );
    fs.writeFileSync(out + ".gale-merge", "wc-1\n2\n");
    await assert.rejects(mergeOutput({ path: out, topologyId: "wc-1", tasks: 2, words: ["c"], counts: [1] }), /2 of 2 tasks merged already/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the count bolt runs as a process: counts, finishes, writes its file", async () => {
  const { runCase } = await import("./conformance/harness");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gale-wc-"));
  const out = path.join(dir, "OUT.tsv");
  try {
    const input = (id: number, w: string) => ({ id, stream: "default", source_task: 1, values: [w] });
    await runCase(
      {
        name: "wordcount-count",
        component: "bolt",
        welcome: {
          component: "count",
          taskId: 2,
          config: { "wordcount.output": { stringValue: out } },
          componentTasks: { split: { ids: [1] }, count: { ids: [2] } },
          outputs: [{ id: "default", fields: ["word", "count"] }],
          inputs: [{ component: "split", stream: "default", grouping: { type: "GROUPING_TYPE_FIELDS", fields: ["word"] } }],
          sourceFields: { "split:default": { names: ["word"] } },
        },
        steps: [
          { send: { inputs: [input(1, "éa"), input(2, "b"), input(3, "éa"), input(4, "😀")] } },
          { expect: [{ ack: 1 }, { ack: 2 }, { ack: 3 }, { ack: 4 }] },
          { send: { end_of_input: {} } },
          { expect: [{ log: { level: "info", contains: ["merged", "3 words"] } }, { finished: {} }] },
        ],
      },
      { argv: () => [process.execPath, path.join(EXAMPLE, "count.js")] },
    );
    assert.equal(fs.readFileSync(out, "utf8"), "b\t1\néa\t2\n😀\t1\n");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
