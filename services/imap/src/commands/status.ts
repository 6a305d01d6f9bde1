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
import { DELETED, type Mailbox, type MailboxStatusCounts, normalizeMailboxName, SEEN } from "@aerogram/store";
import { no } from "../errors.ts";
import { accountId, requireMailbox } from "../mailbox-lookup.ts";
import { eventAccountOf, isOtherUsersName } from "../namespaces.ts";
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
  const current = statusOfCurrentView(session, command);
  if (current) {
    await session.send(current);
    return ok("STATUS completed");
  }
  // One statement: the name lookup, the counts and the selected mailbox's head.
  const counts = await session.ctx.imapMailboxes.statusByName(accountId(session), command.mailbox, view?.id);
  if (!counts) throw no(`Mailbox doesn't exist: ${command.mailbox}`, responseCodes.nonExistent());
  if (view && counts.watchedModseq !== undefined) view.knownHead = counts.watchedModseq;
  await session.send(statusLine(session, counts.name, counts.id, counts, command.items));
  return ok("STATUS completed");
}

/**
 * STATUS of the session's own selected mailbox from its view, with no query,
 * when the view is current by the rules every command's sync follows
 * (mailbox-heads.ts: a read less than IMAP_HEAD_MAX_STALE_MS old saw no
 * newer MODSEQ and no wake-up since named one). Every change to the counts
 * STATUS reports moves HIGHESTMODSEQ, so they are the view's: MESSAGES its
 * count, UNSEEN/DELETED its flags. RECENT (RFC 3501: messages no session has
 * claimed yet) is 0 for a read-write IMAP4rev1 view, which claims every
 * message it takes in; otherwise, with expunges not yet reported (the view
 * still counts them), for SIZE (the view has no sizes), or when not current:
 * undefined, and STATUS asks the store.
 */
function statusOfCurrentView(session: Session, command: StatusCommand): ResponseChunk[] | undefined {
  const view = session.selected;
  if (!view || view.pendingExpunges.size > 0) return undefined;
  if (eventAccountOf(session, view) !== session.account?.id) return undefined;
  if (normalizeMailboxName(command.mailbox) !== view.name) return undefined;
  if (command.items.includes("SIZE")) return undefined;
  if (command.items.includes("RECENT") && (session.rev2 || view.readOnly)) return undefined;
  if (!session.ctx.heads.current(view.id, view.modseq)) return undefined;
  const counts: MailboxStatusCounts = {
    messages: view.count,
    recent: 0,
    unseen: command.items.includes("UNSEEN") ? view.countFlag(SEEN, false) : 0,
    deleted: command.items.includes("DELETED") ? view.countFlag(DELETED, true) : 0,
    size: 0,
    uidNext: view.uidNext,
    uidValidity: view.uidValidity,
    highestModseq: view.modseq,
  };
  return statusLine(session, view.name, view.id, counts, command.items);
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
