/** Finding the account's mailboxes by name, with the RFC's response codes. */
import { responseCodes } from "@aerogram/imap-protocol";
import { type Mailbox, normalizeMailboxName } from "@aerogram/store";
import { no } from "./errors.ts";
import type { Session } from "./session.ts";

export function accountId(session: Session): number {
  if (!session.account) throw no("Not authenticated");
  return session.account.id;
}

/** The mailbox, or NO [NONEXISTENT] (or [TRYCREATE] for APPEND/COPY/MOVE targets, RFC 9051 §6.3.12). */
export async function requireMailbox(session: Session, name: string, target = false): Promise<Mailbox> {
  const mailbox = await session.ctx.runtime.store.mailboxes.byName(
    accountId(session),
    normalizeMailboxName(name),
  );
  if (!mailbox) {
    throw no(
      `Mailbox doesn't exist: ${name}`,
      target ? responseCodes.tryCreate() : responseCodes.nonExistent(),
    );
  }
  return mailbox;
}

/** Names we refuse to create: empty levels, wildcards, control characters. */
export function validMailboxName(name: string): boolean {
  if (name === "" || name.length > 512) return false;
  if (/[\u0000-\u001f\u007f*%]/.test(name)) return false;
  return !name.split("/").some((level) => level === "");
}
