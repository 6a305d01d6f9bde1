/**
 * Sieve scripts per account (migration 020): source and compiled form, the
 * one active script (RFC 5804 §2.8), the vacation memory (RFC 5230 §4.2) and
 * the per-account daily redirect budget.
 */
import { type Pool, withTransaction } from "../db.ts";

export interface SieveScriptRow {
  name: string;
  source: string;
  compiled: unknown;
  compilerVersion: number;
  active: boolean;
}

export class SieveScriptExistsError extends Error {
  constructor(readonly scriptName: string) {
    super(`a script named ${scriptName} exists`);
    this.name = "SieveScriptExistsError";
  }
}

export class SieveScripts {
  constructor(private readonly pool: Pool) {}

  async list(accountId: number): Promise<{ name: string; active: boolean; size: number }[]> {
    const { rows } = await this.pool.query<{ name: string; active: boolean; size: number }>(
      "SELECT name, active, octet_length(source) AS size FROM sieve_scripts WHERE account_id = $1 ORDER BY name",
      [accountId],
    );
    return rows.map((r) => ({ name: r.name, active: r.active, size: Number(r.size) }));
  }

  async get(accountId: number, name: string): Promise<SieveScriptRow | undefined> {
    const { rows } = await this.pool.query<{
      name: string;
      source: string;
      compiled: unknown;
      compiler_version: number;
      active: boolean;
    }>(
      "SELECT name, source, compiled, compiler_version, active FROM sieve_scripts WHERE account_id = $1 AND name = $2",
      [accountId, name],
    );
    const r = rows[0];
    return (
      r && {
        name: r.name,
        source: r.source,
        compiled: r.compiled,
        compilerVersion: r.compiler_version,
        active: r.active,
      }
    );
  }

  /** The active script, if any (every delivery asks: one indexed read). */
  async active(accountId: number): Promise<SieveScriptRow | undefined> {
    const { rows } = await this.pool.query<{
      name: string;
      source: string;
      compiled: unknown;
      compiler_version: number;
    }>(
      "SELECT name, source, compiled, compiler_version FROM sieve_scripts WHERE account_id = $1 AND active",
      [accountId],
    );
    const r = rows[0];
    return (
      r && {
        name: r.name,
        source: r.source,
        compiled: r.compiled,
        compilerVersion: r.compiler_version,
        active: true,
      }
    );
  }

  /** Stores (or replaces) a script, keeping its active state. */
  async put(
    accountId: number,
    name: string,
    source: string,
    compiled: unknown,
    compilerVersion: number,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO sieve_scripts (account_id, name, source, compiled, compiler_version)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, name) DO UPDATE
           SET source = EXCLUDED.source, compiled = EXCLUDED.compiled,
               compiler_version = EXCLUDED.compiler_version, updated_at = now()`,
      [accountId, name, source, JSON.stringify(compiled), compilerVersion],
    );
  }

  async count(accountId: number): Promise<{ scripts: number; bytes: number }> {
    const { rows } = await this.pool.query<{ n: string; b: string | null }>(
      "SELECT count(*) AS n, sum(octet_length(source)) AS b FROM sieve_scripts WHERE account_id = $1",
      [accountId],
    );
    return { scripts: Number(rows[0]!.n), bytes: Number(rows[0]!.b ?? 0) };
  }

  /** Makes `name` the active script ("" deactivates all). False if no such script. */
  async setActive(accountId: number, name: string): Promise<boolean> {
    return withTransaction(this.pool, async (tx) => {
      if (name !== "") {
        const exists = await tx.query("SELECT 1 FROM sieve_scripts WHERE account_id = $1 AND name = $2", [
          accountId,
          name,
        ]);
        if (!exists.rowCount) return false;
      }
      await tx.query("UPDATE sieve_scripts SET active = false WHERE account_id = $1 AND active", [accountId]);
      if (name !== "") {
        await tx.query("UPDATE sieve_scripts SET active = true WHERE account_id = $1 AND name = $2", [
          accountId,
          name,
        ]);
      }
      return true;
    });
  }

  /** Deletes an inactive script: "deleted", "missing" or "active" (RFC 5804 §2.10 refuses the active one). */
  async delete(accountId: number, name: string): Promise<"deleted" | "missing" | "active"> {
    const { rows } = await this.pool.query<{ active: boolean }>(
      "SELECT active FROM sieve_scripts WHERE account_id = $1 AND name = $2",
      [accountId, name],
    );
    if (!rows[0]) return "missing";
    if (rows[0].active) return "active";
    await this.pool.query("DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2 AND NOT active", [
      accountId,
      name,
    ]);
    return "deleted";
  }

  async rename(accountId: number, from: string, to: string): Promise<"renamed" | "missing" | "exists"> {
    return withTransaction(this.pool, async (tx) => {
      const taken = await tx.query("SELECT 1 FROM sieve_scripts WHERE account_id = $1 AND name = $2", [
        accountId,
        to,
      ]);
      if (taken.rowCount) return "exists";
      const r = await tx.query(
        "UPDATE sieve_scripts SET name = $3, updated_at = now() WHERE account_id = $1 AND name = $2",
        [accountId, from, to],
      );
      return r.rowCount ? "renamed" : "missing";
    });
  }

  /**
   * Vacation memory: true (and the send recorded) when no response went to
   * `sender` for `handle` within `days`; false when one did. One statement,
   * so two deliveries at once can't both answer.
   */
  async vacationShouldSend(
    accountId: number,
    handle: string,
    sender: string,
    days: number,
  ): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO sieve_vacation_sent (account_id, handle, sender) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, handle, sender) DO UPDATE SET sent_at = now()
           WHERE sieve_vacation_sent.sent_at <= now() - $4 * interval '1 day'`,
      [accountId, handle, sender.toLowerCase(), days],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Takes one redirect from today's budget; false when `limit` are used. */
  async takeRedirect(accountId: number, limit: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO sieve_redirect_budget (account_id, day, count) VALUES ($1, current_date, 1)
         ON CONFLICT (account_id, day) DO UPDATE SET count = sieve_redirect_budget.count + 1
           WHERE sieve_redirect_budget.count < $2`,
      [accountId, limit],
    );
    return (rowCount ?? 0) > 0;
  }
}
