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

async function quotaLine(session: Session) {
  const id = accountId(session);
  const account = await session.ctx.runtime.store.accounts.byId(id);
  const usage = await session.ctx.runtime.store.accounts.usage(id);
  const limit = account?.quotaBytes ?? null;
  const resources =
    limit === null ? [] : [atom("STORAGE"), Math.ceil(usage.bytes / 1024), Math.floor(limit / 1024)];
  return untagged([atom("QUOTA"), "", resources]);
}

export async function getquota(session: Session, command: GetQuotaCommand): Promise<CommandResult> {
  if (command.root !== "") return { condition: "NO", text: "No such quota root", code: "NONEXISTENT" };
  await session.send(await quotaLine(session));
  return ok("GETQUOTA completed");
}

export async function getquotaroot(session: Session, command: MailboxCommand): Promise<CommandResult> {
  const mailbox = await requireMailbox(session, command.mailbox);
  await session.send([
    ...untagged([atom("QUOTAROOT"), mailboxNameValue(mailbox.name, session.utf8), ""], session.writerOptions),
    ...(await quotaLine(session)),
  ]);
  return ok("GETQUOTAROOT completed");
}
