// GETQUOTA / GETQUOTAROOT (RFC 9208): one quota root "" per account with the
// STORAGE resource in KiB (accounts.quota_bytes against the mailboxes' sizes).
import {
  atom,
  type GetQuotaCommand,
  type MailboxCommand,
  mailboxNameValue,
  untagged,
} from "@aerogram/imap-protocol";
import { accountId, requireMailbox } from "../mailbox-lookup.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

/** `id`: whose quota (a shared mailbox's root is its owner's, named after it). */
async function quotaLine(session: Session, id = accountId(session), root = "") {
  const account = await session.ctx.runtime.store.accounts.byId(id);
  const usage = await session.ctx.runtime.store.accounts.usage(id);
  const limit = account?.quotaBytes ?? null;
  const resources =
    limit === null ? [] : [atom("STORAGE"), Math.ceil(usage.bytes / 1024), Math.floor(limit / 1024)];
  return untagged([atom("QUOTA"), root, resources], session.writerOptions);
}

export async function getquota(session: Session, command: GetQuotaCommand): Promise<CommandResult> {
  if (command.root !== "") return { condition: "NO", text: "No such quota root", code: "NONEXISTENT" };
  await session.send(await quotaLine(session));
  return ok("GETQUOTA completed");
}

export async function getquotaroot(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  // Another account's mailbox counts against its owner: that quota, under a root
  // named after the owner's tree (read-only to the grantee: GETQUOTA knows only "").
  const own = mailbox.accountId === accountId(session);
  const root = own ? "" : mailbox.name.split("/").slice(0, 2).join("/");
  await session.send([
    ...untagged(
      [atom("QUOTAROOT"), mailboxNameValue(mailbox.name, session.utf8), root],
      session.writerOptions,
    ),
    ...(await quotaLine(session, mailbox.accountId, root)),
  ]);
  return ok("GETQUOTAROOT completed");
}
