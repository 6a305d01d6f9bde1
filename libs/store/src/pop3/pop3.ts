/**
 * The queries the POP3 gateway needs (services/pop3): a login's account and
 * password hash in one round trip, its snapshot of an account's INBOX in one
 * round trip, the per-blob CRLF sizes, and the APOP shared secret.
 */
import type { Account } from "../accounts/accounts.ts";
import type { Pool } from "../db.ts";

export interface Pop3SnapshotMessage {
  uid: number;
  /** Stored octets (RFC822.SIZE). */
  size: number;
  blobKey: string;
  /** Octets in CRLF form as RETR sends them, when a session already computed it for this blob. */
  crlfSize: number | null;
}

export interface Pop3Snapshot {
  mailboxId: number;
  uidValidity: number;
  /** The INBOX's HIGHESTMODSEQ as of this very read: every change up to it is in the snapshot. */
  highestModseq: number;
  /** Ascending by UID: message n is messages[n - 1]. */
  messages: Pop3SnapshotMessage[];
}

export class Pop3Queries {
  constructor(private readonly pool: Pool) {}

  /**
   * A login name's (address or alias, any case) account and its stored
   * password hash, in one query: what Accounts.byAddress and
   * Accounts.passwordHash return together (the Authenticator's
   * CredentialLookup, so a POP3 login costs one round trip, not two).
   */
  async loginCredentials(address: string): Promise<{ account: Account; passwordHash: string } | undefined> {
    const a = address.trim().toLowerCase();
    const { rows } = await this.pool.query<{
      id: number;
      address: string;
      quota_bytes: number | null;
      disabled: boolean;
      created_at: Date;
      password_hash: string;
      aliases: string[];
    }>({
      // Named: prepared once per connection, so each login skips the parse and plan.
      name: "pop3-login-credentials",
      text: `SELECT a.id, a.address, a.quota_bytes, a.disabled, a.created_at, a.password_hash,
              COALESCE(array_agg(al.address ORDER BY al.address) FILTER (WHERE al.address IS NOT NULL), '{}') AS aliases
         FROM accounts a LEFT JOIN account_aliases al ON al.account_id = a.id
        WHERE a.id = (SELECT id FROM accounts WHERE address = $1
                      UNION ALL SELECT account_id FROM account_aliases WHERE address = $1 LIMIT 1)
        GROUP BY a.id`,
      values: [a],
    });
    const r = rows[0];
    if (!r) return undefined;
    return {
      account: {
        id: r.id,
        address: r.address,
        quotaBytes: r.quota_bytes,
        disabled: r.disabled,
        createdAt: r.created_at,
        aliases: r.aliases,
      },
      passwordHash: r.password_hash,
    };
  }

  /**
   * The account's INBOX and its messages, or undefined when the account has no
   * INBOX. One row whatever the maildrop's size: the messages come as one
   * text of "uid size crlfSize blobKey" entries (crlfSize -1 when unknown)
   * joined by ",", which costs the gateway a split per message instead of a
   * protocol message and a row object with six parsed fields per message
   * (most of the snapshot's CPU before). Blob keys are SHA-256 hex
   * (libs/blobstore), so neither separator can occur inside an entry.
   */
  async inboxSnapshot(accountId: number): Promise<Pop3Snapshot | undefined> {
    const { rows } = await this.pool.query<{
      mailbox_id: number;
      uidvalidity: number;
      highestmodseq: number;
      messages: string | null;
    }>({
      name: "pop3-inbox-snapshot",
      text: `SELECT mb.id AS mailbox_id, mb.uidvalidity, mb.highestmodseq,
              (SELECT string_agg(m.uid || ' ' || m.size || ' ' || COALESCE(s.crlf_size, -1) || ' ' || m.blob_key,
                                 ',' ORDER BY m.uid)
                 FROM messages m LEFT JOIN pop3_blob_sizes s ON s.blob_key = m.blob_key
                WHERE m.mailbox_id = mb.id) AS messages
         FROM mailboxes mb
        WHERE mb.account_id = $1 AND mb.name = 'INBOX'`,
      values: [accountId],
    });
    const row = rows[0];
    if (!row) return undefined;
    const messages: Pop3SnapshotMessage[] = [];
    if (row.messages) {
      for (const entry of row.messages.split(",")) {
        const [uid, size, crlfSize, blobKey] = entry.split(" ");
        const crlf = Number(crlfSize);
        messages.push({
          uid: Number(uid),
          size: Number(size),
          blobKey: blobKey!,
          crlfSize: crlf < 0 ? null : crlf,
        });
      }
    }
    return {
      mailboxId: row.mailbox_id,
      uidValidity: row.uidvalidity,
      highestModseq: row.highestmodseq,
      messages,
    };
  }

  /** Remembers computed CRLF sizes (idempotent: the size is a function of the content). */
  async recordCrlfSizes(sizes: readonly { blobKey: string; crlfSize: number }[]): Promise<void> {
    if (sizes.length === 0) return;
    await this.pool.query(
      `INSERT INTO pop3_blob_sizes (blob_key, crlf_size)
       SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (blob_key) DO NOTHING`,
      [sizes.map((s) => s.blobKey), sizes.map((s) => s.crlfSize)],
    );
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
