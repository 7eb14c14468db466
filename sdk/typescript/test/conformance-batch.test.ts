// The bolt conformance cases again with GALE_ACK_ORDER=batch, compared by
// ATTACH.md's ordering rule instead of the suite's total order: everything
// but acks and fails in the suite's order, the same acks and fails, and no
// ack or fail of an input before an emit anchored to it.

import { test } from "node:test";
import { loadCases, runCase, compareEvents, DEFAULT_COMMAND, type Event } from "./conformance/harness";

const isAckFail = (e: object): boolean => "ack" in e || "fail" in e;
const idOf = (e: object): number => ("ack" in e ? (e as { ack: number }).ack : (e as { fail: number }).fail);

function byOrderingRule(want: object[], got: Event[]): string | undefined {
  const show = `\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`;
  const rest = compareEvents(want.filter((e) => !isAckFail(e)), got.filter((e) => !isAckFail(e)));
  if (rest !== undefined) return `without acks: ${rest}`;
  const key = (e: object) => `${"ack" in e ? "ack" : "fail"}:${idOf(e)}`;
  const a = want.filter(isAckFail).map(key).sort().join();
  const b = got.filter(isAckFail).map(key).sort().join();
  if (a !== b) return `acks/fails ${b}, want ${a}${show}`;
  for (let p = 0; p < got.length; p++) {
    if (!isAckFail(got[p])) continue;
    const id = idOf(got[p]);
    for (let q = p + 1; q < got.length; q++) {
      const e = got[q];
      if ("emit" in e && e.emit.anchors.includes(id)) return `input ${id} settled at event ${p}, before an emit anchored to it (event ${q})${show}`;
    }
  }
  return undefined;
}

for (const c of loadCases().filter((c) => c.component === "bolt")) {
  test(`conformance, batch ack order: ${c.name}`, { timeout: 30_000 }, () =>
    runCase(c, { ...DEFAULT_COMMAND, env: { GALE_ACK_ORDER: "batch" } }, byOrderingRule),
  );
}
