/**
 * The load generator and the mailbox audit shared by the crash and outage
 * tests: N messages with unique Message-IDs, sent like an MTA sends (one
 * connection each, retry on 4xx and dropped connections), then checked against
 * the database and the blob store.
 */
import { randomBytes } from "node:crypto";
import type { BlobStore } from "@aerogram/blobstore";
import type { Store } from "@aerogram/store";
import { uniqueId } from "@aerogram/testkit";
import { sleep, smtpAttempt } from "./support.ts";

export interface Sent {
  id: string;
  to: string[];
  message: Buffer;
  acked: boolean;
  attempts: number;
  dropped: number;
  temporary: number;
}

function buildMessage(i: number, id: string, to: readonly string[]): Buffer {
  const lines = [
    `From: Sender ${i} <sender${i}@remote.test>`,
    `To: ${to.join(", ")}`,
    `Subject: chaos ${i} ${id}`,
    `Message-ID: <${id}@remote.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `message ${i}`,
    // Dot-stuffing must round-trip: a line that is a single dot and one that starts with one.
    ".",
    ".leading dot",
  ];
  // Bodies from a few hundred bytes to ~24 KB of random base64 lines.
  const extra = (i * 7919) % 320;
  for (let k = 0; k < extra; k++) lines.push(randomBytes(57).toString("base64"));
  lines.push("end", "");
  return Buffer.from(lines.join("\r\n"));
}

/** N messages to the given addresses; every fifth goes to two mailboxes (one transaction for both). */
export function makeMessages(n: number, addresses: readonly string[]): Sent[] {
  const sent: Sent[] = [];
  for (let i = 0; i < n; i++) {
    const id = `chaos-${i}-${uniqueId()}`;
    const to = [addresses[i % addresses.length]!];
    if (i % 5 === 0 && addresses.length > 1) to.push(addresses[(i + 3) % addresses.length]!);
    sent.push({
      id,
      to,
      message: buildMessage(i, id, to),
      acked: false,
      attempts: 0,
      dropped: 0,
      temporary: 0,
    });
  }
  return sent;
}

export interface LoadOptions {
  port: number;
  concurrency: number;
  /** Messages started per second, at most. */
  rate: number;
  deadline: number;
  /** Loopback source addresses 127.0.0.2.. to spread per-IP limits over, as many MTAs would. */
  sourceIps: number;
  /** Awaited before message i is first sent (ties the load to fault injection). */
  gate?: (i: number) => Promise<void>;
  /** Called after each acknowledgement with the number acknowledged so far. */
  onAck?: (acked: number) => void;
  /** When it returns true, stop sending (the server under test died: retrying is pointless). */
  abort?: () => boolean;
}

/** Sends every message until acknowledged (or the deadline); returns the count of 5xx replies. */
export async function sendAll(sent: Sent[], o: LoadOptions): Promise<{ permanent: string[] }> {
  let next = 0;
  let acked = 0;
  const permanent: string[] = [];
  const started = Date.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= sent.length || o.abort?.()) return;
      const m = sent[i]!;
      await o.gate?.(i);
      const notBefore = started + (i * 1000) / o.rate;
      if (Date.now() < notBefore) await sleep(notBefore - Date.now());
      while (!m.acked && Date.now() < o.deadline && !o.abort?.()) {
        m.attempts++;
        const outcome = await smtpAttempt({
          port: o.port,
          localAddress: `127.0.0.${2 + (i % o.sourceIps)}`,
          from: `sender${i}@remote.test`,
          to: m.to,
          message: m.message,
          timeoutMs: 30_000,
        });
        if (outcome.kind === "ack") {
          m.acked = true;
          o.onAck?.(++acked);
        } else if (outcome.kind === "permanent") {
          permanent.push(`message ${i}: ${outcome.reply}`);
          break;
        } else {
          if (outcome.kind === "dropped") m.dropped++;
          else m.temporary++;
          await sleep(200 + Math.random() * 400);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return { permanent };
}

export interface Audit {
  acknowledged: number;
  recipientDeliveries: number;
  found: number;
  duplicated: number;
  lost: number;
  corrupt: number;
  unackedPresent: number;
  strays: number;
  rowsWithMissingBlob: number;
  /** Acknowledged deliveries absent because a client deleted them (POP3 DELE + QUIT). */
  removedByClient: number;
  referenced: Set<string>;
  problems: string[];
}

/**
 * Messages a mail client removed on purpose, by recipient address and Sent.id:
 * "removed" when the server confirmed it (POP3 QUIT +OK), "maybe" when the
 * outcome is unknown (QUIT sent, answer lost or -ERR).
 */
export type ClientRemovals = ReadonlyMap<string, ReadonlyMap<string, "removed" | "maybe">>;

/**
 * Every acknowledged message is in each recipient's INBOX exactly once, byte-identical after our
 * prepended trace headers (or gone because a client deleted it, and then really gone when the
 * server confirmed it); unacknowledged ones are absent or there once; whole or not at all across
 * recipients; no rows for messages never sent; every row's blob exists.
 */
export async function audit(
  store: Pick<Store, "pool">,
  blobs: BlobStore,
  sent: readonly Sent[],
  inboxOf: ReadonlyMap<string, number>,
  removals: ClientRemovals = new Map(),
): Promise<Audit> {
  const { rows } = await store.pool.query<{
    mailbox_id: number;
    message_id: string | null;
    blob_key: string;
  }>("SELECT mailbox_id, message_id, blob_key FROM messages");
  const rowsBy = new Map<string, { mailbox_id: number; blob_key: string }[]>();
  for (const r of rows) {
    const k = r.message_id ?? "";
    rowsBy.set(k, [...(rowsBy.get(k) ?? []), r]);
  }
  const expectedIds = new Set(sent.map((m) => `<${m.id}@remote.test>`));
  const a: Audit = {
    acknowledged: sent.filter((m) => m.acked).length,
    recipientDeliveries: sent.filter((m) => m.acked).reduce((n, m) => n + m.to.length, 0),
    found: 0,
    duplicated: 0,
    lost: 0,
    corrupt: 0,
    unackedPresent: 0,
    strays: rows.filter((r) => !expectedIds.has(r.message_id ?? "")).length,
    rowsWithMissingBlob: 0,
    removedByClient: 0,
    referenced: new Set(rows.map((r) => r.blob_key)),
    problems: [],
  };
  for (const m of sent) {
    const mine = rowsBy.get(`<${m.id}@remote.test>`) ?? [];
    let present = 0;
    for (const address of m.to) {
      const copies = mine.filter((r) => r.mailbox_id === inboxOf.get(address));
      const removal = removals.get(address)?.get(m.id);
      if (removal === "removed" && copies.length > 0)
        a.problems.push(`${m.id} was deleted from ${address} (server said so) but is still there`);
      if (removal !== undefined && copies.length === 0) {
        present++;
        if (m.acked) a.removedByClient++;
        continue;
      }
      if (copies.length > 1) {
        a.duplicated++;
        a.problems.push(`${m.id} is in ${address} ${copies.length} times`);
      }
      if (copies.length === 0) {
        if (m.acked) {
          a.lost++;
          a.problems.push(`${m.id} was acknowledged but is not in ${address}`);
        }
        continue;
      }
      present++;
      if (m.acked) a.found++;
      else a.unackedPresent++;
      const raw = await blobs.read(copies[0]!.blob_key);
      const prefix = raw.subarray(0, Math.max(0, raw.length - m.message.length)).toString("latin1");
      const rest = raw.subarray(raw.length - m.message.length);
      if (
        !rest.equals(m.message) ||
        !/^Received: /.test(prefix) ||
        !/^(?:[!-9;-~]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)+$/.test(prefix)
      ) {
        a.corrupt++;
        a.problems.push(`${m.id} in ${address} is not the message as sent after our trace headers`);
      }
    }
    if (present !== 0 && present !== m.to.length)
      a.problems.push(`${m.id} is in ${present}/${m.to.length} mailboxes`);
  }
  for (const key of a.referenced) if (!(await blobs.stat(key))) a.rowsWithMissingBlob++;
  return a;
}

/** The counts every delivery test reports. */
export function auditCounts(sent: readonly Sent[], a: Audit): Record<string, number> {
  return {
    sent: sent.length,
    acknowledged: a.acknowledged,
    recipientDeliveries: a.recipientDeliveries,
    found: a.found,
    duplicated: a.duplicated,
    lost: a.lost,
    corrupt: a.corrupt,
    unackedPresent: a.unackedPresent,
    attempts: sent.reduce((n, m) => n + m.attempts, 0),
    droppedAttempts: sent.reduce((n, m) => n + m.dropped, 0),
    temporaryReplies: sent.reduce((n, m) => n + m.temporary, 0),
    rowsWithMissingBlob: a.rowsWithMissingBlob,
    removedByClient: a.removedByClient,
  };
}
