/** Wake-up events for changes this gateway made (other sessions re-read Postgres). */
import type { MailboxEventKind } from "@aerogram/events";
import { ownerOfMailbox } from "./namespaces.ts";
import type { Session } from "./session.ts";

const MAX_EVENT_UIDS = 100;

export function publishChange(
  session: Session,
  mailboxId: number,
  kind: MailboxEventKind,
  modseq: number,
  uids?: readonly number[],
  name?: string,
): void {
  // On the mailbox owner's subject: every session that selected it, whoever's, listens there.
  const account = ownerOfMailbox(session, mailboxId);
  if (account === null) return;
  // Before the tagged OK: this process's other sessions in the mailbox check at their next command.
  session.ctx.heads.changed(mailboxId, kind === "mailbox-renamed" || kind === "mailbox-deleted" ? 0 : modseq);
  session.ctx.runtime.events.publish({
    account,
    mailbox: mailboxId,
    kind,
    modseq: String(modseq),
    ...(uids && uids.length <= MAX_EVENT_UIDS ? { uids: [...uids] } : {}),
    ...(name !== undefined ? { name } : {}),
  });
}
