/**
 * The end of DATA on submission: from the received bytes to a durable
 * acceptance. The header section is rewritten (Received on top, Bcc gone,
 * Date/Message-ID added), the sender policy checks the From: addresses, the
 * send limits are charged, the message is DKIM-signed with its From: domain's
 * key, streamed once into the blob store (or, small and for remote
 * recipients only, kept in the queue rows themselves: one flush, the
 * commit, instead of a blob put's fsyncs and then the commit), delivered to
 * the local recipients (exactly once per dedupe key) and queued, one row per
 * remote domain, in one transaction. Only a resolved `accepted` may become 250; errors come back as
 * SmtpReply values.
 *
 * Local recipients go through the same per-recipient filtering as SMTP-in
 * (libs/delivery planDelivery: the account's active Sieve script decides
 * mailboxes, flags, discard, vacation, redirect, reject), without a spam
 * verdict: authenticated mail is never junk. The rows are committed before
 * the 250; vacation replies, redirects and rejection notices run only after
 * that commit and never for a duplicate (a retry after a lost 250). A reject
 * never refuses the submission (the other recipients, local or remote, still
 * get it): like Pigeonhole delivering through LMTP/LDA, the rejecting script
 * sends a rejection message to the envelope sender (RFC 5429 §2.1).
 */
import { createHash } from "node:crypto";
import type { BlobStore } from "@aerogram/blobstore";
import { type Delivery, type FilteredDelivery, planDelivery } from "@aerogram/delivery";
import type { DkimSigner } from "@aerogram/dkim";
import { CrlfNormalizer, toCrlf } from "@aerogram/mime";
import { receivedHeader, rfc5322Date, SmtpReply, type SpooledMessage } from "@aerogram/smtp";
import type { Account, DsnRet, RecipientDsn, Store } from "@aerogram/store";
import { fromAddresses, prepareHead, splitHead } from "./message-headers.ts";
import type { QueueCommitter } from "./queue-commit.ts";
import type { RoutedRecipient } from "./recipients.ts";
import type { SendLimits } from "./send-limits.ts";
import { maySendAs, type SenderPolicy } from "./sender-policy.ts";

/** The header section must end within this many octets (RFC 5322 has no limit; we need one). */
export const MAX_HEAD_OCTETS = 1024 * 1024;

export interface AcceptContext {
  store: Store;
  delivery: Delivery;
  /** The per-recipient Sieve step (libs/delivery sieve-filter.ts); undefined: INBOX only. */
  filtered: FilteredDelivery | undefined;
  /** The blob store, for messages with remote recipients only (no IMAP index needed). */
  blobs: BlobStore;
  limits: SendLimits;
  /** Queue rows go through the group commit. */
  queue: QueueCommitter;
  signer: DkimSigner | undefined;
  hostname: string;
  senderPolicy: SenderPolicy;
  queueMaxAgeMs: number;
  dedupeWindowSeconds: number;
  /**
   * Messages up to this size (those the spool kept in memory) are handled as
   * one Buffer: read once, signed, scanned and stored with one write
   * (putBuffer); larger ones are streamed.
   */
  wholeInMemoryBytes: number;
  /**
   * A message for remote recipients only, held whole, whose copies (one per
   * recipient domain's queue row) total at most this many octets is kept in
   * the queue rows instead of the blob store: the rows' commit is then the
   * one flush before the 250 (SUBMISSION_INLINE_QUEUE_MAX_BYTES; 0: never).
   */
  inlineQueueMaxBytes: number;
}

export interface Submitted {
  account: Account;
  /** MAIL FROM. */
  sender: string;
  recipients: readonly RoutedRecipient[];
  /** RFC 3461 parameters (as received) for the queued rows' DSNs. */
  dsn?: { ret: DsnRet | null; envid: string | null; recipients: ReadonlyMap<string, RecipientDsn> };
  client: { ip: string; helo: string; clientHostname: string; protocol: string };
  transactionId: string;
}

export interface Accepted {
  messageId: string;
  /** The blob holding the message; null when it went into the queue rows. */
  blobKey: string | null;
  local: number;
  queued: number;
  dkim: "signed" | "no_key" | "error" | "off";
  /** The local delivery was a retry of one already committed (no new rows, no side effects). */
  duplicate: boolean;
  /** Where each local copy went ("inbox", "other"; none for a discard or reject). */
  placements: string[];
  /** Vacation/redirect/reject-notice failures after the commit (logged; the message is delivered). */
  sideEffectErrors: Error[];
}

