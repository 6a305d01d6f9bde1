/**
 * One database per test file on the shared PostgreSQL server.
 *
 * Most files want the schema, and running every migration costs each of them
 * about a second (more under load), so by default a file gets a copy of a
 * migrated template database (`CREATE DATABASE … TEMPLATE`, a file-level copy).
 * The template is named by a hash of libs/store's migrations, so a branch with
 * other migrations gets a template of its own and a changed migration a new
 * one; it is built once per server under an advisory lock (parallel files wait
 * for the first), migrated under a build name and renamed only when complete,
 * and it accepts no connections (PostgreSQL copies a template only while
 * nobody is connected to it). `{ empty: true }` gives an empty database, for
 * the tests of the migrations themselves.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { TEST_DATABASE_URL, uniqueId } from "./servers.ts";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** An empty database instead of a copy of the migrated template (tests of the migrations). */
  empty?: boolean;
}

const MIGRATIONS_DIR = resolve(import.meta.dirname, "../../store/src/migrations");
/** An arbitrary constant identifying "build the testkit's template database" among advisory locks. */
const TEMPLATE_LOCK_KEY = 0x7465_6d70; // "temp"

function databaseUrl(name: string): string {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A hash of every migration file's name and text (what migrate() would apply). */
function migrationsHash(): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()) {
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(resolve(MIGRATIONS_DIR, file)))
      .update("\0");
  }
  return hash.digest("hex").slice(0, 20);
}

/** The template database's name on the shared server. */
export function migratedTemplateName(): string {
  return `aerogram_tpl_${migrationsHash()}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `sql` again while another session is still connected to the database it needs to itself (55006). */
async function whenUnused(admin: pg.Client, sql: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(sql);
      return;
    } catch (err) {
      // A closed pool's backends leave asynchronously; give them a moment (at most ~10 s).
      if ((err as { code?: string }).code !== "55006" || attempt >= 100) throw err;
      await sleep(100);
    }
  }
}

let template: Promise<string> | undefined;

/** The migrated template's name, building it first when this server has none for these migrations. */
function migratedTemplate(): Promise<string> {
  template ??= buildTemplate().catch((err) => {
    template = undefined;
    throw err;
  });
  return template;
}

async function buildTemplate(): Promise<string> {
  const name = migratedTemplateName();
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
    try {
      const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      if (exists.rowCount) return name;
      const build = `aerogram_tplb_${uniqueId()}`;
      await admin.query(`CREATE DATABASE ${build}`);
      try {
        const { migrate } = await import("@aerogram/store");
        const pool = new pg.Pool({ connectionString: databaseUrl(build), max: 1 });
        try {
          await migrate(pool);
        } finally {
          await pool.end();
        }
        // Published under its final name only when complete; nobody may connect to it from now on.
        await whenUnused(admin, `ALTER DATABASE ${build} RENAME TO ${name}`);
        await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true`);
      } catch (err) {
        await admin.query(`DROP DATABASE IF EXISTS ${build} WITH (FORCE)`).catch(() => {});
        throw err;
      }
      return name;
    } finally {
      await admin.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY]);
    }
  } finally {
    await admin.end();
  }
}

/**
 * Creates a database for one test file: a copy of the migrated template, or empty with
 * `{ empty: true }`; drop() removes it (force-closing connections).
 */
export async function createTestDatabase(opts: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `aerogram_t_${uniqueId()}`;
  const from = opts.empty ? undefined : await migratedTemplate();
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    if (from) await whenUnused(admin, `CREATE DATABASE ${name} TEMPLATE ${from}`);
    else await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: databaseUrl(name),
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

let embeddedTemplate: Promise<string> | undefined;

/**
 * The embedded twin of the template database: a PGlite data directory (under the system's
 * temp directory, named by the migrations' hash and PGlite's version) that has been
 * initialised, migrated and closed cleanly; startTestBackend copies it for each embedded
 * backend. Built once per machine: parallel builders race, the first rename wins and the
 * others discard theirs, so a half-built directory is never used.
 */
export function migratedEmbeddedTemplate(): Promise<string> {
  embeddedTemplate ??= buildEmbeddedTemplate().catch((err) => {
    embeddedTemplate = undefined;
    throw err;
  });
  return embeddedTemplate;
}

async function buildEmbeddedTemplate(): Promise<string> {
  const pgliteVersion = (
    JSON.parse(
      readFileSync(
        resolve(import.meta.dirname, "../../../node_modules/@electric-sql/pglite/package.json"),
        "utf8",
      ),
    ) as { version: string }
  ).version;
  const final = join(tmpdir(), `aerogram-pglite-template-${migrationsHash()}-${pgliteVersion}`);
  const dataDir = join(final, "pg");
  if (existsSync(dataDir)) return dataDir;
  const build = `${final}.build-${uniqueId()}`;
  await mkdir(build, { recursive: true });
  try {
    const { startEmbeddedPostgres } = await import("@aerogram/embedded-pg");
    const { migrate } = await import("@aerogram/store");
    const pglite = await startEmbeddedPostgres({ dir: join(build, "pg"), port: 0 });
    try {
      const pool = new pg.Pool({ connectionString: pglite.url, max: 1 });
      try {
        await migrate(pool);
      } finally {
        await pool.end();
      }
    } finally {
      await pglite.stop();
    }
    try {
      await rename(build, final);
    } catch (err) {
      // Another process published the same template first: use theirs.
      if (!existsSync(dataDir)) throw err;
    }
  } finally {
    await rm(build, { recursive: true, force: true });
  }
  return dataDir;
}
