/**
 * Where a DSN goes: only ever into the INBOX of the local account that
 * submitted the message (the queue row's sender_account_id). Never to an
 * external address (a forged sender would make us a backscatter source), and
 * never for the null reverse-path (RFC 5321 §4.5.5: bounces are not bounced).
 * A DSN is delivered exactly once per (queue row, kind, recipients) even when
 * a worker dies between the DSN and the row's update and another retries.
 *
 * The caller has already kept only the recipients whose NOTIFY asks for this
 * kind (dsn-request.ts); RET=FULL returns the whole message with a failure
 * when it is at most FULL_RETURN_MAX_BYTES, else (and for delay and success
 * notices, RFC 3461 §4.3) its header section.
 */
import { createHash } from "node:crypto";
import type { BlobStore } from "@aerogram/blobstore";
import type { Delivery } from "@aerogram/delivery";
import type { OutboundEntry, Store } from "@aerogram/store";
import { buildDsn, type DsnKind, type FailedRecipient } from "./dsn.ts";
import { envelopeId } from "./dsn-request.ts";
import { readMessage } from "./message-bytes.ts";

export type BounceOutcome = "delivered" | "duplicate" | "no_local_sender" | "null_sender" | "not_requested";

const HEAD_READ = 64 * 1024;
/** Larger originals come back as headers only even with RET=FULL (RFC 3461 §4.3 allows it). */
export const FULL_RETURN_MAX_BYTES = 2 * 1024 * 1024;

async function originalHeaders(blobs: BlobStore, entry: OutboundEntry): Promise<string> {
  try {
    const head = (await readMessage(blobs, entry, 0, HEAD_READ)).toString("utf8");
    const end = head.search(/\r?\n\r?\n/);
    return end === -1 ? head : head.slice(0, end);
  } catch {
    return "";
  }
}

async function wholeMessage(blobs: BlobStore, entry: OutboundEntry): Promise<Buffer | undefined> {
  if (entry.size > FULL_RETURN_MAX_BYTES) return undefined;
  try {
    return await readMessage(blobs, entry);
  } catch {
    return undefined;
  }
}

/** The dedupe prefix per kind (failures keep the original "dsn" prefix). */
const KEY_PREFIX: Record<DsnKind, string> = {
  rejected: "dsn",
  expired: "dsn",
  delayed: "dsn-delay",
  success: "dsn-success",
};

export async function bounce(
  deps: { store: Store; blobs: BlobStore; delivery: Delivery; hostname: string },
  entry: OutboundEntry,
  recipients: readonly FailedRecipient[],
  kind: DsnKind,
): Promise<BounceOutcome> {
  if (recipients.length === 0) return "not_requested";
  if (entry.sender === "") return "null_sender";
  if (entry.senderAccountId === null) return "no_local_sender";
  const inbox = await deps.store.mailboxes.byName(entry.senderAccountId, "INBOX");
  if (!inbox) return "no_local_sender";
  const failure = kind === "rejected" || kind === "expired";
  const full = failure && entry.dsnRet === "FULL" ? await wholeMessage(deps.blobs, entry) : undefined;
  const dsn = buildDsn({
    reportingMta: deps.hostname,
    to: entry.sender,
    originalMessageId: entry.messageId,
    originalHeaders: full ? "" : await originalHeaders(deps.blobs, entry),
    ...(full ? { originalMessage: full } : {}),
    envelopeId: envelopeId(entry),
    arrivalDate: entry.createdAt,
    recipients,
    kind,
    ...(kind === "delayed" ? { willRetryUntil: entry.expiresAt } : {}),
  });
  const key = createHash("sha256")
    .update(
      `${KEY_PREFIX[kind]}\0${entry.id}\0${recipients
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
