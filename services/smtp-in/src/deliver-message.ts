/**
 * The end of DATA: from the received bytes to a durable delivery (250 only
 * once the message is committed and its blob stored). The message as received is spooled once; then the
 * authentication checks read it, our trace and Authentication-Results headers
 * are prepended, the whole streams into the blob store (indexed on the way),
 * and one transaction adds it to every accepted recipient's INBOX together
 * with the dedupe key. Only a resolved promise may be answered with 250; any
 * throw before the commit leaves nothing visible and becomes 451 4.3.0.
 */
import type { Readable } from "node:stream";
import { type Delivery, type FilteredDelivery, planDelivery } from "@aerogram/delivery";
import { receivedHeader, type SpooledMessage } from "@aerogram/smtp";
import type { FilterDecision } from "@aerogram/spam";
import type { Store } from "@aerogram/store";
import { type AuthVerdictCache, type AuthVerdicts, checkAuthentication } from "./auth-results.ts";
import { dedupeKey } from "./dedupe.ts";
import type { DnsLookup } from "./dns-resolver.ts";
import { type FilterVerdict, type InboundFilterOptions, judgeMessage } from "./inbound-filter.ts";
import type { AcceptedRecipient, ForwardedRecipient, Recipient } from "./recipient-policy.ts";

export interface Envelope {
  /** MAIL FROM, "" for the null reverse-path. */
  sender: string;
  recipients: readonly Recipient[];
}

export interface ClientInfo {
  ip: string;
  helo: string;
  clientHostname: string;
  /** ESMTP, ESMTPS, … (RFC 3848). */
  protocol: string;
}

export interface DeliverContext {
  delivery: Delivery;
  hostname: string;
  resolver: DnsLookup;
  authTimeBoxMs: number;
  /** Verdicts of unsigned messages reused per client, envelope and From: (undefined: every message checked). */
  authCache?: AuthVerdictCache | undefined;
  dedupeWindowSeconds: number;
  store: Store;
  filter: InboundFilterOptions;
  /** Sieve and the other per-recipient filters of libs/delivery (undefined: INBOX or Junk only). */
  filtered: FilteredDelivery | undefined;
  /**
   * Messages up to this size (the spool keeps them in memory: SMTP_SPOOL_MEMORY_BYTES)
   * are handed to the checks and the blob store as one buffer: one write and
   * one hash per put instead of a stream per reader. 0: always streams.
   */
  bufferBytes?: number;
  /** Queues forwarded copies (libs/store outbound); absent: forwards are refused at DATA. */
  forward?: (
    blob: { key: string; size: number; messageId: string | null },
    sender: string,
    to: string[],
  ) => Promise<void>;
}

export type DeliveryOutcome =
  | {
      refused: false;
      duplicate: boolean;
      blobKey: string;
      auth: AuthVerdicts;
      verdict: FilterVerdict;
      /** Where each copy went (mailbox kinds for metrics: "inbox", "junk", "other"). */
      placements: string[];
      /** Vacation/redirect failures after the commit (logged; the message is delivered). */
      sideEffectErrors: Error[];
    }
  | {
      refused: true;
      decision: Exclude<FilterDecision, { kind: "deliver" }>;
      auth: AuthVerdicts;
      verdict: FilterVerdict;
    };

async function* prepend(head: Buffer, body: Readable): AsyncIterable<Uint8Array> {
  yield head;
  for await (const chunk of body) yield chunk as Buffer;
}

/** The whole message as one buffer (the spool already holds it in memory). */
async function readWhole(message: SpooledMessage): Promise<Buffer> {
  const held = message.inMemory();
  if (held) return held.length === 1 ? held[0]! : Buffer.concat(held as Buffer[], message.size);
  const chunks: Buffer[] = [];
  for await (const chunk of message.open()) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, message.size);
}

