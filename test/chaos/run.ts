/**
 * `npm run chaos` (the short form, as in `npm test`) and `npm run chaos:full`
 * (N = 1,000 messages, 20 kills, 5,000 slow connections, 20,000 fuzz cases per
 * property): runs test/chaos/*.test.ts and prints the suite's summary counts.
 * Every knob can be overridden from the environment (see support.ts and each test).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "../..");
const full = process.argv.includes("--full");
const summaryFile = join(tmpdir(), `aerogram-chaos-${process.pid}.jsonl`);
const child = spawn(process.execPath, [join(repo, "scripts/test.mjs"), "test/chaos"], {
  cwd: repo,
  stdio: "inherit",
  env: {
    ...process.env,
    ...(full ? { CHAOS_FULL: "1" } : {}),
    CHAOS_SUMMARY_FILE: summaryFile,
    TEST_CONCURRENCY: process.env.TEST_CONCURRENCY ?? "2",
  },
});
child.on("exit", (code, signal) => {
  console.log(`\nchaos suite (${full ? "full" : "short"} form) summary:`);
  if (existsSync(summaryFile)) {
    for (const line of readFileSync(summaryFile, "utf8").split("\n").filter(Boolean)) {
      const { section, ...counts } = JSON.parse(line) as Record<string, unknown>;
      console.log(`  ${section}`);
      console.log(
        `    ${Object.entries(counts)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
      );
    }
    rmSync(summaryFile, { force: true });
  } else console.log("  (no counts recorded)");
  process.exit(signal ? 1 : (code ?? 1));
});
