#!/usr/bin/env node
// Runs every *.test.ts under the given roots (folders or test files; default: the whole repo) with Node's
// own test runner and tsx. Node 20's --test takes file paths, not globs, so we
// collect them here. Test files run in parallel subprocesses; each one isolates
// itself (own database, bucket, subject and key prefix) so that is safe.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const roots = args.filter((a) => !a.startsWith("--"));
const passThrough = args.filter((a) => a.startsWith("--"));
const skipDirs = new Set(["node_modules", ".git", "data", "dist", ".turbo", "fixtures", "bench"]);

function collect(dir, out) {
  if (statSync(dir).isFile()) {
    if (dir.endsWith(".test.ts")) out.push(dir);
    return out;
  }
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue;
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) collect(path, out);
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const files = (roots.length ? roots : [repo]).flatMap((r) => collect(resolve(process.cwd(), r), [])).sort();
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "4";
const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, ...passThrough, ...files],
  { stdio: "inherit", cwd: repo },
);
console.error(`running ${files.length} test files: ${files.map((f) => relative(repo, f)).join(" ")}`);
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
