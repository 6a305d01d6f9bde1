/**
 * Accounts, their aliases and the domains we host. Creating an account creates
 * its INBOX and the RFC 6154 special-use folders in the same transaction.
 */
import { type Pool, type Queryable, withTransaction } from "../db.ts";
import { DEFAULT_RECIPIENT_DELIMITER, resolveRecipient } from "../domains/resolve.ts";
import { createMailboxIn, DEFAULT_MAILBOXES } from "../mailboxes/mailboxes.ts";
import { accountUsage } from "../quota/quota.ts";
import { hashPassword, verifyPassword } from "./password.ts";

export interface Account {
  id: number;
  address: string;
  quotaBytes: number | null;
  disabled: boolean;
  createdAt: Date;
  aliases: string[];
  /** Mail protocols accept only app passwords (the main password is for the admin/web side). */
  requireAppPasswords: boolean;
}

/** What SMTP RCPT TO needs to know about an address, in one round trip (Accounts.recipient). */
export interface RecipientLookup {
  /** The address's domain is one we host. */
  localDomain: boolean;
  /** The account the address (primary or alias) belongs to, if any. */
  account?: {
    id: number;
    quotaBytes: number | null;
    disabled: boolean;
    /** Undefined only if the INBOX is missing (it is created with the account). */
    inboxId: number | undefined;
    /** Bytes stored in all its mailboxes; only read when it has a quota. */
    usedBytes: number | undefined;
    /** The account's primary address (the recipient may be an alias, sub-address or catch-all). */
    address: string;
    /** It has an active Sieve script. */
    hasSieve: boolean;
  };
  /** Forwarding address: deliver to these addresses through the outbound queue. */
  forward?: string[];
  /** RFC 5233 detail (`news` of `user+news@domain`), for Sieve's :detail. */
  detail?: string;
  via?: "address" | "subaddress" | "alias-domain" | "catch-all";
}

export class AccountExistsError extends Error {
  constructor(readonly address: string) {
    super(`address ${address} is already taken`);
    this.name = "AccountExistsError";
  }
}

export class InvalidAddressError extends Error {
  constructor(readonly address: string) {
    super(`${JSON.stringify(address)} is not a mailbox address (local@domain)`);
    this.name = "InvalidAddressError";
  }
}

/** Lowercases and checks local@domain (RFC 5321 §4.5.3.1 length limits). */
export function normalizeAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf("@");
  if (at < 1 || at === a.length - 1 || at > 64 || a.length - at - 1 > 255 || /[\s<>]/.test(a)) {
    throw new InvalidAddressError(address);
  }
  return a;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/** An accounts row as SELECT_ACCOUNT reads it (for the store's own modules: pop3/snapshot.ts). */
export interface AccountRow {
  id: number;
  address: string;
  quota_bytes: number | null;
  disabled: boolean;
  created_at: Date;
  aliases: string[];
  require_app_passwords: boolean;
}

const SELECT_ACCOUNT = `
  SELECT a.id, a.address, a.quota_bytes, a.disabled, a.created_at, a.require_app_passwords,
         COALESCE(array_agg(al.address ORDER BY al.address) FILTER (WHERE al.address IS NOT NULL), '{}') AS aliases
    FROM accounts a LEFT JOIN account_aliases al ON al.account_id = a.id`;

/** SELECT_ACCOUNT plus the stored password hash (logins; also pop3/snapshot.ts). */
export const SELECT_ACCOUNT_WITH_HASH = SELECT_ACCOUNT.replace(
  "a.created_at,",
  "a.created_at, a.password_hash,",
);

export function toAccount(r: AccountRow): Account {
  return {
    id: r.id,
    address: r.address,
    quotaBytes: r.quota_bytes,
    disabled: r.disabled,
    createdAt: r.created_at,
    aliases: r.aliases,
    requireAppPasswords: r.require_app_passwords,
  };
}

async function addressTaken(db: Queryable, address: string): Promise<boolean> {
  const { rowCount } = await db.query(
    "SELECT 1 FROM accounts WHERE address = $1 UNION ALL SELECT 1 FROM account_aliases WHERE address = $1",
    [address],
  );
  return (rowCount ?? 0) > 0;
}

