// RENAME (RFC 9051 §6.3.6): inferior names move along; renaming INBOX moves its
// messages to the new mailbox and leaves INBOX empty.
import { type RenameCommand, responseCodes } from "@aerogram/imap-protocol";
import { MailboxExistsError, MailboxMissingError, normalizeMailboxName } from "@aerogram/store";
import { accountId, validMailboxName } from "../mailbox-lookup.ts";
import { isOtherUsersName } from "../namespaces.ts";
import { renameForOther } from "../other-users.ts";
import { publishChange } from "../publish.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function rename(session: Session, command: RenameCommand): Promise<CommandResult> {
  const from = normalizeMailboxName(command.from);
  const to = normalizeMailboxName(command.to.endsWith("/") ? command.to.slice(0, -1) : command.to);
  if (!validMailboxName(to))
    return { condition: "NO", text: "Invalid mailbox name", code: responseCodes.cannot() };
  if (to === "INBOX")
    return { condition: "NO", text: "Mailbox already exists", code: responseCodes.alreadyExists() };
  if (to === from)
    return { condition: "NO", text: "Mailbox already exists", code: responseCodes.alreadyExists() };
  if (to.startsWith(`${from}/`) && from !== "INBOX") {
    return { condition: "NO", text: "Can't move a mailbox under itself", code: responseCodes.cannot() };
  }
  if (isOtherUsersName(from) || isOtherUsersName(to)) {
    await renameForOther(session, from, to);
    return ok("RENAME completed");
  }
  try {
    const result = await session.ctx.imapMailboxes.rename(accountId(session), from, to);
    for (const id of result.mailboxIds) publishChange(session, id, "mailbox-renamed", 0, undefined, to);
    if (result.inboxExpunge) {
      const { inboxId, uids, modseq } = result.inboxExpunge;
      publishChange(session, inboxId, "expunge", modseq, uids);
    }
  } catch (err) {
    if (err instanceof MailboxExistsError || (err as { code?: string }).code === "23505") {
      return { condition: "NO", text: "Mailbox already exists", code: responseCodes.alreadyExists() };
    }
    if (err instanceof MailboxMissingError) {
      return { condition: "NO", text: "Mailbox doesn't exist", code: responseCodes.nonExistent() };
    }
    throw err;
  }
  return ok("RENAME completed");
}