async function readPrefix(message: SpooledMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of message.open()) {
    chunks.push(chunk as Buffer);
    n += (chunk as Buffer).length;
    if (n >= max) break;
  }
  return Buffer.concat(chunks).subarray(0, max);
}

/** Any octet above 127 (RFC 6152 8-bit data)? */
function has8bit(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i]! > 127) return true;
  return false;
}

/** The spooled message from `offset` on. */
async function* bodyFrom(message: SpooledMessage, offset: number): AsyncIterable<Buffer> {
  let skipped = 0;
  for await (const c of message.open()) {
    const chunk = c as Buffer;
    if (skipped + chunk.length <= offset) {
      skipped += chunk.length;
      continue;
    }
    yield skipped >= offset ? chunk : chunk.subarray(offset - skipped);
    skipped += chunk.length;
  }
}

async function* concat(head: Buffer, body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  yield head;
  yield* body;
}

/** Passes chunks through, calling `found` once if any octet is above 127 (RFC 6152 8-bit data). */
async function* noticing8bit(source: AsyncIterable<Buffer>, found: () => void): AsyncIterable<Buffer> {
  let seen = false;
  for await (const chunk of source) {
    if (!seen && chunk.some((b) => b > 127)) {
      seen = true;
      found();
    }
    yield chunk;
  }
}

/** CRLF line ends, as Delivery.storeBlob stores them (an SMTP client may send bare LF). */
async function* crlf(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const n = new CrlfNormalizer();
  for await (const chunk of source) yield n.push(chunk);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of source) chunks.push(c);
  return Buffer.concat(chunks);
}

