/** The POP3 bench in its smoke mode (libs/testkit bench.ts): a change that breaks it fails here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

test("bench/pop3-bench.ts runs in smoke mode and prints Aerogram's rates", {
  timeout: 180_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/pop3-bench.ts", import.meta.url)));
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^aerogram: [1-9]\d* sessions\/s, [1-9]\d* RETR\/s, [\d.]+ MB\/s$/m);
  assert.match(run.output, /^dovecot: skipped \(smoke mode\)$/m);
});
