// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7-8). An existing mailbox's subscription
// is its subscribed column; a name without a mailbox may be subscribed too (kept
// in imap_orphan_subscriptions, migration 003).
import { type MailboxCommand, responseCodes } from "@aerogram/imap-protocol";
import { normalizeMailboxName } from "@aerogram/store";
import { accountId, validMailboxName } from "../mailbox-lookup.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function subscribe(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const account = accountId(session);
  const name = normalizeMailboxName(command.mailbox);
  const mailbox = await session.ctx.runtime.store.mailboxes.byName(account, name);
  if (mailbox) await session.ctx.runtime.store.mailboxes.setSubscribed(mailbox.id, true);
  else if (validMailboxName(name)) await session.ctx.orphanSubscriptions.add(account, name);
  else return { condition: "NO", text: "Invalid mailbox name", code: responseCodes.cannot() };
  return ok("SUBSCRIBE completed");
}

export async function unsubscribe(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const account = accountId(session);
  const name = normalizeMailboxName(command.mailbox);
  const mailbox = await session.ctx.runtime.store.mailboxes.byName(account, name);
  const hadOrphan = await session.ctx.orphanSubscriptions.remove(account, name);
  if (mailbox) await session.ctx.runtime.store.mailboxes.setSubscribed(mailbox.id, false);
  else if (!hadOrphan) return { condition: "NO", text: "Not subscribed", code: responseCodes.nonExistent() };
  return ok("UNSUBSCRIBE completed");
}
