/**
 * OBJECTID (RFC 8474) values: MAILBOXID from the mailbox row's id (a serial,
 * never reused, and unchanged by RENAME: §4), EMAILID from the message's
 * email_id (kept by COPY/MOVE: §5.1), THREADID from its thread_id (NIL until
 * its search row assigns one: §5.2 allows NIL). objectid = 1*255(ALPHA /
 * DIGIT / "_" / "-"); the letter keeps the three kinds apart.
 */
import { atom, type ImapValue } from "@aerogram/imap-protocol";

export const mailboxObjectId = (id: number): string => `M${id}`;

/** `[MAILBOXID (M12)]` for SELECT/EXAMINE/CREATE. */
export function mailboxIdCode(id: number): string {
  return `MAILBOXID (${mailboxObjectId(id)})`;
}

export function mailboxIdValue(id: number): ImapValue {
  return [atom(mailboxObjectId(id))];
}

export function emailIdValue(row: { emailId?: number }): ImapValue {
  return row.emailId === undefined ? null : [atom(`E${row.emailId}`)];
}

export function threadIdValue(row: { threadId?: number | null }): ImapValue {
  return row.threadId == null ? null : [atom(`T${row.threadId}`)];
}
