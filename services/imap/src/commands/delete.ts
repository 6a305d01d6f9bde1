// DELETE (RFC 9051 §6.3.5): removes the mailbox and its messages; INBOX can't be
// deleted. Inferior names stay (and are listed with their parent as \Noselect).
import { type MailboxCommand, responseCodes } from "@aerogram/imap-protocol";
import { requireMailbox } from "../mailbox-lookup.ts";
import { publishChange } from "../publish.ts";
import { requireRight } from "../rights.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function deleteMailbox(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  requireRight(session, mailbox, "x", "DELETE");
  if (mailbox.name === "INBOX")
    return { condition: "NO", text: "INBOX can't be deleted", code: responseCodes.cannot() };
  if (session.selected?.id === mailbox.id) session.select(null);
  await session.ctx.imapMailboxes.delete(mailbox.id);
  // The subscription outlives the mailbox (RFC 9051 §6.3.5).
  if (mailbox.subscribed && mailbox.accountId === session.account?.id)
    await session.ctx.orphanSubscriptions.add(mailbox.accountId, mailbox.name);
  publishChange(session, mailbox.id, "mailbox-deleted", mailbox.highestModseq, undefined, mailbox.name);
  return ok("DELETE completed");
}
