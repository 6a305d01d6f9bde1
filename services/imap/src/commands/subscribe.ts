// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7-8): the mailbox's subscribed column.
import type { MailboxCommand } from "@aerogram/imap-protocol";
import { requireMailbox } from "../mailbox-lookup.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function subscribe(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  await session.ctx.runtime.store.mailboxes.setSubscribed(mailbox.id, true);
  return ok("SUBSCRIBE completed");
}

export async function unsubscribe(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  await session.ctx.runtime.store.mailboxes.setSubscribed(mailbox.id, false);
  return ok("UNSUBSCRIBE completed");
}
