/**
 * What every bench shares: its knobs and its smoke mode. A bench's smoke mode
 * (BENCH_SMOKE=1, or --smoke) runs the same code path with a tiny N for a few
 * seconds and without any reference server, so `npm test` runs every bench
 * (each package's test/bench-smoke.test.ts) and a change that breaks one fails CI.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";

/** Whether this bench process runs in smoke mode. */
export function benchSmoke(): boolean {
  return process.env.BENCH_SMOKE === "1" || process.argv.includes("--smoke");
}

/** A numeric knob: the environment variable when set, else the smoke or the full value. */
export function benchKnob(name: string, full: number, smoke: number): number {
  const v = process.env[name];
  if (v !== undefined && v !== "") {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
    return n;
  }
  return benchSmoke() ? smoke : full;
}

export interface BenchRun {
  code: number | null;
  output: string;
}

/**
 * Runs a bench script (a path relative to the caller's package, or absolute)
 * in smoke mode in a child process, the way `npm run bench` runs it; resolves
 * with its exit code and everything it printed.
 */
export function runBenchSmoke(
  script: string,
  opts: { args?: string[]; env?: Record<string, string>; nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<BenchRun> {
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), "--import", "tsx", resolve(script), ...(opts.args ?? [])],
    { env: { ...process.env, ...opts.env, BENCH_SMOKE: "1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  return new Promise((res) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      res({ code, output });
    }),
  );
}
