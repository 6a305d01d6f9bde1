/**
 * Versioned SQL migrations, applied at start by every replica. An advisory lock
 * makes concurrent starts safe: one replica applies, the others wait and then
 * find nothing left to do. Each migration runs in its own transaction.
 * Versions are names, not a count: whatever is not in schema_migrations runs,
 * in ascending order, so the sequence may have gaps (there is no 004; see
 * migrations/README.md: never renumber or back-fill).
 */
import { readdir, readFile } from "node:fs/promises";
import type { Pool } from "./db.ts";

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);
// An arbitrary constant identifying "Aerogram schema migration" among advisory locks.
const MIGRATION_LOCK_KEY = 0x4165_726f; // "Aero"

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const version = Number.parseInt(file, 10);
    if (migrations.some((m) => m.version === version))
      throw new Error(`duplicate migration version ${version}`);
    migrations.push({ version, name: file, sql: await readFile(new URL(file, MIGRATIONS_DIR), "utf8") });
  }
  return migrations;
}

/** Applies every migration not yet applied; returns the versions it applied. */
export async function migrate(pool: Pool): Promise<number[]> {
  const migrations = await loadMigrations();
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
      const done = new Set(rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
            m.version,
            m.name,
          ]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
