/**
 * The POP3 maildrop snapshot (services/pop3): an account's INBOX and its
 * messages in one round trip, and the per-blob CRLF sizes (table
 * pop3_blob_sizes) that make a second session's LIST free of blob reads.
 */
import { type Account, type AccountRow, SELECT_ACCOUNT_WITH_HASH, toAccount } from "../accounts/accounts.ts";
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

/** A login name's account and password hash, and, when asked for, its INBOX snapshot, read together. */
export interface Pop3LoginLookup {
  account: Account;
  passwordHash: string;
  /** Undefined when not asked for, or when the account has no INBOX. */
  inbox: Pop3Snapshot | undefined;
}

/** The snapshot's messages as one text (see inboxSnapshot): "uid size crlfSize blobKey" entries joined by ",". */
const MESSAGES_TEXT = `(SELECT string_agg(m.uid || ' ' || m.size || ' ' || COALESCE(s.crlf_size, -1) || ' ' || m.blob_key,
                                 ',' ORDER BY m.uid)
                 FROM messages m LEFT JOIN pop3_blob_sizes s ON s.blob_key = m.blob_key
                WHERE m.mailbox_id = mb.id)`;

/**
 * Accounts.loginCredentials' query with the INBOX snapshot's columns added
 * ($2 false: the snapshot's messages are not read). One statement, so the
 * INBOX's HIGHESTMODSEQ and its messages come from one database snapshot.
 */
const LOGIN_WITH_INBOX = `${SELECT_ACCOUNT_WITH_HASH.replace(
  "AS aliases",
  `AS aliases, mb.id AS mailbox_id, mb.uidvalidity, mb.highestmodseq,
         CASE WHEN $2::boolean THEN ${MESSAGES_TEXT} END AS messages`,
)}
    LEFT JOIN mailboxes mb ON mb.account_id = a.id AND mb.name = 'INBOX'
  WHERE a.id = (SELECT id FROM accounts WHERE address = $1
                UNION ALL SELECT account_id FROM account_aliases WHERE address = $1 LIMIT 1)
  GROUP BY a.id, mb.id`;

interface SnapshotRow {
  mailbox_id: number;
  uidvalidity: number;
  highestmodseq: number;
  messages: string | null;
}

/** The decimal integer text[from, to) (an optional leading "-"), read in place: no substring per field. */
function intAt(text: string, from: number, to: number): number {
  let i = from;
  const negative = text.charCodeAt(i) === 45; // "-"
  if (negative) i++;
  let n = 0;
  for (; i < to; i++) n = n * 10 + (text.charCodeAt(i) - 48);
  return negative ? -n : n;
}

function toSnapshot(row: SnapshotRow): Pop3Snapshot {
  const messages: Pop3SnapshotMessage[] = [];
  const text = row.messages;
  if (text) {
    // "uid size crlfSize blobKey" entries joined by ","; parsed by offsets (a split per
    // entry and per field was most of this function's cost, a few % of a POP3 login).
    for (let pos = 0; pos < text.length; ) {
      let end = text.indexOf(",", pos);
      if (end === -1) end = text.length;
      const a = text.indexOf(" ", pos);
      const b = text.indexOf(" ", a + 1);
      const c = text.indexOf(" ", b + 1);
      const crlf = intAt(text, b + 1, c);
      messages.push({
        uid: intAt(text, pos, a),
        size: intAt(text, a + 1, b),
        blobKey: text.slice(c + 1, end),
        crlfSize: crlf < 0 ? null : crlf,
      });
      pos = end + 1;
    }
  }
  return {
    mailboxId: row.mailbox_id,
    uidValidity: row.uidvalidity,
    highestModseq: row.highestmodseq,
    messages,
  };
}

export class Pop3Snapshots {
  constructor(private readonly pool: Pool) {}

  /**
   * A login name's (address or alias, any case) account and password hash,
   * as Accounts.loginCredentials, and with `withInbox` also its INBOX snapshot
   * (as inboxSnapshot), in one round trip: POP3's USER asks before the
   * password is known, so that a good PASS needs no database round trip.
   */
  async loginWithInbox(name: string, withInbox: boolean): Promise<Pop3LoginLookup | undefined> {
    const { rows } = await this.pool.query<AccountRow & { password_hash: string } & SnapshotRow>({
      name: "pop3-login-with-inbox",
      text: LOGIN_WITH_INBOX,
      values: [name.trim().toLowerCase(), withInbox],
    });
    const r = rows[0];
    if (!r) return undefined;
    return {
      account: toAccount(r),
      passwordHash: r.password_hash,
      inbox: withInbox && r.mailbox_id !== null ? toSnapshot(r) : undefined,
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
              ${MESSAGES_TEXT} AS messages
         FROM mailboxes mb
        WHERE mb.account_id = $1 AND mb.name = 'INBOX'`,
      values: [accountId],
    });
    const row = rows[0];
    return row ? toSnapshot(row) : undefined;
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
}
