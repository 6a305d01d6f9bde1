/**
 * The one backend setup for tests and benches: a database, a blob store, an
 * event bus and a limiter for one test file (or one bench run), and the
 * environment block that points a runtime, or a child process, at them.
 *
 *   database  "postgres": a fresh database on the shared server (TEST_DATABASE_URL)
 *             "embedded": PGlite from libs/embedded-pg, started in this process on
 *                         a loopback port, the same code path as `npm start`
 *   blobs     "s3": an s3rver of the file's own; "fs": a temp directory
 *   nats      true (the shared server, own subject prefix) or a URL; else in-process
 *   redis     true (the shared server, own key prefix) or a URL; else in memory
 *
 * The database defaults to TEST_DATABASE (postgres | embedded), so one suite
 * runs on both: its *.embedded.test.ts twin calls useDatabase("embedded") and
 * imports it.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Config, loadConfig } from "@aerogram/config";
import type { Runtime } from "@aerogram/runtime";
import { createTestDatabase, migratedEmbeddedTemplate, type TestDatabase } from "./postgres.ts";
import { startS3, type TestS3 } from "./s3.ts";
import { TEST_NATS_URL, TEST_REDIS_URL, uniqueId } from "./servers.ts";
import { tempDir } from "./temp.ts";

const execFileAsync = promisify(execFile);

export type DatabaseKind = "postgres" | "embedded";
export type BlobKind = "s3" | "fs";

/** The database kind a backend gets when the test does not name one: TEST_DATABASE, else postgres. */
export function testDatabaseKind(): DatabaseKind {
  const kind = process.env.TEST_DATABASE ?? "postgres";
  if (kind !== "postgres" && kind !== "embedded")
    throw new Error(`TEST_DATABASE must be "postgres" or "embedded", got ${JSON.stringify(kind)}`);
  return kind;
}

/** Selects the default database for every backend this process starts from now on. */
export function useDatabase(kind: DatabaseKind): void {
  process.env.TEST_DATABASE = kind;
}

export interface BackendEnvParts {
  databaseUrl: string;
  s3?: Pick<TestS3, "endpoint" | "bucket" | "region" | "accessKeyId" | "secretAccessKey">;
  /** Filesystem blobs (and DATA_DIR) under this directory, when there is no s3. */
  dataDir?: string;
  /** true: the shared NATS (TEST_NATS_URL); a string: that URL; absent: the in-process bus. */
  nats?: boolean | string;
  /** true: the shared Redis (TEST_REDIS_URL); a string: that URL; absent: the in-memory limiter. */
  redis?: boolean | string;
  /** Any other variables (LOG_LEVEL, MAIL_HOSTNAME, ports, limits); they win over the defaults. */
  settings?: Record<string, string>;
}

/**
 * The environment block (variable → value, as libs/config reads it) for the
 * given parts. Subject and key prefixes are unique per call, so files sharing
 * NATS and Redis never see each other's events or keys.
 */
export function backendEnv(parts: BackendEnvParts): Record<string, string> {
  const id = uniqueId();
  const env: Record<string, string> = {
    DATABASE_URL: parts.databaseUrl,
    LOG_LEVEL: "silent",
    DEMO_ACCOUNT: "false",
    NATS_SUBJECT_PREFIX: `t${id}`,
    REDIS_KEY_PREFIX: `t${id}:`,
  };
  if (parts.s3) {
    env.S3_BUCKET = parts.s3.bucket;
    env.S3_ENDPOINT = parts.s3.endpoint;
    env.S3_REGION = parts.s3.region;
    env.S3_ACCESS_KEY_ID = parts.s3.accessKeyId;
    env.S3_SECRET_ACCESS_KEY = parts.s3.secretAccessKey;
  }
  if (parts.dataDir) {
    env.DATA_DIR = parts.dataDir;
    if (!parts.s3) env.BLOB_DIR = join(parts.dataDir, "blobs");
  }
  if (parts.nats) env.NATS_URL = parts.nats === true ? TEST_NATS_URL : parts.nats;
  if (parts.redis) env.REDIS_URL = parts.redis === true ? TEST_REDIS_URL : parts.redis;
  return { ...env, ...parts.settings };
}

export interface TestBackendOptions<B extends BlobKind> {
  /** Default: testDatabaseKind(). */
  database?: DatabaseKind;
  /** Default: "s3". */
  blobs?: B;
  nats?: boolean | string;
  redis?: boolean | string;
  settings?: Record<string, string>;
}

export interface TestBackend<B extends BlobKind = BlobKind> {
  readonly database: DatabaseKind;
  /** The database: its URL, its name, and drop() (embedded: stops PGlite). */
  readonly db: TestDatabase;
  readonly s3: B extends "s3" ? TestS3 : undefined;
  /** A temp directory of this backend's own (blobs with "fs", PGlite's files with "embedded"). */
  readonly dir: string;
  /** The environment block; tests may add to it before opening runtimes or child processes. */
  readonly env: Record<string, string>;
  /** libs/config's Config of `env` plus `settings`. */
  config(settings?: Record<string, string>): Config;
  /** A runtime (store, blobs, events, limits) on this backend. */
  runtime(service: string, settings?: Record<string, string>): Promise<Runtime>;
  /** Stops the servers this backend started and removes its files (close runtimes first). */
  stop(): Promise<void>;
}

async function embeddedDatabase(dir: string): Promise<TestDatabase> {
  // Imported on demand: PGlite's WebAssembly is loaded only by files that use it.
  const { startEmbeddedPostgres } = await import("@aerogram/embedded-pg");
  // A copy of the migrated data directory (postgres.ts): PGlite's initdb and the migrations
  // take ~20 s on a loaded machine, a copy well under one.
  const pgDir = join(dir, "pg");
  await execFileAsync("cp", ["-a", await migratedEmbeddedTemplate(), pgDir]); // ~1,100 files: cp(1) is quicker than fs.cp
  const pglite = await startEmbeddedPostgres({ dir: pgDir, port: 0 });
  return { url: pglite.url, name: "postgres", drop: () => pglite.stop() };
}

export async function startTestBackend<B extends BlobKind = "s3">(
  opts: TestBackendOptions<B> = {},
): Promise<TestBackend<B>> {
  const database = opts.database ?? testDatabaseKind();
  const blobs: BlobKind = opts.blobs ?? "s3";
  const dir = await tempDir("aerogram-backend-");
  const stops: (() => Promise<void>)[] = [dir.remove];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s();
  };
  try {
    const db = database === "embedded" ? await embeddedDatabase(dir.path) : await createTestDatabase();
    stops.push(() => db.drop());
    const s3 = blobs === "s3" ? await startS3() : undefined;
    if (s3) stops.push(() => s3.stop());
    const env = backendEnv({
      databaseUrl: db.url,
      dataDir: dir.path,
      ...(s3 ? { s3 } : {}),
      ...(opts.nats ? { nats: opts.nats } : {}),
      ...(opts.redis ? { redis: opts.redis } : {}),
      ...(opts.settings ? { settings: opts.settings } : {}),
    });
    const config = (settings: Record<string, string> = {}) => loadConfig({ ...env, ...settings });
    return {
      database,
      db,
      s3: s3 as TestBackend<B>["s3"],
      dir: dir.path,
      env,
      config,
      async runtime(service, settings) {
        const { createRuntime } = await import("@aerogram/runtime");
        return createRuntime(config(settings), { service });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
