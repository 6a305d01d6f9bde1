// ACL commands (RFC 4314 §3): SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS.
// The mailbox owner has every right and no ACL entry (libs/store acl/); the
// others need the administer right "a", MYRIGHTS any right (§4).
import {
  type AclCommand,
  atom,
  type ImapValue,
  mailboxNameValue,
  responseCodes,
  untagged,
} from "@aerogram/imap-protocol";
import { ALL_RIGHTS, type Mailbox } from "@aerogram/store";
import { no } from "../errors.ts";
import { requireMailbox } from "../mailbox-lookup.ts";
import { accessOf } from "../namespaces.ts";
import { parseModRights, requireRight } from "../rights.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

/** An identifier or rights string as an atom when it can be one, else a quoted string. */
function astring(text: string): ImapValue {
  return /^[A-Za-z0-9@._+-]+$/.test(text) ? atom(text) : text;
}

/** The mailbox's owner address: the caller's own for a personal mailbox. */
async function ownerAddress(session: Session, mailbox: Mailbox): Promise<string> {
  if (mailbox.accountId === session.account?.id) return session.account.address;
  const owner = await session.ctx.runtime.store.accounts.byId(mailbox.accountId);
  return owner?.address ?? "";
}

/** The owner's rights are fixed (all of them): RFC 4314 §2 lets a server always grant rights to an identifier. */
async function refuseOwner(session: Session, mailbox: Mailbox, identifier: string): Promise<void> {
  // "-owner" too: a negative entry can't take the owner's rights either.
  if (identifier.toLowerCase().replace(/^-/, "") === (await ownerAddress(session, mailbox))) {
    throw no("The owner's rights can't be changed: the owner always has every right", responseCodes.cannot());
  }
}

export async function setacl(session: Session, command: AclCommand): Promise<CommandResult> {
  // Rights are checked before the mailbox: an unknown letter is BAD whatever the mailbox (§3.1).
  const { mode, rights } = parseModRights(command.rights ?? "");
  const identifier = command.identifier ?? "";
  const mailbox = await requireMailbox(session, command.mailbox);
  requireRight(session, mailbox, "a", "SETACL");
  await refuseOwner(session, mailbox, identifier);
  const result = await session.ctx.runtime.store.acl.set(mailbox.id, identifier, mode, rights);
  if (!result.ok) {
    if (result.reason === "no-mailbox") throw no("Mailbox doesn't exist", responseCodes.nonExistent());
    throw no(`Unknown identifier: ${identifier}`, responseCodes.cannot());
  }
  return ok("SETACL completed");
}

export async function deleteacl(session: Session, command: AclCommand): Promise<CommandResult> {
  const identifier = command.identifier ?? "";
  const mailbox = await requireMailbox(session, command.mailbox);
  requireRight(session, mailbox, "a", "DELETEACL");
  await refuseOwner(session, mailbox, identifier);
  // Deleting an entry that isn't there leaves the ACL as asked: OK (as Dovecot).
  await session.ctx.runtime.store.acl.remove(mailbox.id, identifier);
  return ok("DELETEACL completed");
}

export async function getacl(session: Session, command: AclCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  requireRight(session, mailbox, "a", "GETACL");
  const entries = await session.ctx.runtime.store.acl.entries(mailbox.id);
  const values: ImapValue[] = [atom("ACL"), mailboxNameValue(command.mailbox, session.utf8)];
  values.push(astring(await ownerAddress(session, mailbox)), atom(ALL_RIGHTS));
  for (const e of entries) values.push(astring(e.identifier), atom(e.rights));
  await session.send(untagged(values, session.writerOptions));
  return ok("GETACL completed");
}

export async function listrights(session: Session, command: AclCommand): Promise<CommandResult> {
  const identifier = command.identifier ?? "";
  const mailbox = await requireMailbox(session, command.mailbox);
  requireRight(session, mailbox, "a", "LISTRIGHTS");
  const isOwner = identifier.toLowerCase() === (await ownerAddress(session, mailbox));
  // The owner's rights are all required (fixed); anyone else may be granted each right alone (§3.4).
  const values: ImapValue[] = [
    atom("LISTRIGHTS"),
    mailboxNameValue(command.mailbox, session.utf8),
    astring(identifier),
    isOwner ? atom(ALL_RIGHTS) : "",
    ...(isOwner ? [] : [...ALL_RIGHTS].map((r) => atom(r))),
  ];
  await session.send(untagged(values, session.writerOptions));
  return ok("LISTRIGHTS completed");
}

export async function myrights(session: Session, command: AclCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  const rights = accessOf(session, mailbox).rights;
  // §4: MYRIGHTS needs any of "l", "r", "i", "k", "x", "a".
  if (!/[lrikxa]/.test(rights)) throw no("Permission denied", responseCodes.noPerm());
  await session.send(
    untagged(
      [atom("MYRIGHTS"), mailboxNameValue(command.mailbox, session.utf8), atom(rights)],
      session.writerOptions,
    ),
  );
  return ok("MYRIGHTS completed");
}
