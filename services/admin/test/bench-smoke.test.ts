/** The storage-lifecycle bench in its smoke mode (libs/testkit bench.ts): a change that breaks it fails here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

test("bench/lifecycle-bench.ts runs in smoke mode and prints its rates", { timeout: 180_000 }, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/lifecycle-bench.ts", import.meta.url)));
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^import: [1-9]\d* msgs\/s .*mailctl CPU [\d.]+ ms\/msg$/m);
  assert.match(run.output, /^export: [1-9]\d* msgs\/s/m);
  assert.match(run.output, /^reclaim: [1-9]\d* msgs\/s/m);
  assert.match(run.output, /reclaim 10 objects freed/);
});
