// Runs every case of the shared Attach conformance suite
// (sdk/conformance/cases/*.json) against conf-bolt and conf-spout, each
// started as a real subprocess by a fake node (test/conformance/harness.ts).

import { test } from "node:test";
import { loadCases, runCase } from "./conformance/harness";

const cases = loadCases();

test("the suite has cases", () => {
  if (cases.length === 0) throw new Error("no conformance cases found");
});

for (const c of cases) {
  test(`conformance: ${c.name}`, { timeout: 30_000 }, () => runCase(c));
}
