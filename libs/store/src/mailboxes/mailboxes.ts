/**
 * Mailboxes: a hierarchical namespace per account with "/" as the delimiter
 * and "INBOX" (case-insensitive on input) as the one fixed name. The mailbox
 * row also holds UIDNEXT, HIGHESTMODSEQ and the counters: taking its row lock
 * is how every writer to a mailbox is serialised (messages/append.ts).
 */
import { named, type Pool, type Queryable, withTransaction } from "../db.ts";
import { type RenameResult, renameIn } from "./rename.ts";
import {
  claimRecent,
  type MailboxStatusWithHead,
  mailboxStatus,
  mailboxStatusByName,
  openForSelect,
  recentFrom,
  type SelectSnapshot,
} from "./status.ts";

export const HIERARCHY_DELIMITER = "/";

export const DEFAULT_MAILBOXES: readonly { name: string; specialUse: string | null }[] = [
  { name: "INBOX", specialUse: null },
  { name: "Sent", specialUse: "\\Sent" },
  { name: "Drafts", specialUse: "\\Drafts" },
  { name: "Trash", specialUse: "\\Trash" },
  { name: "Junk", specialUse: "\\Junk" },
  { name: "Archive", specialUse: "\\Archive" },
];

export interface Mailbox {
  id: number;
  accountId: number;
  name: string;
  specialUse: string | null;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  messageCount: number;
  totalSize: number;
  keywords: string[];
}

/** "inbox", "Inbox/x" → "INBOX", "INBOX/x" (RFC 9051 §5.1: INBOX is case-insensitive). */
export function normalizeMailboxName(name: string): string {
  if (name.toUpperCase() === "INBOX") return "INBOX";
  if (name.slice(0, 6).toUpperCase() === `INBOX${HIERARCHY_DELIMITER}`) return `INBOX${name.slice(5)}`;
  return name;
}

interface MailboxRow {
  id: number;
  account_id: number;
  name: string;
  special_use: string | null;
  subscribed: boolean;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  message_count: number;
  total_size: number;
  keywords: string[];
}

const COLUMNS =
  "id, account_id, name, special_use, subscribed, uidvalidity, uidnext, highestmodseq, message_count, total_size, keywords";

export function toMailbox(r: MailboxRow): Mailbox {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    specialUse: r.special_use,
    subscribed: r.subscribed,
    uidValidity: r.uidvalidity,
    uidNext: r.uidnext,
    highestModseq: r.highestmodseq,
    messageCount: r.message_count,
    totalSize: r.total_size,
    keywords: r.keywords,
  };
}

export class MailboxExistsError extends Error {
  constructor(readonly mailboxName: string) {
    super(`mailbox ${mailboxName} already exists`);
    this.name = "MailboxExistsError";
  }
}

export class MailboxNotFoundError extends Error {
  constructor(readonly mailboxId: number) {
    super(`mailbox ${mailboxId} does not exist`);
    this.name = "MailboxNotFoundError";
  }
}

export async function createMailboxIn(
  db: Queryable,
  accountId: number,
  name: string,
  specialUse: string | null = null,
): Promise<Mailbox> {
  const { rows } = await db.query<MailboxRow>(
    `INSERT INTO mailboxes (account_id, name, special_use) VALUES ($1, $2, $3)
       ON CONFLICT (account_id, name) DO NOTHING RETURNING ${COLUMNS}`,
    [accountId, normalizeMailboxName(name), specialUse],
  );
  if (!rows[0]) throw new MailboxExistsError(name);
  return toMailbox(rows[0]);
}

export class Mailboxes {
  constructor(private readonly pool: Pool) {}

  async list(accountId: number): Promise<Mailbox[]> {
    const { rows } = await this.pool.query<MailboxRow>(
      named(`SELECT ${COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name`, [accountId]),
    );
    return rows.map(toMailbox);
  }

  async byName(accountId: number, name: string): Promise<Mailbox | undefined> {
    const { rows } = await this.pool.query<MailboxRow>(
      named(`SELECT ${COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2`, [
        accountId,
        normalizeMailboxName(name),
      ]),
    );
    return rows[0] && toMailbox(rows[0]);
  }

  async byId(id: number): Promise<Mailbox | undefined> {
    const { rows } = await this.pool.query<MailboxRow>(`SELECT ${COLUMNS} FROM mailboxes WHERE id = $1`, [
      id,
    ]);
    return rows[0] && toMailbox(rows[0]);
  }

  create(accountId: number, name: string, specialUse: string | null = null): Promise<Mailbox> {
    return createMailboxIn(this.pool, accountId, name, specialUse);
  }

  async setSubscribed(id: number, subscribed: boolean): Promise<void> {
    await this.pool.query("UPDATE mailboxes SET subscribed = $2 WHERE id = $1", [id, subscribed]);
  }

  /** Deletes one mailbox and its messages (children keep existing; RFC 9051 §6.3.5). */
  async delete(mailboxId: number): Promise<void> {
    await this.pool.query("DELETE FROM mailboxes WHERE id = $1", [mailboxId]);
  }

  /**
   * RENAME: the mailbox and every inferior name move in one transaction
   * (RFC 9051 §6.3.6). Renaming INBOX instead creates `to`, moves INBOX's
   * messages into it (keeping their UIDs under the new UIDVALIDITY) and leaves
   * INBOX empty; INBOX's inferiors are not renamed.
   */
  rename(accountId: number, from: string, to: string): Promise<RenameResult> {
    return withTransaction(this.pool, (tx) => renameIn(tx, accountId, from, to));
  }

  /**
   * STATUS items in one row read plus one index scan (RFC 9051 §6.3.11); with
   * `watchId`, that mailbox's HIGHESTMODSEQ in the same statement (status.ts).
   */
  status(mailboxId: number, watchId?: number): Promise<MailboxStatusWithHead | undefined> {
    return mailboxStatus(this.pool, mailboxId, watchId);
  }

  /** STATUS of a mailbox by the client's name: lookup and counts in one statement (status.ts). */
  statusByName(
    accountId: number,
    name: string,
    watchId?: number,
  ): Promise<MailboxStatusWithHead | undefined> {
    return mailboxStatusByName(this.pool, accountId, name, watchId);
  }

  /**
   * Claims the \Recent messages below `uidNext` for one session: returns the
   * first UID of the claimed range [from, uidNext). Only one session ever
   * claims a given UID (the row lock serialises claims across replicas).
   */
  claimRecent(mailboxId: number, uidNext: number): Promise<number> {
    return claimRecent(this.pool, mailboxId, uidNext);
  }

  /** The first \Recent UID not yet claimed (EXAMINE looks without claiming). */
  recentFrom(mailboxId: number): Promise<number> {
    return recentFrom(this.pool, mailboxId);
  }
  /** SELECT/EXAMINE's head, messages and \Recent claim in one statement (status.ts openForSelect). */
  openForSelect(mailboxId: number, claim: boolean): Promise<SelectSnapshot | undefined> {
    return openForSelect(this.pool, mailboxId, claim);
  }

  /** HIGHESTMODSEQ of each existing mailbox of `ids` in one query (the IDLE poll); gone ones are absent. */
  async highestModseqs(ids: readonly number[]): Promise<Map<number, number>> {
    const { rows } = await this.pool.query<{ id: number; highestmodseq: number }>(
      "SELECT id, highestmodseq FROM mailboxes WHERE id = ANY($1::bigint[])",
      [ids],
    );
    return new Map(rows.map((r) => [Number(r.id), Number(r.highestmodseq)]));
  }
}
