/**
 * CREATE and RENAME in the other users' namespace (namespaces.ts): they act on
 * the owner's mailboxes with the caller's rights (RFC 4314 §4): CREATE needs
 * "k" on the parent; RENAME "x" on the mailbox and "k" on the new parent, and
 * never crosses owners (a mailbox can't change hands by a rename). The tree
 * levels themselves ("Other Users", "Other Users/<address>") are no mailboxes.
 */
import { responseCodes } from "@aerogram/imap-protocol";
import { MailboxExistsError, MailboxMissingError } from "@aerogram/store";
import { no } from "./errors.ts";
import { requireMailbox, validMailboxName } from "./mailbox-lookup.ts";
import { parseMailboxName, resolveMailbox } from "./namespaces.ts";
import { publishChange } from "./publish.ts";
import { requireRight } from "./rights.ts";
import type { Session } from "./session.ts";

function parentOf(name: string): string | null {
  const slash = name.lastIndexOf("/");
  return slash > 0 ? name.slice(0, slash) : null;
}

/** CREATE "Other Users/<owner>/<parent>/<name>": the parent must exist and grant "k". */
export async function createForOther(session: Session, visibleName: string): Promise<void> {
  const parsed = parseMailboxName(visibleName);
  if (parsed.kind !== "other" || !validMailboxName(parsed.name)) {
    throw no("Can't create a mailbox here", responseCodes.noPerm());
  }
  const parent = parentOf(visibleName);
  const parentMailbox = parent ? await resolveMailbox(session, parent) : undefined;
  // Without a visible parent there is nothing the caller may create under (a new
  // top level of another user is the owner's business).
  if (!parentMailbox) throw no("Permission denied: no mailbox to create under", responseCodes.noPerm());
  // A personal folder from before the namespaces (namespaces.ts) takes no new children there.
  if (parentMailbox.accountId === session.account?.id) {
    throw no("Permission denied: that name is in a shared namespace", responseCodes.noPerm());
  }
  requireRight(session, parentMailbox, "k", "CREATE");
  try {
    const created = await session.ctx.runtime.store.mailboxes.create(parentMailbox.accountId, parsed.name);
    await session.ctx.runtime.store.mailboxes.setSubscribed(created.id, false);
    // The creator may use what it created: the owner's grant to it on the parent is copied.
    const inherited = await session.ctx.runtime.store.acl.entries(parentMailbox.id);
    for (const e of inherited)
      await session.ctx.runtime.store.acl.set(created.id, e.identifier, "replace", e.rights);
    await resolveMailbox(session, visibleName);
    publishChange(session, created.id, "mailbox-created", created.highestModseq, undefined, visibleName);
  } catch (err) {
    if (err instanceof MailboxExistsError) throw no("Mailbox already exists", responseCodes.alreadyExists());
    throw err;
  }
}

/** RENAME where either name is in the other users' namespace. */
export async function renameForOther(session: Session, from: string, to: string): Promise<void> {
  const source = await requireMailbox(session, from);
  requireRight(session, source, "x", "RENAME");
  const target = parseMailboxName(to);
  const sourceParsed = parseMailboxName(from);
  const sameOwner =
    sourceParsed.kind === "other"
      ? target.kind === "other" && target.owner === sourceParsed.owner
      : target.kind === "personal";
  if (!sameOwner || target.kind === "other-tree") {
    throw no("A mailbox can't be renamed into another user's namespace", responseCodes.cannot());
  }
  const targetName = target.name;
  const newParent = parentOf(to);
  if (newParent) {
    const parentMailbox = await resolveMailbox(session, newParent);
    if (!parentMailbox) throw no("Permission denied: no mailbox to rename under", responseCodes.noPerm());
    requireRight(session, parentMailbox, "k", "RENAME");
  }
  const sourceName = sourceParsed.kind === "other" ? sourceParsed.name : from;
  try {
    const result = await session.ctx.imapMailboxes.rename(source.accountId, sourceName, targetName);
    for (const id of result.mailboxIds) publishChange(session, id, "mailbox-renamed", 0, undefined, to);
  } catch (err) {
    if (err instanceof MailboxExistsError || (err as { code?: string }).code === "23505") {
      throw no("Mailbox already exists", responseCodes.alreadyExists());
    }
    if (err instanceof MailboxMissingError) throw no("Mailbox doesn't exist", responseCodes.nonExistent());
    throw err;
  }
}
