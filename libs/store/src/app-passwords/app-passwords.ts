/**
 * App passwords (issue 23): per account, named, limited to some protocols,
 * revocable, with the last use (time and client IP) recorded.
 *
 * The secret is generated here (16 random letters, ~75 bits), shown once, and
 * stored as SHA-256 keyed by the account id: a random secret of that size
 * needs no slow hash, and a login finds its row by hash in one indexed query
 * instead of trying scrypt against every app password of the account.
 */
import { createHash, randomInt } from "node:crypto";
import type { Pool } from "../db.ts";

export const APP_PASSWORD_PROTOCOLS = ["imap", "pop3", "submission", "managesieve"] as const;
export type AppPasswordProtocol = (typeof APP_PASSWORD_PROTOCOLS)[number];

export interface AppPassword {
  id: number;
  accountId: number;
  name: string;
  protocols: AppPasswordProtocol[];
  createdAt: Date;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  revokedAt: Date | null;
}

export class AppPasswordExistsError extends Error {
  constructor(readonly appName: string) {
    super(`an app password named ${JSON.stringify(appName)} already exists`);
    this.name = "AppPasswordExistsError";
  }
}

export class InvalidAppPasswordError extends Error {
  override name = "InvalidAppPasswordError";
}

/** `abcd-efgh-ijkl-mnop`: what clients are told to paste (dashes optional when given back). */
const SHAPE = /^[a-z]{4}-?[a-z]{4}-?[a-z]{4}-?[a-z]{4}$/;

/** Could this password be an app password? (Saves the lookup for every other password.) */
export function looksLikeAppPassword(password: string): boolean {
  return SHAPE.test(password.trim().toLowerCase());
}

function secretHash(accountId: number, password: string): string {
  const canonical = password.trim().toLowerCase().replaceAll("-", "");
  return createHash("sha256").update(`${accountId}\0${canonical}`).digest("base64");
}

function generate(): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let s = "";
    for (let i = 0; i < 4; i++) s += letters[randomInt(letters.length)];
    groups.push(s);
  }
  return groups.join("-");
}

interface Row {
  id: number;
  account_id: number;
  name: string;
  protocols: AppPasswordProtocol[];
  created_at: Date;
  last_used_at: Date | null;
  last_used_ip: string | null;
  revoked_at: Date | null;
}

function toAppPassword(r: Row): AppPassword {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    protocols: r.protocols,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    lastUsedIp: r.last_used_ip,
    revokedAt: r.revoked_at,
  };
}

const COLUMNS = "id, account_id, name, protocols, created_at, last_used_at, last_used_ip, revoked_at";

export class AppPasswords {
  constructor(private readonly pool: Pool) {}

  /** Creates one; the secret is returned only here. */
  async create(
    accountId: number,
    name: string,
    protocols: readonly string[] = APP_PASSWORD_PROTOCOLS,
  ): Promise<{ appPassword: AppPassword; secret: string }> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > 100)
      throw new InvalidAppPasswordError("an app password's name is 1 to 100 characters");
    const scope = [...new Set(protocols.map((p) => p.trim().toLowerCase()))];
    const unknown = scope.filter((p) => !(APP_PASSWORD_PROTOCOLS as readonly string[]).includes(p));
    if (scope.length === 0 || unknown.length > 0)
      throw new InvalidAppPasswordError(`protocols are some of ${APP_PASSWORD_PROTOCOLS.join(", ")}`);
    const secret = generate();
    try {
      const { rows } = await this.pool.query<Row>(
        `INSERT INTO app_passwords (account_id, name, secret_hash, protocols) VALUES ($1, $2, $3, $4)
         RETURNING ${COLUMNS}`,
        [accountId, trimmed, secretHash(accountId, secret), scope],
      );
      return { appPassword: toAppPassword(rows[0]!), secret };
    } catch (err) {
      if ((err as { code?: string }).code === "23505") throw new AppPasswordExistsError(trimmed);
      throw err;
    }
  }

  /** Live ones first by name; revoked ones (kept for the audit trail) after. */
  async list(accountId: number): Promise<AppPassword[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM app_passwords WHERE account_id = $1
        ORDER BY revoked_at IS NOT NULL, name, id`,
      [accountId],
    );
    return rows.map(toAppPassword);
  }

  /** Revokes the live one with this name; false when there is none. */
  async revoke(accountId: number, name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "UPDATE app_passwords SET revoked_at = now() WHERE account_id = $1 AND name = $2 AND revoked_at IS NULL",
      [accountId, name.trim()],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * The live app password this secret is, when it allows `protocol`; records
   * the use (time and IP) in the same statement.
   */
  async verify(
    accountId: number,
    password: string,
    protocol: string,
    remoteAddress: string,
  ): Promise<AppPassword | undefined> {
    if (!looksLikeAppPassword(password)) return undefined;
    const { rows } = await this.pool.query<Row>(
      `UPDATE app_passwords SET last_used_at = now(), last_used_ip = $4
        WHERE account_id = $1 AND secret_hash = $2 AND revoked_at IS NULL AND $3 = ANY (protocols)
        RETURNING ${COLUMNS}`,
      [accountId, secretHash(accountId, password), protocol, remoteAddress],
    );
    return rows[0] && toAppPassword(rows[0]);
  }
}