export async function acceptMessage(
  ctx: AcceptContext,
  message: SpooledMessage,
  s: Submitted,
): Promise<Accepted | SmtpReply> {
  // A message the spool kept in memory is read once, as one Buffer; the
  // profile showed the repeated stream passes (header prefix, DKIM, blob)
  // and the blob's per-chunk writes as a large part of submission's CPU.
  const whole = message.size <= ctx.wholeInMemoryBytes ? await collect(message.open()) : undefined;
  const prefix = whole
    ? whole.subarray(0, MAX_HEAD_OCTETS)
    : await readPrefix(message, Math.min(message.size, MAX_HEAD_OCTETS));
  const section = splitHead(prefix);
  if (section.length === prefix.length && prefix.length >= MAX_HEAD_OCTETS) {
    return new SmtpReply(552, "5.3.4", "Header section too large", "too_big");
  }
  // RFC 6409 §6.1: the From: of a submitted message must be one the user may use.
  const from = fromAddresses(section.head);
  if (from.length === 0) return new SmtpReply(550, "5.6.0", "Message has no From: address", "no_from");
  const denied = from.find((a) => !maySendAs(s.account, a, ctx.senderPolicy));
  if (denied) {
    return new SmtpReply(550, "5.7.1", `Not authorised to send as <${denied}>`, "sender_denied");
  }
  // The limits are charged (a round trip to Redis or the cluster primary) while
  // the message is signed and stored; its verdict is awaited before anything
  // is delivered or queued. A refused message leaves an unreferenced blob,
  // which the blob collector removes.
  const charged = ctx.limits.charge(s.account.id, s.recipients.length);
  const remote = s.recipients.filter((r) => r.kind === "remote");
  const local = s.recipients.filter((r) => r.kind === "local");
  const trace = receivedHeader({
    helo: s.client.helo,
    clientHostname: s.client.clientHostname,
    ip: s.client.ip,
    hostname: ctx.hostname,
    protocol: s.client.protocol,
    id: s.transactionId,
    ...(s.recipients.length === 1 ? { recipient: s.recipients[0]!.address } : {}),
  });
  const prepared = prepareHead(section.head, {
    hostname: ctx.hostname,
    date: rfc5322Date(new Date()),
    prefix: trace,
  });
  // The message as it leaves us, unsigned (small messages only: larger ones stream).
  const unsigned = whole ? Buffer.concat([prepared.head, whole.subarray(section.length)]) : undefined;
  // The signature covers the message as it leaves us; mailauth reads it whole.
  let dkim: Accepted["dkim"] = "off";
  let signature = "";
  if (ctx.signer && remote.length > 0) {
    const all = unsigned ?? (await collect(concat(prepared.head, bodyFrom(message, section.length))));
    const signed = await ctx.signer.sign(all, from[0]!.slice(from[0]!.lastIndexOf("@") + 1));
    dkim = signed.signed ? "signed" : signed.reason;
    if (signed.signed) signature = signed.header;
  }
  let eightBit = false;
  // Only a mailbox needs the IMAP index (body structure, envelope, preview)
  // Delivery.storeBlob builds; a message for remote recipients only skips it.
  let stored: Awaited<ReturnType<Delivery["storeBlob"]>> | undefined;
  let blob: { key: string | null; size: number };
  // Kept in the queue rows instead (see inlineQueueMaxBytes).
  let inline: Buffer | undefined;
  try {
    if (unsigned) {
      // CRLF line ends, as Delivery.storeBlob stores them (an SMTP client may send bare LF).
      const out = toCrlf(signature ? Buffer.concat([Buffer.from(signature, "utf8"), unsigned]) : unsigned);
      eightBit = has8bit(out);
      const domains = new Set(remote.map((r) => (r.kind === "remote" ? r.domain : ""))).size;
      if (local.length === 0 && out.length * domains <= ctx.inlineQueueMaxBytes) {
        // One flush per message: the file and directory fsyncs of a blob put
        // were most of a submission's wall time; the rows' commit (below,
        // before the 250) makes these bytes durable with the envelope.
        inline = out;
        blob = { key: null, size: out.length };
      } else {
        stored = local.length > 0 ? await ctx.delivery.storeBlob(out) : undefined;
        blob = stored ?? (await ctx.blobs.putBuffer(out));
      }
    } else {
      const content = noticing8bit(
        concat(
          Buffer.concat([Buffer.from(signature, "utf8"), prepared.head]),
          bodyFrom(message, section.length),
        ),
        () => {
          eightBit = true;
        },
      );
      stored = local.length > 0 ? await ctx.delivery.storeBlob(content) : undefined;
      blob = stored ?? (await ctx.blobs.put(crlf(content)));
    }
  } finally {
    await charged; // never rejects (SendLimits lets mail through when the limiter is down)
  }
  const verdict = await charged;
  if (!verdict.ok) {
    return new SmtpReply(
      451,
      "4.7.1",
      `Sending limit reached (${verdict.limit.replaceAll("_", " ")}), try again later`,
      "rate_limited",
    );
  }
  let duplicate = false;
  let placements: string[] = [];
  let sideEffectErrors: Error[] = [];
  if (local.length > 0) {
    // Per local recipient: INBOX or wherever its Sieve script says; one row per
    // mailbox even when two RCPTs (an alias and its account) lead to it.
    const plan = await planDelivery(
      ctx.store,
      ctx.filtered,
      stored!,
      {
        sender: s.sender,
        recipients: local.map((r) => r as Extract<RoutedRecipient, { kind: "local" }>),
        junk: false,
      },
      { refuseAtProtocol: false },
    );
    placements = plan.placements;
    // A client retrying after a lost 250 must not deliver twice: the key is
    // what it sent, to whom, under which Message-ID.
    const key = createHash("sha256")
      .update(`submission\0${s.account.id}\0${s.sender}\0${message.sha256}\0${prepared.messageId}\0`)
      .update(
        local
          .map((r) => r.address)
          .sort()
          .join("\0"),
      )
      .digest("hex");
    if (plan.targets.length > 0) {
      const result = await ctx.delivery.commitOnce(stored!, plan.targets, {
        key,
        windowSeconds: ctx.dedupeWindowSeconds,
      });
      duplicate = result.duplicate;
    }
    // Vacation replies, redirects and reject notices right after the local
    // commit, never for a duplicate: if the queue rows below then fail (451),
    // the client's retry is a duplicate here and sends nothing twice.
    if (!duplicate) sideEffectErrors = await plan.afterCommit();
  }
  if (remote.length > 0) {
    const byDomain = new Map<string, string[]>();
    for (const r of remote) {
      if (r.kind !== "remote") continue;
      const list = byDomain.get(r.domain) ?? [];
      if (!list.includes(r.address)) list.push(r.address);
      byDomain.set(r.domain, list);
    }
    await ctx.queue.enqueue({
      blobKey: blob.key,
      ...(inline ? { content: inline } : {}),
      size: blob.size,
      sender: s.sender,
      senderAccountId: s.account.id,
      messageId: prepared.messageId || null,
      eightBit,
      byDomain,
      expiresAt: new Date(Date.now() + ctx.queueMaxAgeMs),
      ...(s.dsn ? { dsnRet: s.dsn.ret, dsnEnvid: s.dsn.envid, recipientDsn: s.dsn.recipients } : {}),
    });
  }
  return {
    messageId: prepared.messageId,
    blobKey: blob.key,
    local: local.length,
    queued: remote.length,
    dkim,
    duplicate,
    placements,
    sideEffectErrors,
  };
}
