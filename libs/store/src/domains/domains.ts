/**
 * First-class domains (issue 23): hosted domains with per-domain defaults, a
 * catch-all address, alias domains (local@alias delivers as local@target) and
 * forwarding addresses. Domains used to appear implicitly with an account's
 * first address; those rows are domains like any other.
 */

import { InvalidAddressError, normalizeAddress } from "../accounts/accounts.ts";
import { type Pool, withTransaction } from "../db.ts";

export interface Domain {
  name: string;
  /** Set for an alias domain: mail to local@name is delivered as local@aliasOf. */
  aliasOf: string | null;
  catchAll: string | null;
  defaultQuotaBytes: number | null;
  retentionDays: number | null;
  spamAction: "inbox" | "junk" | "reject" | null;
  createdAt: Date;
  accounts: number;
}

export interface DomainSettings {
  aliasOf?: string | null;
  catchAll?: string | null;
  defaultQuotaBytes?: number | null;
  retentionDays?: number | null;
  spamAction?: "inbox" | "junk" | "reject" | null;
}

export interface Forward {
  address: string;
  targets: string[];
}

export class DomainExistsError extends Error {
  constructor(readonly domain: string) {
    super(`domain ${domain} already exists`);
    this.name = "DomainExistsError";
  }
}

export class DomainNotFoundError extends Error {
  constructor(readonly domain: string) {
    super(`no domain ${domain}`);
    this.name = "DomainNotFoundError";
  }
}

/** The domain still has accounts, aliases or forwards (delete them first). */
export class DomainInUseError extends Error {
  constructor(
    readonly domain: string,
    readonly reason: string,
  ) {
    super(`domain ${domain} is in use: ${reason}`);
    this.name = "DomainInUseError";
  }
}

export class InvalidDomainError extends Error {
  constructor(
    readonly domain: string,
    reason = "not a domain name",
  ) {
    super(`${JSON.stringify(domain)}: ${reason}`);
    this.name = "InvalidDomainError";
  }
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lowercases and checks a DNS domain name (at least two labels). */
export function normalizeDomain(name: string): string {
  const d = name.trim().toLowerCase().replace(/\.$/, "");
  if (!DOMAIN.test(d)) throw new InvalidDomainError(name);
  return d;
}

interface DomainRow {
  name: string;
  alias_of: string | null;
  catch_all: string | null;
  default_quota_bytes: number | null;
  retention_days: number | null;
  spam_action: Domain["spamAction"];
  created_at: Date;
  accounts: number;
}

const SELECT_DOMAIN = `
  SELECT d.name, d.alias_of, d.catch_all, d.default_quota_bytes, d.retention_days, d.spam_action, d.created_at,
         (SELECT count(*) FROM accounts a WHERE a.address LIKE '%@' || d.name)::int AS accounts
    FROM domains d`;

function toDomain(r: DomainRow): Domain {
  return {
    name: r.name,
    aliasOf: r.alias_of,
    catchAll: r.catch_all,
    defaultQuotaBytes: r.default_quota_bytes,
    retentionDays: r.retention_days,
    spamAction: r.spam_action,
    createdAt: r.created_at,
    accounts: r.accounts,
  };
}

const COLUMNS: Record<keyof DomainSettings, string> = {
  aliasOf: "alias_of",
  catchAll: "catch_all",
  defaultQuotaBytes: "default_quota_bytes",
  retentionDays: "retention_days",
  spamAction: "spam_action",
};

function normalizeSettings(s: DomainSettings, self: string): DomainSettings {
  const out: DomainSettings = { ...s };
  if (s.aliasOf) {
    out.aliasOf = normalizeDomain(s.aliasOf);
    if (out.aliasOf === self) throw new InvalidDomainError(self, "a domain cannot be an alias of itself");
  }
  if (s.catchAll) out.catchAll = normalizeAddress(s.catchAll);
  return out;
}

export class Domains {
  constructor(private readonly pool: Pool) {}

  async add(name: string, settings: DomainSettings = {}): Promise<Domain> {
    const domain = normalizeDomain(name);
    const s = normalizeSettings(settings, domain);
    return withTransaction(this.pool, async (tx) => {
      if (s.aliasOf) {
        const target = await tx.query<{ alias_of: string | null }>(
          "SELECT alias_of FROM domains WHERE name = $1",
          [s.aliasOf],
        );
        if (!target.rows[0]) throw new DomainNotFoundError(s.aliasOf);
        if (target.rows[0].alias_of)
          throw new InvalidDomainError(domain, `${s.aliasOf} is itself an alias domain`);
      }
      const inserted = await tx.query("INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING", [
        domain,
      ]);
      if ((inserted.rowCount ?? 0) === 0) throw new DomainExistsError(domain);
      await this.applySettings(tx, domain, s);
      const { rows } = await tx.query<DomainRow>(`${SELECT_DOMAIN} WHERE d.name = $1`, [domain]);
      return toDomain(rows[0]!);
    });
  }

