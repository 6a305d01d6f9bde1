/** The SMTP-in bench in its smoke mode (libs/testkit bench.ts): a change that breaks it fails here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

test("bench/smtp-bench.ts runs in smoke mode and delivers without failures", {
  timeout: 180_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/smtp-bench.ts", import.meta.url)));
  assert.equal(run.code, 0, run.output);
  assert.match(
    run.output,
    /^aerogram \(250 after blob in s3rver \+ row in Postgres\): [1-9]\d* messages .* failures 0$/m,
  );
  assert.match(run.output, /^postfix: skipped \(smoke mode\)$/m);
});
