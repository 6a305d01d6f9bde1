/**
 * Where a DSN goes: only ever into the INBOX of the local account that
 * submitted the message (the queue row's sender_account_id). Never to an
 * external address (a forged sender would make us a backscatter source), and
 * never for the null reverse-path (RFC 5321 §4.5.5: bounces are not bounced).
 * The DSN is delivered exactly once per (queue row, recipients) even when a
 * worker dies between the DSN and the row's completion and another retries.
 */
import { createHash } from "node:crypto";
import type { BlobStore } from "@aerogram/blobstore";
import type { Delivery } from "@aerogram/delivery";
import type { OutboundEntry, Store } from "@aerogram/store";
import { buildDsn, type FailedRecipient } from "./dsn.ts";

export type BounceOutcome = "delivered" | "duplicate" | "no_local_sender" | "null_sender";

const HEAD_READ = 64 * 1024;

async function originalHeaders(blobs: BlobStore, key: string): Promise<string> {
  try {
    const head = (await blobs.read(key, 0, HEAD_READ)).toString("utf8");
    const end = head.search(/\r?\n\r?\n/);
    return end === -1 ? head : head.slice(0, end);
  } catch {
    return "";
  }
}

export async function bounce(
  deps: { store: Store; blobs: BlobStore; delivery: Delivery; hostname: string },
  entry: OutboundEntry,
  failed: readonly FailedRecipient[],
  kind: "rejected" | "expired",
): Promise<BounceOutcome> {
  if (entry.sender === "") return "null_sender";
  if (entry.senderAccountId === null) return "no_local_sender";
  const inbox = await deps.store.mailboxes.byName(entry.senderAccountId, "INBOX");
  if (!inbox) return "no_local_sender";
  const dsn = buildDsn({
    reportingMta: deps.hostname,
    to: entry.sender,
    originalMessageId: entry.messageId,
    originalHeaders: await originalHeaders(deps.blobs, entry.blobKey),
    arrivalDate: entry.createdAt,
    recipients: failed,
    kind,
  });
  const key = createHash("sha256")
    .update(
      `dsn\0${entry.id}\0${failed
        .map((f) => f.recipient.toLowerCase())
        .sort()
        .join("\0")}`,
    )
    .digest("hex");
  const blob = await deps.delivery.storeBlob(dsn.bytes);
  const result = await deps.delivery.commitOnce(blob, [{ mailboxId: inbox.id }], {
    key,
    windowSeconds: 7 * 86_400,
  });
  return result.duplicate ? "duplicate" : "delivered";
}