  async get(name: string): Promise<Domain | undefined> {
    const { rows } = await this.pool.query<DomainRow>(`${SELECT_DOMAIN} WHERE d.name = $1`, [
      name.trim().toLowerCase(),
    ]);
    return rows[0] && toDomain(rows[0]);
  }

  async list(): Promise<Domain[]> {
    const { rows } = await this.pool.query<DomainRow>(`${SELECT_DOMAIN} ORDER BY d.name`);
    return rows.map(toDomain);
  }

  async update(name: string, settings: DomainSettings): Promise<Domain> {
    const domain = name.trim().toLowerCase();
    const s = normalizeSettings(settings, domain);
    return withTransaction(this.pool, async (tx) => {
      const { rowCount } = await tx.query("SELECT 1 FROM domains WHERE name = $1 FOR UPDATE", [domain]);
      if (!rowCount) throw new DomainNotFoundError(domain);
      await this.applySettings(tx, domain, s);
      const { rows } = await tx.query<DomainRow>(`${SELECT_DOMAIN} WHERE d.name = $1`, [domain]);
      return toDomain(rows[0]!);
    });
  }

  /** Refuses while accounts, aliases or forwards of the domain exist (their mail would have nowhere to go). */
  async delete(name: string): Promise<void> {
    const domain = name.trim().toLowerCase();
    await withTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<{ what: string }>(
        `SELECT 'accounts' AS what FROM accounts WHERE address LIKE '%@' || $1
         UNION ALL SELECT 'aliases' FROM account_aliases WHERE address LIKE '%@' || $1
         UNION ALL SELECT 'forwards' FROM address_forwards WHERE address LIKE '%@' || $1
         UNION ALL SELECT 'alias domains' FROM domains WHERE alias_of = $1
         LIMIT 1`,
        [domain],
      );
      if (rows[0]) throw new DomainInUseError(domain, `it still has ${rows[0].what}`);
      const deleted = await tx.query("DELETE FROM domains WHERE name = $1", [domain]);
      if (!deleted.rowCount) throw new DomainNotFoundError(domain);
    });
  }

  /**
   * Adds (or replaces) a forwarding address; its domain must be one we host,
   * its targets must not be (a local target is an account alias instead, and
   * forwards between our own domains could loop through the outbound queue).
   */
  async setForward(address: string, targets: string[]): Promise<Forward> {
    const a = normalizeAddress(address);
    const list = [...new Set(targets.map((t) => normalizeAddress(t)))];
    if (list.length === 0 || list.length > 50) throw new InvalidAddressError(targets.join(","));
    if (list.includes(a)) throw new InvalidAddressError(a);
    return withTransaction(this.pool, async (tx) => {
      const domain = a.slice(a.lastIndexOf("@") + 1);
      const d = await tx.query("SELECT 1 FROM domains WHERE name = $1", [domain]);
      if (!d.rowCount) throw new DomainNotFoundError(domain);
      const targetDomains = list.map((t) => t.slice(t.lastIndexOf("@") + 1));
      const local = await tx.query<{ name: string }>(
        "SELECT name FROM domains WHERE name = ANY ($1::text[])",
        [targetDomains],
      );
      if (local.rows[0])
        throw new InvalidAddressError(
          `${local.rows[0].name} is hosted here: use an account alias, not a forward`,
        );
      const taken = await tx.query(
        "SELECT 1 FROM accounts WHERE address = $1 UNION ALL SELECT 1 FROM account_aliases WHERE address = $1",
        [a],
      );
      if (taken.rowCount) throw new DomainInUseError(domain, `${a} is an account or alias`);
      await tx.query(
        `INSERT INTO address_forwards (address, targets) VALUES ($1, $2)
         ON CONFLICT (address) DO UPDATE SET targets = EXCLUDED.targets`,
        [a, list],
      );
      return { address: a, targets: list };
    });
  }

  async removeForward(address: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM address_forwards WHERE address = $1", [
      address.trim().toLowerCase(),
    ]);
    return (rowCount ?? 0) > 0;
  }

  async listForwards(domain?: string): Promise<Forward[]> {
    const { rows } = await this.pool.query<{ address: string; targets: string[] }>(
      domain
        ? "SELECT address, targets FROM address_forwards WHERE address LIKE '%@' || $1 ORDER BY address"
        : "SELECT address, targets FROM address_forwards ORDER BY address",
      domain ? [domain.trim().toLowerCase()] : [],
    );
    return rows;
  }

  private async applySettings(tx: Pick<Pool, "query">, domain: string, s: DomainSettings): Promise<void> {
    const entries = Object.entries(s).filter(([, v]) => v !== undefined) as [keyof DomainSettings, unknown][];
    if (entries.length === 0) return;
    const sets = entries.map(([k], i) => `${COLUMNS[k]} = $${i + 2}`);
    await tx.query(`UPDATE domains SET ${sets.join(", ")} WHERE name = $1`, [
      domain,
      ...entries.map(([, v]) => v),
    ]);
  }
}
