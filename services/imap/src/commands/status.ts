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
import type { Mailbox } from "@aerogram/store";
import { APPEND_LIMIT } from "../capabilities.ts";
import { requireMailbox } from "../mailbox-lookup.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

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
  const view = session.selected;
  const counts = await session.ctx.imapMailboxes.status(mailbox.id, view?.id);
  if (!counts) return [];
  if (view && counts.watchedModseq !== undefined) view.knownHead = counts.watchedModseq;
  const values: ImapValue[] = [];
  for (const item of items) {
    values.push(atom(item));
    switch (item) {
      case "MESSAGES":
        values.push(counts.messages);
        break;
      case "RECENT":
        values.push(counts.recent);
        break;
      case "UIDNEXT":
        values.push(counts.uidNext);
        break;
      case "UIDVALIDITY":
        values.push(counts.uidValidity);
        break;
      case "UNSEEN":
        values.push(counts.unseen);
        break;
      case "DELETED":
        values.push(counts.deleted);
        break;
      case "SIZE":
        values.push(counts.size);
        break;
      case "HIGHESTMODSEQ":
        values.push(counts.highestModseq);
        break;
      case "APPENDLIMIT":
        values.push(APPEND_LIMIT);
        break;
    }
  }
  return untagged(
    [atom("STATUS"), mailboxNameValue(mailbox.name, session.utf8), values],
    session.writerOptions,
  );
}
