// CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3). A trailing
// delimiter is dropped; missing superior names are created too.
import { type CreateCommand, responseCodes } from "@aerogram/imap-protocol";
import { MailboxExistsError, normalizeMailboxName } from "@aerogram/store";
import { accountId, validMailboxName } from "../mailbox-lookup.ts";
import { publishChange } from "../publish.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

const SPECIAL_USES = new Set(["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]);

export async function create(session: Session, command: CreateCommand): Promise<CommandResult> {
  const name = normalizeMailboxName(
    command.mailbox.endsWith("/") ? command.mailbox.slice(0, -1) : command.mailbox,
  );
  if (name === "INBOX")
    return { condition: "NO", text: "INBOX always exists", code: responseCodes.alreadyExists() };
  if (!validMailboxName(name))
    return { condition: "NO", text: "Invalid mailbox name", code: responseCodes.cannot() };
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
        const created = await mailboxes.create(account, parent);
        // A name subscribed before it existed keeps its subscription.
        const wasSubscribed = await session.ctx.orphanSubscriptions.remove(account, created.name);
        if (!wasSubscribed) await mailboxes.setSubscribed(created.id, false);
      } catch (err) {
        if (!(err instanceof MailboxExistsError)) throw err;
      }
    }
  }
  try {
    const created = await mailboxes.create(account, name, use[0] ?? null);
    // CREATE does not subscribe (RFC 9051 §6.3.4); only the default folders start subscribed.
    await mailboxes.setSubscribed(created.id, false);
    publishChange(session, created.id, "mailbox-created", created.highestModseq, undefined, created.name);
  } catch (err) {
    if (err instanceof MailboxExistsError) {
      return { condition: "NO", text: "Mailbox already exists", code: responseCodes.alreadyExists() };
    }
    throw err;
  }
  return ok("CREATE completed");
}
