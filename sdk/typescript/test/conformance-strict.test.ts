// The bolt cases again with GALE_ACK_ORDER=strict (every ack in its place),
// compared in the cases' exact order: that mode promises more than the
// suite's ordering rule (conformance.test.ts runs the default mode).

import { test } from "node:test";
import { loadCases, runCase, compareEvents, DEFAULT_COMMAND } from "./conformance/harness";

for (const c of loadCases().filter((c) => c.component === "bolt")) {
  test(`conformance, strict ack order: ${c.name}`, { timeout: 30_000 }, () =>
    runCase(c, { ...DEFAULT_COMMAND, env: { GALE_ACK_ORDER: "strict" } }, compareEvents),
  );
}
