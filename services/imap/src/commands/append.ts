// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: all messages or none,
// in one transaction), UIDPLUS APPENDUID (RFC 4315) and quota (RFC 9208 OVERQUOTA).
// Large literals were streamed into the blob store while they arrived
// (session.uploads); small ones are in the command.

import { type StoredBlob, toIndexColumns } from "@aerogram/delivery";
import { type AppendCommand, responseCodes } from "@aerogram/imap-protocol";
import type { Mailbox } from "@aerogram/store";
import { normalizeMailboxName } from "@aerogram/store";
import { convertBinaryParts } from "../binary-append.ts";
import { no } from "../errors.ts";
import { accountId, requireMailbox } from "../mailbox-lookup.ts";
import { applyOwnAppend } from "../mailbox-sync.ts";
import { parseMailboxName } from "../namespaces.ts";
import { appendSeenAsReader, claimsRecent } from "../private-seen.ts";
import { publishChange } from "../publish.ts";
import { appendableFlags } from "../rights.ts";
import type { Session } from "../session.ts";
import type { CommandResult } from "./result.ts";

export async function append(session: Session, command: AppendCommand): Promise<CommandResult> {
  const id = accountId(session);
  for (const message of command.messages) {
    if (message.flags.some((f) => f.toLowerCase() === "\\recent")) {
      return { condition: "BAD", text: "\\Recent can't be set" };
    }
  }
  // Another account's mailbox (Other Users/…, Shared/…): resolved with the
  // caller's rights first ("i", RFC 4314 §4), then appended on the owner's quota.
  const foreign =
    parseMailboxName(command.mailbox).kind === "personal"
      ? null
      : await requireMailbox(session, command.mailbox, true);
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
  if (foreign && foreign.accountId !== id) return appendToShared(session, command, foreign, blobs);
  // One statement finds the mailbox by name, checks the quota, appends and (when
  // it is the selected mailbox of an IMAP4rev1 read-write session) claims \Recent.
  const view = session.selected;
  const rows = command.messages.map((message, i) => ({
    blobKey: blobs[i]!.key,
    size: blobs[i]!.size,
    internalDate: message.internalDate?.date ?? new Date(),
    flags: message.flags,
    index: toIndexColumns(blobs[i]!.index),
  }));
  const result = await session.ctx.runtime.store.messages.appendByName({
    accountId: id,
    name: normalizeMailboxName(command.mailbox),
    messages: rows,
    ...(view && !view.readOnly && !session.rev2 && claimsRecent(view) ? { claimRecentIn: view.id } : {}),
  });
  if (result.kind === "no-mailbox")
    throw no(`Mailbox doesn't exist: ${command.mailbox}`, responseCodes.tryCreate());
  if (result.kind === "over-quota")
    return { condition: "NO", text: "Quota exceeded", code: responseCodes.overQuota() };
  const appended = result.appended;
  publishChange(session, appended.mailboxId, "exists", appended.modseq, appended.uids);
  // A message's static columns never change: a FETCH of the new messages answers from memory.
  for (const [i, uid] of appended.uids.entries()) {
    const columns = rows[i]!;
    session.ctx.messageCache.putAppended(appended.mailboxId, uid, {
      internalDate: columns.internalDate,
      size: columns.size,
      blobKey: columns.blobKey,
      envelope: columns.index.envelope,
      bodyStructure: columns.index.bodyStructure,
      body: columns.index.body,
      // As Postgres gives it back: parsed from the stored JSON.
      mime: JSON.parse(JSON.stringify(columns.index.mime)),
      preview: columns.index.preview,
    });
  }
  if (view && appended.mailboxId === view.id) {
    await session.send(
      applyOwnAppend(
        session,
        appended,
        command.messages.map((m) => m.flags),
        result.recentFrom,
      ),
    );
  }
  return {
    condition: "OK",
    text: "APPEND completed",
    code: responseCodes.appendUid(appended.uidValidity, appended.uids),
  };
}

/** APPEND to a mailbox shared with the caller: the owner's quota, the flags the rights allow. */
async function appendToShared(
  session: Session,
  command: AppendCommand,
  mailbox: Mailbox,
  blobs: readonly StoredBlob[],
): Promise<CommandResult> {
  const store = session.ctx.runtime.store;
  const owner = await store.accounts.byId(mailbox.accountId);
  if (owner?.quotaBytes != null) {
    const usage = await store.accounts.usage(mailbox.accountId);
    const adding = blobs.reduce((sum, b) => sum + b.size, 0);
    if (usage.bytes + adding > owner.quotaBytes)
      return { condition: "NO", text: "Quota exceeded", code: responseCodes.overQuota() };
  }
  // The appender's \Seen is its own where \Seen is per user (private-seen.ts).
  const seen = await appendSeenAsReader(
    session,
    mailbox,
    command.messages.map((message) => appendableFlags(session, mailbox, message.flags)),
  );
  const [appended] = await store.messages.append([
    {
      mailboxId: mailbox.id,
      messages: command.messages.map((message, i) => ({
        blobKey: blobs[i]!.key,
        size: blobs[i]!.size,
        internalDate: message.internalDate?.date ?? new Date(),
        flags: seen.flags[i]!,
        index: toIndexColumns(blobs[i]!.index),
      })),
    },
  ]);
  if (!appended) throw new Error("append returned nothing");
  const seenModseq = await seen.afterAppend(appended.uids);
  publishChange(session, mailbox.id, "exists", seenModseq ?? appended.modseq, appended.uids);
  return {
    condition: "OK",
    text: "APPEND completed",
    code: responseCodes.appendUid(appended.uidValidity, appended.uids),
  };
}
