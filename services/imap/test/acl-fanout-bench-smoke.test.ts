/**
 * bench/acl-fanout-bench.ts in smoke mode (20 grantees, 2 rounds): a change in a
 * mailbox shared with every grantee is ONE publish and reaches every grantee's
 * IDLE session on the other gateway process.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

test("bench/acl-fanout-bench.ts: one publish per change to a mailbox shared with 20 users, all idlers woken", {
  timeout: 340_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres", "nats", "redis"]))) return;
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/acl-fanout-bench.ts", import.meta.url)), {
    timeoutMs: 330_000,
  });
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^setup: 20 sessions idling \(0 failed\)/m);
  assert.match(run.output, /^publishes per APPEND +1\.0 \/ 1\.0 \/ 1\.0$/m);
  assert.match(run.output, /^missed +0 of 40 idler-deliveries never seen$/m);
});
