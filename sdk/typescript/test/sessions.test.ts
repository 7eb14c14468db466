// The TypeScript Sessionize bolt's merge (examples/sessions/typescript,
// built by `make build`): Go's order and line format, the Go bolts' merge
// protocol. The whole topology is tested against the Go one by
// cmd/gale's TestLocalSessionsInTypeScript.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

interface Session {
  visitor: string;
  start: bigint;
  end: bigint;
  events: bigint;
}

const EXAMPLE = path.resolve(__dirname, "../../../../examples/sessions/typescript/dist");
const { mergeOutput, compareSessions } = require(path.join(EXAMPLE, "sessionize.js")) as {
  mergeOutput(file: string, topologyId: string, tasks: number, sessions: readonly Session[]): Promise<void>;
  compareSessions(a: Session, b: Session): number;
};

const s = (visitor: string, start: number, end = start, events = 1): Session => ({
  visitor,
  start: BigInt(start),
  end: BigInt(end),
  events: BigInt(events),
});

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "gale-sessions-"));
}

test("sessions sort by visitor in UTF-8 byte order, then start", () => {
  const got = [s("\uffff", 1), s("😀", 1), s("b", 2), s("b", -3), s("a", 9), s("é", 0)].sort(compareSessions);
  assert.deepEqual(
    got.map((x) => `${x.visitor}@${x.start}`),
    ["a@9", "b@-3", "b@2", "é@0", "\uffff@1", "😀@1"],
  );
});

test("tasks merge their sessions into one sorted file and clean up", async () => {
  const dir = tmpdir();
  try {
    const out = path.join(dir, "sessions.tsv");
    // Another run's leftovers are stale: overwritten.
    fs.writeFileSync(out, "zz\t1\t1\t1\n");
    fs.writeFileSync(out + ".gale-merge", "another-run\n1\n");
    const tasks = [
      [s("a", 1, 5, 2), s("c", 7)],
      [s("a", 1, 4, 3), s("b", 2), s("😀", 3)],
      [s("\uffff", 0)],
    ];
    await Promise.all(tasks.map((mine) => mergeOutput(out, "run-1", tasks.length, mine)));
    const text = fs.readFileSync(out, "utf8");
    const lines = text.split("\n").slice(0, -1);
    assert.equal(lines.length, 6);
    // Ties (same visitor and start) keep both lines.
    assert.deepEqual(lines.slice(0, 2).sort(), ["a\t1\t4\t3", "a\t1\t5\t2"]);
    assert.deepEqual(lines.slice(2), ["b\t2\t2\t1", "c\t7\t7\t1", "\uffff\t0\t0\t1", "😀\t3\t3\t1"]);
    assert.deepEqual(fs.readdirSync(dir), ["sessions.tsv"], "the last task removes the sidecar and the lock");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a corrupt output or merge state of the same run is refused", async () => {
  const dir = tmpdir();
  try {
    const out = path.join(dir, "sessions.tsv");
    fs.writeFileSync(out + ".gale-merge", "run-1\n1\n");
    fs.writeFileSync(out, "a\t1\t1\t1\nb\tsoon\t1\t1\n");
    await assert.rejects(mergeOutput(out, "run-1", 2, [s("c", 1)]), /line 2: .*bad number "soon": corrupt sessions output/);
    fs.writeFileSync(out, "b\t1\t1\t1\na\t1\t1\t1\n");
    await assert.rejects(mergeOutput(out, "run-1", 2, [s("c", 1)]), /line 2: not sorted by visitor, start/);
    fs.writeFileSync(out + ".gale-merge", "run-1\n2\n");
    await assert.rejects(mergeOutput(out, "run-1", 2, [s("c", 1)]), /2 of 2 tasks merged already/);
    fs.writeFileSync(out + ".gale-merge", "run-1\n0x1\n");
    await assert.rejects(mergeOutput(out, "run-1", 2, [s("c", 1)]), /is not a task count/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
