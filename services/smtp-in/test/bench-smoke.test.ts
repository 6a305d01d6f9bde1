/** The SMTP-in bench in its smoke mode (libs/testkit bench.ts): a change that breaks it fails here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

test("bench/smtp-bench.ts runs in smoke mode and delivers without failures", {
  // Two servers start under tsx; on a machine at load 20+ that alone takes a minute.
  timeout: 300_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/smtp-bench.ts", import.meta.url)), {
    timeoutMs: 280_000,
  });
  assert.equal(run.code, 0, run.output);
  // The round on filesystem blobs:
  // | round | server | load1 | accepted/s | stored/s | CPU ms/msg | PG statements/msg | failed |
  assert.match(
    run.output,
    /^\| 1 \| aerogram \| [\d.]+ \| [1-9]\d* \| [1-9]\d* \| [\d.]+ \| \d+\.\d\d \| 0 \|$/m,
  );
  // Then the run with blobs in s3rver (250 only after blob + row are committed).
  assert.match(
    run.output,
    /^aerogram with s3rver blobs .*: [1-9]\d* msg\/s committed.*, 0 failed, CPU [\d.]+ ms\/msg/m,
  );
  assert.match(run.output, /^postfix: skipped \(smoke mode\)$/m);
});
