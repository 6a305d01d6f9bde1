// STATUS (RFC 9051 §6.3.11): counters from the mailbox row, counts from indexes.
import {
  atom,
  type ImapValue,
  mailboxNameValue,
  type ResponseChunk,
  type StatusCommand,
  type StatusItem,
  untagged,
} from "@aerogram/imap-protocol";
import type { Mailbox, MailboxStatusCounts } from "@aerogram/store";
import { requireMailbox } from "../mailbox-lookup.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

/** Each STATUS item's value from the store's counts (RFC 9051 §7.2.4; APPENDLIMIT: RFC 7889). */
const STATUS_VALUE: Record<StatusItem, (counts: MailboxStatusCounts, session: Session) => number> = {
  MESSAGES: (c) => c.messages,
  RECENT: (c) => c.recent,
  UIDNEXT: (c) => c.uidNext,
  UIDVALIDITY: (c) => c.uidValidity,
  UNSEEN: (c) => c.unseen,
  DELETED: (c) => c.deleted,
  SIZE: (c) => c.size,
  HIGHESTMODSEQ: (c) => c.highestModseq,
  APPENDLIMIT: (_c, session) => session.ctx.limits.appendLimitBytes,
};

export async function status(session: Session, command: StatusCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  await session.send(await statusResponse(session, mailbox, command.items));
  return ok("STATUS completed");
}

export async function statusResponse(
  session: Session,
  mailbox: Mailbox,
  items: readonly StatusItem[],
): Promise<ResponseChunk[]> {
  const counts = await session.ctx.imapMailboxes.status(mailbox.id);
  if (!counts) return [];
  const values: ImapValue[] = [];
  for (const item of items) values.push(atom(item), STATUS_VALUE[item](counts, session));
  return untagged(
    [atom("STATUS"), mailboxNameValue(mailbox.name, session.utf8), values],
    session.writerOptions,
  );
}
