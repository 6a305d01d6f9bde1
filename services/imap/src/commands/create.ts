// CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3). A trailing
// delimiter is dropped; missing superior names are created too.
import { type CreateCommand, responseCodes } from "@aerogram/imap-protocol";
import { type Mailbox, MailboxExistsError, normalizeMailboxName } from "@aerogram/store";
import { accountId, validMailboxName } from "../mailbox-lookup.ts";
import { isOtherUsersName } from "../namespaces.ts";
import { createForOther } from "../other-users.ts";
import { publishChange } from "../publish.ts";
import { mailboxIdCode } from "../search/object-id.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

const SPECIAL_USES = new Set(["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]);

/**
 * CREATE does not subscribe (RFC 9051 §6.3.4; only the default folders start
 * subscribed), but a name subscribed before it existed keeps its subscription.
 */
async function initialSubscription(session: Session, account: number, mailbox: Mailbox): Promise<void> {
  const wasSubscribed = await session.ctx.orphanSubscriptions.remove(account, mailbox.name);
  if (!wasSubscribed) await session.ctx.runtime.store.mailboxes.setSubscribed(mailbox.id, false);
}

export async function create(session: Session, command: CreateCommand): Promise<CommandResult> {
  const name = normalizeMailboxName(
    command.mailbox.endsWith("/") ? command.mailbox.slice(0, -1) : command.mailbox,
  );
  if (name === "INBOX")
    return { condition: "NO", text: "INBOX always exists", code: responseCodes.alreadyExists() };
  if (!validMailboxName(name))
    return { condition: "NO", text: "Invalid mailbox name", code: responseCodes.cannot() };
  if (isOtherUsersName(name)) {
    await createForOther(session, name);
    return ok("CREATE completed");
  }
  const use = command.specialUse.map((u) =>
    [...SPECIAL_USES].find((s) => s.toLowerCase() === u.toLowerCase()),
  );
  if (use.some((u) => u === undefined) || use.length > 1) {
    return { condition: "NO", text: "Unsupported special-use", code: "USEATTR" };
  }
  const mailboxes = session.ctx.runtime.store.mailboxes;
  const account = accountId(session);
  const levels = name.split("/");
  for (let i = 1; i < levels.length; i++) {
    const parent = levels.slice(0, i).join("/");
    if (!(await mailboxes.byName(account, parent))) {
      try {
        await initialSubscription(session, account, await mailboxes.create(account, parent));
      } catch (err) {
        if (!(err instanceof MailboxExistsError)) throw err;
      }
    }
  }
  try {
    const created = await mailboxes.create(account, name, use[0] ?? null);
    await initialSubscription(session, account, created);
    publishChange(session, created.id, "mailbox-created", created.highestModseq, undefined, created.name);
    // RFC 8474 §4.1: the new mailbox's MAILBOXID in the tagged OK
    return ok("CREATE completed", mailboxIdCode(created.id));
  } catch (err) {
    if (err instanceof MailboxExistsError) {
      return { condition: "NO", text: "Mailbox already exists", code: responseCodes.alreadyExists() };
    }
    throw err;
  }
}