export class Accounts {
  constructor(private readonly pool: Pool) {}

  /** Without `quotaBytes` (undefined) the account gets its domain's default quota, if any; null: no quota. */
  async create(input: { address: string; password: string; quotaBytes?: number | null }): Promise<Account> {
    const address = normalizeAddress(input.address);
    const hash = await hashPassword(input.password);
    return withTransaction(this.pool, async (tx) => {
      if (await addressTaken(tx, address)) throw new AccountExistsError(address);
      await tx.query("INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING", [domainOf(address)]);
      const { rows } = await tx.query<{ id: number }>(
        `INSERT INTO accounts (address, password_hash, quota_bytes)
         VALUES ($1, $2, CASE WHEN $4 THEN (SELECT default_quota_bytes FROM domains WHERE name = $5) ELSE $3 END)
         RETURNING id`,
        [address, hash, input.quotaBytes ?? null, input.quotaBytes === undefined, domainOf(address)],
      );
      const id = rows[0]!.id;
      for (const mb of DEFAULT_MAILBOXES) await createMailboxIn(tx, id, mb.name, mb.specialUse);
      const created = await tx.query<AccountRow>(`${SELECT_ACCOUNT} WHERE a.id = $1 GROUP BY a.id`, [id]);
      return toAccount(created.rows[0]!);
    });
  }

  async byId(id: number): Promise<Account | undefined> {
    const { rows } = await this.pool.query<AccountRow>(`${SELECT_ACCOUNT} WHERE a.id = $1 GROUP BY a.id`, [
      id,
    ]);
    return rows[0] && toAccount(rows[0]);
  }

  /** The account an address (primary or alias) delivers to. */
  async byAddress(address: string): Promise<Account | undefined> {
    const a = address.trim().toLowerCase();
    const { rows } = await this.pool.query<AccountRow>(
      `${SELECT_ACCOUNT}
        WHERE a.id = (SELECT id FROM accounts WHERE address = $1
                      UNION ALL SELECT account_id FROM account_aliases WHERE address = $1 LIMIT 1)
        GROUP BY a.id`,
      [a],
    );
    return rows[0] && toAccount(rows[0]);
  }

  async list(): Promise<Account[]> {
    const { rows } = await this.pool.query<AccountRow>(`${SELECT_ACCOUNT} GROUP BY a.id ORDER BY a.address`);
    return rows.map(toAccount);
  }

  /**
   * Checks a login. Returns the account only when it exists, is enabled and the
   * password matches; login names are the primary address or an alias.
   */
  async authenticate(address: string, password: string): Promise<Account | undefined> {
    const a = address.trim().toLowerCase();
    const { rows } = await this.pool.query<AccountRow & { password_hash: string }>(
      `${SELECT_ACCOUNT_WITH_HASH}
        WHERE a.id = (SELECT id FROM accounts WHERE address = $1
                      UNION ALL SELECT account_id FROM account_aliases WHERE address = $1 LIMIT 1)
        GROUP BY a.id`,
      [a],
    );
    const row = rows[0];
    if (!row || row.disabled) return undefined;
    return (await verifyPassword(password, row.password_hash)) ? toAccount(row) : undefined;
  }

  /**
   * A login name's (address or alias, any case) account and its stored
   * password hash, in one query: what byAddress and passwordHash return
   * together (the Authenticator's CredentialLookup, so a POP3 login costs one
   * round trip, not two).
   */
  async loginCredentials(address: string): Promise<{ account: Account; passwordHash: string } | undefined> {
    const a = address.trim().toLowerCase();
    const { rows } = await this.pool.query<AccountRow & { password_hash: string }>({
      // Named: prepared once per connection, so each login skips the parse and plan.
      name: "pop3-login-credentials",
      text: `${SELECT_ACCOUNT_WITH_HASH}
        WHERE a.id = (SELECT id FROM accounts WHERE address = $1
                      UNION ALL SELECT account_id FROM account_aliases WHERE address = $1 LIMIT 1)
        GROUP BY a.id`,
      values: [a],
    });
    const r = rows[0];
    return r ? { account: toAccount(r), passwordHash: r.password_hash } : undefined;
  }

