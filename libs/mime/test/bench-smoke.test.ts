/** The MIME benches in their smoke mode (libs/testkit bench.ts): a change that breaks it fails here. */
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

test("bench/decode-bench.ts runs in smoke mode and prints the decode cost of both encodings", {
  timeout: 120_000,
}, async () => {
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/decode-bench.ts", import.meta.url)), {
    args: ["--smoke"],
  });
  assert.equal(run.code, 0, run.output);
  for (const encoding of ["base64", "quoted-printable"]) {
    // wall ms, CPU ms and peak RSS (min / median / max) of the streaming decoder.
    assert.match(
      run.output,
      new RegExp(
        `^\\| ${encoding} \\| after \\| \\d+ / \\d+ / \\d+ \\| \\d+ / \\d+ / \\d+ \\| [\\d.]+ / [\\d.]+ / [\\d.]+ \\|$`,
        "m",
      ),
    );
    assert.match(
      run.output,
      new RegExp(`^\\| ${encoding} \\| after/before \\(medians\\) \\| [\\d.]+ \\|`, "m"),
    );
  }
});