export async function deliverMessage(
  ctx: DeliverContext,
  message: SpooledMessage,
  envelope: Envelope,
  client: ClientInfo,
  transactionId: string,
): Promise<DeliveryOutcome> {
  const whole = message.size <= (ctx.bufferBytes ?? 0) ? await readWhole(message) : undefined;
  const auth = await checkAuthentication(
    whole ?? message.open(),
    { ip: client.ip, helo: client.helo, sender: envelope.sender, hostname: ctx.hostname },
    {
      resolver: ctx.resolver,
      timeBoxMs: ctx.authTimeBoxMs,
      ...(ctx.authCache ? { cache: ctx.authCache } : {}),
    },
  );
  const only = envelope.recipients.length === 1 ? envelope.recipients[0]!.address : undefined;
  const trace = receivedHeader({
    helo: client.helo,
    clientHostname: client.clientHostname,
    ip: client.ip,
    hostname: ctx.hostname,
    protocol: client.protocol,
    id: transactionId,
    ...(only ? { recipient: only } : {}),
  });
  const verdict = await judgeMessage(
    ctx.filter,
    message,
    trace + auth.headers,
    {
      ip: client.ip,
      helo: client.helo,
      sender: envelope.sender,
      recipients: envelope.recipients.map((r) => r.address),
      queueId: transactionId,
      hostname: ctx.hostname,
    },
    auth,
  );
  if (verdict.decision.kind !== "deliver")
    return { refused: true, decision: verdict.decision, auth, verdict };
  const local = envelope.recipients.filter((r): r is AcceptedRecipient => r.forwardTo === undefined);
  const forwards = envelope.recipients.filter((r): r is ForwardedRecipient => r.forwardTo !== undefined);
  // Newest trace header on top (RFC 5321 §4.4), then the verdicts about it. Only
  // local copies (commitOnce) may leave a reclaimed blob's tombstone to the commit;
  // a forward's queue row has no such retry.
  const head = Buffer.from(trace + auth.headers + verdict.headers, "utf8");
  const blob = await ctx.delivery.storeBlob(
    whole ? Buffer.concat([head, whole], head.length + whole.length) : prepend(head, message.open()),
    { tombstones: forwards.length > 0 ? "now" : "at-commit" },
  );
  // Per local recipient: INBOX, Junk, or wherever its Sieve script says (libs/delivery filters.ts);
  // one row per mailbox, even when two RCPTs (an alias and its account) lead to it.
  const plan = await planDelivery(ctx.store, ctx.filtered, blob, {
    sender: envelope.sender,
    recipients: local,
    junk: verdict.decision.junk,
  });
  if (plan.refuseSpam) {
    // The recipients' domain says spam is refused rather than filed (spam_action reject).
    const decision = {
      kind: "reject",
      code: 550,
      enhanced: "5.7.1",
      text: "Message rejected as spam",
      reason: "spam_domain_reject",
    } as const;
    return { refused: true, decision, auth, verdict };
  }
  if (plan.refuse !== undefined) {
    // RFC 5429 §2.1.1: reject at the protocol level when we can. The reason is the script's; one safe line of it.
    const reason =
      plan.refuse
        .replace(/[^\x20-\x7e]+/g, " ")
        .trim()
        .slice(0, 200) || "Message rejected";
    const decision = {
      kind: "reject",
      code: 550,
      enhanced: "5.7.1",
      text: reason,
      reason: "sieve_reject",
    } as const;
    return { refused: true, decision, auth, verdict };
  }
  const key = dedupeKey({
    payloadSha256: message.sha256,
    sender: envelope.sender,
    recipients: envelope.recipients.map((r) => r.address),
    messageId: blob.index.search.messageId,
  });
  const result =
    plan.targets.length > 0
      ? await ctx.delivery.commitOnce(blob, plan.targets, { key, windowSeconds: ctx.dedupeWindowSeconds })
      : { duplicate: false };
  // Vacation replies and redirects only once the delivery is committed, and never for a duplicate.
  const sideEffectErrors = result.duplicate ? [] : await plan.afterCommit();
  // Forwards are queued after the local commit and only when it was not a
  // duplicate, so a retried transaction does not forward twice; a failure
  // here is a 451 and the retry finds the local part already delivered.
  if (forwards.length > 0 && !result.duplicate) {
    if (!ctx.forward) throw new Error("forwarding is not available in this process");
    const targets = [...new Set(forwards.flatMap((f) => f.forwardTo))];
    await ctx.forward(
      { key: blob.key, size: blob.size, messageId: blob.index.search.messageId ?? null },
      envelope.sender,
      targets,
    );
  }
  return {
    refused: false,
    duplicate: result.duplicate,
    blobKey: blob.key,
    auth,
    verdict,
    placements: plan.placements,
    sideEffectErrors,
  };
}
