// STATUS (RFC 9051 §6.3.11): counters from the mailbox row, counts from indexes.
import {
  atom,
  type ImapValue,
  mailboxNameValue,
  type ResponseChunk,
  responseCodes,
  type StatusCommand,
  type StatusItem,
  untagged,
} from "@aerogram/imap-protocol";
import type { Mailbox, MailboxStatusCounts } from "@aerogram/store";
import { no } from "../errors.ts";
import { accountId, requireMailbox } from "../mailbox-lookup.ts";
import { isOtherUsersName } from "../namespaces.ts";
import { readerStatus } from "../private-seen.ts";
import { requireRight } from "../rights.ts";
import { mailboxIdValue } from "../search/object-id.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

/** Each STATUS item's value from the store's counts (RFC 9051 §7.2.4; APPENDLIMIT: RFC 7889). */
const STATUS_VALUE: Record<
  StatusItem,
  (counts: MailboxStatusCounts, session: Session, mailboxId: number) => ImapValue
> = {
  MESSAGES: (c) => c.messages,
  RECENT: (c) => c.recent,
  UIDNEXT: (c) => c.uidNext,
  UIDVALIDITY: (c) => c.uidValidity,
  UNSEEN: (c) => c.unseen,
  DELETED: (c) => c.deleted,
  SIZE: (c) => c.size,
  HIGHESTMODSEQ: (c) => c.highestModseq,
  APPENDLIMIT: (_c, session) => session.ctx.limits.appendLimitBytes,
  MAILBOXID: (_c, _session, id) => mailboxIdValue(id),
};

export async function status(session: Session, command: StatusCommand): Promise<CommandResult> {
  const view = session.selected;
  if (isOtherUsersName(command.mailbox)) {
    // Another account's mailbox: resolved with the caller's rights; STATUS needs "r" (RFC 4314 §4).
    const mailbox = await requireMailbox(session, command.mailbox);
    requireRight(session, mailbox, "r", "STATUS");
    await session.send(await statusResponse(session, mailbox, command.items));
    return ok("STATUS completed");
  }
  // One statement: the name lookup, the counts and the selected mailbox's head.
  const counts = await session.ctx.imapMailboxes.statusByName(accountId(session), command.mailbox, view?.id);
  if (!counts) throw no(`Mailbox doesn't exist: ${command.mailbox}`, responseCodes.nonExistent());
  if (view && counts.watchedModseq !== undefined) view.knownHead = counts.watchedModseq;
  await session.send(statusLine(session, counts.name, counts.id, counts, command.items));
  return ok("STATUS completed");
}

export async function statusResponse(
  session: Session,
  mailbox: Mailbox,
  items: readonly StatusItem[],
): Promise<ResponseChunk[]> {
  const view = session.selected;
  const counts = await session.ctx.imapMailboxes.status(mailbox.id, view?.id);
  if (!counts) return [];
  if (view && counts.watchedModseq !== undefined) view.knownHead = counts.watchedModseq;
  await readerStatus(session, mailbox, counts, items);
  return statusLine(session, mailbox.name, mailbox.id, counts, items);
}

function statusLine(
  session: Session,
  name: string,
  mailboxId: number,
  counts: MailboxStatusCounts,
  items: readonly StatusItem[],
): ResponseChunk[] {
  const values: ImapValue[] = [];
  for (const item of items) values.push(atom(item), STATUS_VALUE[item](counts, session, mailboxId));
  return untagged([atom("STATUS"), mailboxNameValue(name, session.utf8), values], session.writerOptions);
}
