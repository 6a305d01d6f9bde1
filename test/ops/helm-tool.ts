/**
 * A real helm binary for the chart tests, with no download at test time: the
 * npm package @aws-cdk/asset-kubectl-v20 ships a zip with helm (v3.8.1) and
 * kubectl inside it; we unzip helm once into node_modules/.cache.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "../..");
const CACHE = join(REPO, "node_modules/.cache/aerogram-helm");

export function helmBinary(): string {
  const binary = join(CACHE, "helm/helm");
  if (existsSync(binary)) return binary;
  const layerZip = join(
    dirname(createRequire(import.meta.url).resolve("@aws-cdk/asset-kubectl-v20")),
    "layer.zip",
  );
  mkdirSync(CACHE, { recursive: true });
  // `unzip` is a Debian package (.ci/run installs it when missing).
  execFileSync("unzip", ["-o", "-q", layerZip, "helm/helm", "-d", CACHE]);
  return binary;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  try {
    const stdout = execFileSync(helmBinary(), args, {
      cwd: REPO,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
      // No repository config, cache or plugins from the machine.
      env: { PATH: process.env.PATH ?? "", HOME: CACHE, HELM_CACHE_HOME: join(CACHE, "cache") },
    });
    return { code: 0, stdout, stderr: "" };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
  }
}
