/**
 * test/bench/embedded-delivery.ts (SMTP senders against `npm start` on the
 * embedded database) in its smoke mode: a change that breaks it fails here.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runBenchSmoke } from "@aerogram/testkit";

test("bench/embedded-delivery.ts runs in smoke mode and delivers every message", {
  timeout: 240_000,
}, async () => {
  const run = await runBenchSmoke(fileURLToPath(new URL("./bench/embedded-delivery.ts", import.meta.url)), {
    // Port 0: the kernel picks every port, the bench reads SMTP's from the startup banner.
    args: ["--smoke", "--port-base", "0"],
    timeoutMs: 230_000,
  });
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^2 senders x 3 messages, 1 rounds$/m);
  // msgs/s (min / median / max), not-250 answers (none), CPU ms per message.
  assert.match(run.output, /^\| \S+ \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \| 0 \| [\d.]+ \|$/m);
});
