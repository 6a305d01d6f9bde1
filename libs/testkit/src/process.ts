/**
 * Runs Aerogram entry points (npm start's main, mailctl) as real child
 * processes, the way a newcomer or an operator would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dirname, "../../..");

/** Environment without any variable that would point Aerogram at outside servers. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(DATABASE_|S3_|NATS_|REDIS_|AEROGRAM_|DEMO_|.*_PORT$|DATA_DIR|BLOB_DIR|TLS_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, LOG_LEVEL: "warn", ...extra };
}

export interface RunningProcess {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout, or rejects after `timeoutMs` or on exit. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** `nodeArgs`: options for node itself (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
export function startTsProcess(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): RunningProcess {
  const child = spawn(
    process.execPath,
    [...nodeArgs, "--import", "tsx", resolve(REPO_ROOT, script), ...args],
    {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((res, rej) => {
        const started = Date.now();
        const tick = setInterval(() => {
          const m = out.match(re);
          if (m) {
            clearInterval(tick);
            res(m);
          } else if (child.exitCode !== null || Date.now() - started > timeoutMs) {
            clearInterval(tick);
            rej(new Error(`no ${re} in output (exit ${child.exitCode}); stdout:\n${out}\nstderr:\n${err}`));
          }
        }, 25);
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs a script to completion; resolves with its exit code and output. */
export async function runTsProcess(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startTsProcess(script, args, env);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((res) => p.child.once("exit", (c) => res(c)));
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
