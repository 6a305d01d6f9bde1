// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: all messages or none,
// in one transaction), UIDPLUS APPENDUID (RFC 4315) and quota (RFC 9208 OVERQUOTA).
// Large literals were streamed into the blob store while they arrived
// (session.uploads); small ones are in the command.

import { type StoredBlob, toIndexColumns } from "@aerogram/delivery";
import { type AppendCommand, responseCodes } from "@aerogram/imap-protocol";
import { convertBinaryParts } from "../binary-append.ts";
import { accountId, requireMailbox } from "../mailbox-lookup.ts";
import { publishChange } from "../publish.ts";
import { appendableFlags } from "../rights.ts";
import type { Session } from "../session.ts";
import type { CommandResult } from "./result.ts";

export async function append(session: Session, command: AppendCommand): Promise<CommandResult> {
  // The account row (quota) is read alongside the mailbox lookup: one wait, not two.
  const accountRead = session.ctx.runtime.store.accounts.byId(accountId(session));
  accountRead.catch(() => {}); // awaited below, where a failure is reported
  const mailbox = await requireMailbox(session, command.mailbox, true);
  for (const message of command.messages) {
    if (message.flags.some((f) => f.toLowerCase() === "\\recent")) {
      return { condition: "BAD", text: "\\Recent can't be set" };
    }
  }
  const blobs: StoredBlob[] = [];
  for (const message of command.messages) {
    if (message.data.kind === "buffered") {
      if (message.data.data.length === 0) return { condition: "NO", text: "Empty message" };
      const data = message.data.binary ? convertBinaryParts(message.data.data) : message.data.data;
      blobs.push(await session.ctx.delivery.storeBlob(data));
    } else {
      const upload = session.uploads.get(message.data.index);
      if (!upload) return { condition: "NO", text: "Message data missing" };
      blobs.push(await upload.blob);
    }
  }
  // A shared mailbox counts against its owner's quota.
  const id = mailbox.accountId;
  const account =
    id === accountId(session) ? await accountRead : await session.ctx.runtime.store.accounts.byId(id);
  if (account?.quotaBytes != null) {
    const usage = await session.ctx.runtime.store.accounts.usage(id);
    const adding = blobs.reduce((sum, b) => sum + b.size, 0);
    if (usage.bytes + adding > account.quotaBytes) {
      return { condition: "NO", text: "Quota exceeded", code: responseCodes.overQuota() };
    }
  }
  const [appended] = await session.ctx.runtime.store.messages.append([
    {
      mailboxId: mailbox.id,
      messages: command.messages.map((message, i) => ({
        blobKey: blobs[i]!.key,
        size: blobs[i]!.size,
        internalDate: message.internalDate?.date ?? new Date(),
        flags: appendableFlags(session, mailbox, message.flags),
        index: toIndexColumns(blobs[i]!.index),
      })),
    },
  ]);
  if (!appended) throw new Error("append returned nothing");
  publishChange(session, mailbox.id, "exists", appended.modseq, appended.uids);
  return {
    condition: "OK",
    text: "APPEND completed",
    code: responseCodes.appendUid(appended.uidValidity, appended.uids),
  };
}
