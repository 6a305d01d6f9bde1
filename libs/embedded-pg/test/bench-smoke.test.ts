/** The session-server bench (bench/adapter.ts) in its smoke mode: a change that breaks it fails here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runBenchSmoke } from "@aerogram/testkit";

test("bench/adapter.ts runs in smoke mode and prints the session server's rates with no wrong answers", {
  timeout: 120_000,
}, async () => {
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/adapter.ts", import.meta.url)), {
    args: ["--smoke"],
  });
  assert.equal(run.code, 0, run.output);
  // queries/s and transactions/s (min / median / max), then the count of wrong answers.
  assert.match(
    run.output,
    /^\| session server \| [1-9]\d* \/ \d+ \/ \d+ \| [1-9]\d* \/ \d+ \/ \d+ \| 0 \|$/m,
  );
});
