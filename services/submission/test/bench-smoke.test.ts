/**
 * The submission bench's smoke mode (seconds): both systems, one round, the
 * comparison table printed. Figures are not judged here; the bench is where
 * they are read.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { REPO_ROOT, requireServer } from "@aerogram/testkit";

test("npm run bench -w @aerogram/submission -- --smoke runs end to end", { timeout: 240_000 }, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "services/submission/bench/submission-bench.ts", "--smoke"],
      { cwd: REPO_ROOT, timeout: 220_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
  assert.match(out, /round 1: aerogram accepted [\d.]+\/s delivered [\d.]+\/s/);
  assert.match(out, /\| accepted msgs\/s +\|/);
  assert.match(out, /\| end-to-end delivered\/s +\|/);
});