  /** The stored scrypt hash (for the authenticator's credential cache key). */
  async passwordHash(id: number): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ password_hash: string }>(
      "SELECT password_hash FROM accounts WHERE id = $1",
      [id],
    );
    return rows[0]?.password_hash;
  }

  async setPassword(id: number, password: string): Promise<void> {
    await this.pool.query("UPDATE accounts SET password_hash = $2 WHERE id = $1", [
      id,
      await hashPassword(password),
    ]);
  }

  async setDisabled(id: number, disabled: boolean): Promise<void> {
    await this.pool.query("UPDATE accounts SET disabled = $2 WHERE id = $1", [id, disabled]);
  }

  async setRequireAppPasswords(id: number, required: boolean): Promise<void> {
    await this.pool.query("UPDATE accounts SET require_app_passwords = $2 WHERE id = $1", [id, required]);
  }

  async setQuota(id: number, quotaBytes: number | null): Promise<void> {
    await this.pool.query("UPDATE accounts SET quota_bytes = $2 WHERE id = $1", [id, quotaBytes]);
  }

  async addAlias(id: number, alias: string): Promise<void> {
    const address = normalizeAddress(alias);
    await withTransaction(this.pool, async (tx) => {
      if (await addressTaken(tx, address)) throw new AccountExistsError(address);
      await tx.query("INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING", [domainOf(address)]);
      await tx.query("INSERT INTO account_aliases (address, account_id) VALUES ($1, $2)", [address, id]);
    });
  }

  async removeAlias(alias: string): Promise<void> {
    await this.pool.query("DELETE FROM account_aliases WHERE address = $1", [alias.trim().toLowerCase()]);
  }

  /** Deletes the account with its mailboxes and message rows; blobs are left to the garbage collector. */
  async delete(id: number): Promise<void> {
    await this.pool.query("DELETE FROM accounts WHERE id = $1", [id]);
  }

  /** Bytes used across all mailboxes (for quota checks). */
  usage(id: number): Promise<{ bytes: number; messages: number }> {
    return accountUsage(this.pool, id);
  }

  /**
   * RCPT TO's questions in one statement for the common case: is the domain
   * ours, whose address is it (primary, alias, `user+tag` sub-address), is it
   * enabled, its INBOX, and (with a quota) its usage. Alias domains, catch-alls
   * and forwards are resolved too (domains/resolve.ts). `delimiters`: the
   * sub-address separator characters ("" turns sub-addressing off).
   */
  async recipient(
    address: string,
    delimiters: string = DEFAULT_RECIPIENT_DELIMITER,
  ): Promise<RecipientLookup> {
    return resolveRecipient(this.pool, address.trim().toLowerCase(), delimiters);
  }

  async isLocalDomain(domain: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("SELECT 1 FROM domains WHERE name = $1", [
      domain.toLowerCase(),
    ]);
    return (rowCount ?? 0) > 0;
  }

  /** APOP: the account's id, its POP3 shared secret (null when APOP is off for it) and whether it is disabled. */
  async apopSecret(
    address: string,
  ): Promise<{ accountId: number; secret: string | null; disabled: boolean } | undefined> {
    const a = address.trim().toLowerCase();
    const { rows } = await this.pool.query<{ id: number; pop3_secret: string | null; disabled: boolean }>(
      `SELECT a.id, a.pop3_secret, a.disabled FROM accounts a
        WHERE a.address = $1 OR a.id = (SELECT account_id FROM account_aliases WHERE address = $1)`,
      [a],
    );
    const r = rows[0];
    return r ? { accountId: r.id, secret: r.pop3_secret, disabled: r.disabled } : undefined;
  }

  /** Sets (or with null clears) an account's APOP secret. */
  async setApopSecret(accountId: number, secret: string | null): Promise<void> {
    await this.pool.query("UPDATE accounts SET pop3_secret = $2 WHERE id = $1", [accountId, secret]);
  }
}
