/** The MIME index bench in its smoke mode (libs/testkit bench.ts): a change that breaks it fails here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runBenchSmoke } from "@aerogram/testkit";

test("bench/index-bench.ts runs in smoke mode and prints its three figures", {
  timeout: 120_000,
}, async () => {
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/index-bench.ts", import.meta.url)), {
    nodeArgs: ["--expose-gc"],
  });
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^throughput: [\d.]+ MB\/s on 20 mixed messages/m);
  assert.match(run.output, /^memory: peak RSS growth [\d.]+ MB indexing a [\d.]+ MB streamed message/m);
  assert.match(run.output, /^index size: [\d.]+% of message bytes overall/m);
});
