/** Finding the account's mailboxes by name, with the RFC's response codes. */
import { responseCodes } from "@aerogram/imap-protocol";
import type { Mailbox } from "@aerogram/store";
import { no } from "./errors.ts";
import { resolveMailbox } from "./namespaces.ts";
import { requireRight } from "./rights.ts";
import type { Session } from "./session.ts";

export function accountId(session: Session): number {
  if (!session.account) throw no("Not authenticated");
  return session.account.id;
}

/**
 * The mailbox, in any namespace (namespaces.ts), or NO [NONEXISTENT] (or
 * [TRYCREATE] for APPEND/COPY/MOVE targets, RFC 9051 §6.3.12). A target needs
 * the insert right (RFC 4314 §4), else NO [NOPERM].
 */
export async function requireMailbox(session: Session, name: string, target = false): Promise<Mailbox> {
  accountId(session);
  const mailbox = await resolveMailbox(session, name);
  if (mailbox && target) requireRight(session, mailbox, "i", "adding messages");
  if (!mailbox) {
    throw no(
      `Mailbox doesn't exist: ${name}`,
      target ? responseCodes.tryCreate() : responseCodes.nonExistent(),
    );
  }
  return mailbox;
}

/**
 * Mailbox rows a read-only command read anyway may include the selected one: its
 * HIGHESTMODSEQ then tells the sync after the command whether to ask at all.
 * (Not for a read that precedes the command's own write: that head is stale.)
 */
export function noteHeads(session: Session, mailboxes: readonly Mailbox[]): void {
  const view = session.selected;
  if (!view) return;
  for (const m of mailboxes) if (m.id === view.id) view.knownHead = m.highestModseq;
}

/** Names we refuse to create: empty levels, wildcards, control characters. */
export function validMailboxName(name: string): boolean {
  if (name === "" || name.length > 512) return false;
  if (/[\u0000-\u001f\u007f*%]/.test(name)) return false;
  return !name.split("/").some((level) => level === "");
}
