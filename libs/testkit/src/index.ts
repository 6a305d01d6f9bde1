/**
 * Fixtures for integration tests against the real servers. Every test file gets
 * its own Postgres database, S3 bucket (on an s3rver it starts), NATS subject
 * prefix and Redis key prefix, so files can run in parallel.
 *
 * Server addresses come from TEST_DATABASE_URL, TEST_NATS_URL, TEST_REDIS_URL
 * (defaults: the services this machine kind runs on 127.0.0.1). When a server is
 * unreachable the test fails under CI=true and is skipped (with the reason) otherwise.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import pg from "pg";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A short unique token for names (databases, buckets, subjects, keys). */
export function uniqueId(): string {
  return `${process.pid.toString(36)}${randomBytes(4).toString("hex")}`;
}

function tcpReachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = netConnect({ host: u.hostname || "127.0.0.1", port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/**
 * Ensures a real server is reachable. Under CI=true an unreachable server is a
 * failure (nothing may be skipped); elsewhere the test is skipped with a reason.
 * Returns false when the caller should return early.
 */
export async function requireServer(t: TestContext, name: "postgres" | "nats" | "redis"): Promise<boolean> {
  const [url, port] =
    name === "postgres"
      ? [TEST_DATABASE_URL, 5432]
      : name === "nats"
        ? [TEST_NATS_URL, 4222]
        : [TEST_REDIS_URL, 6379];
  if (await tcpReachable(url, port)) return true;
  const msg = `${name} is not reachable at ${url}`;
  if (process.env.CI === "true") throw new Error(`${msg} (CI=true: integration servers are required)`);
  t.skip(msg);
  return false;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database for one test file; drop() removes it (force-closing connections). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `aerogram_t_${uniqueId()}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestS3 {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/**
 * Starts a real S3-compatible server (s3rver) on a free loopback port with one
 * bucket, in a child process (s3rver-process.mjs says why).
 */
export async function startS3(): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), "aerogram-s3-"));
  // Bucket names must be DNS-valid: lowercase letters, digits and hyphens.
  const bucket = `aerogram-t-${uniqueId()}`;
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", join(import.meta.dirname, "s3rver-process.mjs"), directory, bucket],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`s3rver did not start within 30 s: ${stderr}`)),
        30_000,
      );
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const line = /^(\{.*\})\n/.exec(out);
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line[1]!) as { port: number }).port);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited (${code}) before listening: ${stderr}`));
      });
    });
  } catch (err) {
    child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(prefix = "aerogram-"): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
export * from "./process.ts";

/** A throwaway self-signed certificate (openssl) for TLS tests: PEM file paths in `dir`. */
export function selfSignedCertificate(
  dir: string,
  commonName = "aerogram.test",
): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${commonName}.crt`);
  const keyFile = join(dir, `${commonName}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "1",
      "-subj",
      `/CN=${commonName}`,
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}
export * from "./proc-cpu.ts";
export * from "./text-client.ts";
