/**
 * Shared folders (the IMAP "Shared/<folder>/…" namespace): mailboxes owned by no
 * user. Each folder is an account row that can't log in or receive mail —
 * address "#shared/<folder>" (no "@": no domain, so no delivery), password hash
 * "!" (no scrypt hash matches it), disabled — so everything a mailbox needs
 * (an owner id, a quota root, ON DELETE CASCADE) works unchanged: its
 * quota_bytes is the folder's quota, its INBOX is the folder itself, and
 * users reach it only through grants (mailbox_acl).
 */
import { type Pool, withTransaction } from "../db.ts";

export const SHARED_FOLDER_PREFIX = "#shared/";

const FOLDER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export class SharedFolderNameError extends Error {
  constructor(name: string) {
    super(`a shared folder name is 1-64 of a-z, 0-9, ".", "_", "-" (got ${JSON.stringify(name)})`);
    this.name = "SharedFolderNameError";
  }
}

export interface SharedFolder {
  name: string;
  accountId: number;
  quotaBytes: number | null;
  usage: { bytes: number; messages: number };
}

export class SharedFolders {
  constructor(private readonly pool: Pool) {}

  /** Creates the folder (its account and INBOX); false when it exists already. */
  create(name: string, quotaBytes: number | null = null): Promise<boolean> {
    const folder = name.trim().toLowerCase();
    if (!FOLDER_NAME.test(folder)) throw new SharedFolderNameError(name);
    return withTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<{ id: number }>(
        `INSERT INTO accounts (address, password_hash, disabled, quota_bytes) VALUES ($1, '!', true, $2)
           ON CONFLICT (address) DO NOTHING RETURNING id`,
        [`${SHARED_FOLDER_PREFIX}${folder}`, quotaBytes],
      );
      if (!rows[0]) return false;
      await tx.query("INSERT INTO mailboxes (account_id, name, subscribed) VALUES ($1, 'INBOX', false)", [
        rows[0].id,
      ]);
      return true;
    });
  }

  async list(): Promise<SharedFolder[]> {
    const { rows } = await this.pool.query<{
      address: string;
      id: number;
      quota_bytes: number | null;
      bytes: number;
      messages: number;
    }>(
      `SELECT a.address, a.id, a.quota_bytes,
              COALESCE(sum(m.total_size), 0)::bigint AS bytes, COALESCE(sum(m.message_count), 0)::bigint AS messages
         FROM accounts a LEFT JOIN mailboxes m ON m.account_id = a.id
        WHERE a.address LIKE '#shared/%'
        GROUP BY a.id ORDER BY a.address`,
    );
    return rows.map((r) => ({
      name: r.address.slice(SHARED_FOLDER_PREFIX.length),
      accountId: r.id,
      quotaBytes: r.quota_bytes,
      usage: { bytes: r.bytes, messages: r.messages },
    }));
  }

  /** Deletes the folder with its mailboxes, messages and grants; false when there was none. */
  async delete(name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM accounts WHERE address = $1", [
      `${SHARED_FOLDER_PREFIX}${name.trim().toLowerCase()}`,
    ]);
    return (rowCount ?? 0) > 0;
  }
}
