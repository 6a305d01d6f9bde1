/**
 * A POP3 maildrop: the account's INBOX as one session sees it, and the lock
 * that makes that session the only one (RFC 1939 §8).
 *
 * - The lock is a lease in the shared limiter (Redis across replicas, memory
 *   in one process) under `pop3:maildrop:<accountId>`. The gateway renews it
 *   while the session lives and releases it on QUIT or disconnect; a replica
 *   that dies stops renewing, so the lease expires by itself and nobody is
 *   locked out for longer than one lease.
 * - The snapshot is taken once, at login: message numbers, sizes and UIDL
 *   values stay fixed for the session; mail arriving later shows up in the
 *   next session. It is read while the lock request is out and kept only if
 *   it includes the previous holder's deletions (the lock's handover, see
 *   open()); else it is read again under the lock.
 * - Sizes are the octets RETR sends (CRLF form): stored blobs with bare LFs
 *   get CRs on the way out, so their size is computed once per blob by reading
 *   it and remembered in pop3_blob_sizes (content-addressed, so shared).
 * - DELE only marks. commit() applies the marks in one transaction
 *   (messages.expunge writes the expunge log) and publishes the expunge event
 *   so IMAP sessions see it. Nothing else ever deletes.
 * - IMAP is not blocked by the POP3 lock (see the package README): an IMAP
 *   client may expunge or add messages during a POP3 session; POP3 then serves
 *   its snapshot (a RETR of a message IMAP expunged meanwhile is served while
 *   its blob exists, else answered -ERR), and deleting it again is a no-op.
 */
import { BlobNotFoundError, type BlobStore } from "@aerogram/blobstore";
import type { EventBus } from "@aerogram/events";
import { acquireUnlessBlocked, type Lease, type Limiter } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";
import type { Pop3Snapshot, Store } from "@aerogram/store";
import { pop3Octets } from "./protocol/dot-stuffing.ts";

export interface MaildropMessage {
  uid: number;
  blobKey: string;
  /** Octets RETR sends (CRLF form, before byte-stuffing). */
  octets: number;
  /** Octets as stored (RFC822.SIZE). */
  storedOctets: number;
  deleted: boolean;
}

export interface MaildropDeps {
  store: Store;
  blobs: BlobStore;
  events: EventBus;
  /** The maildrop lock's limiter (the POP3 service gives it a Redis connection of its own). */
  limits: Limiter;
  log: Logger;
}

export type OpenResult =
  /** reread: the snapshot read alongside the lock request predated the previous session's commit. */
  { ok: true; maildrop: Maildrop; reread: boolean } | { ok: false; reason: "in-use" | "no-inbox" };

/** A maildrop being opened: the lock request and the snapshot read, sent together (Maildrop.start). */
export interface Opening {
  accountId: number;
  leaseMs: number;
  locking: Promise<Lease | undefined>;
  reading: Promise<Pop3Snapshot | undefined>;
}

/** Blobs read in parallel when sizing messages no session has sized yet. */
const SIZE_CONCURRENCY = 4;

/**
 * Pauses before asking again for a lock found held (200 ms in all). QUIT
 * answers once its release is written to Redis, not answered, so a client
 * that reconnects at once through another worker or replica (another Redis
 * connection) may overtake it; the retries cover that moment. A maildrop
 * really in use answers [IN-USE] that much later.
 */
const LOCK_RETRY_MS = [10, 30, 60, 100];

export function maildropLockKey(accountId: number): string {
  return `pop3:maildrop:${accountId}`;
}

export class Maildrop {
  private released = false;
  /** HIGHESTMODSEQ after this session's deletions: the lock's handover to the next session. */
  private committedModseq = 0;

  private constructor(
    private readonly deps: MaildropDeps,
    readonly accountId: number,
    readonly mailboxId: number,
    readonly uidValidity: number,
    readonly messages: MaildropMessage[],
    private readonly lease: Lease,
  ) {}

  /**
   * Asks for the lock and reads the snapshot at the same time (one round
   * trip to each backend, in parallel), unless the snapshot was `read`
   * already (USER's lookup); open() then decides whether that read may be
   * used.
   */
  static start(deps: MaildropDeps, accountId: number, leaseMs: number, read?: Pop3Snapshot): Opening {
    const locking = deps.limits.acquire(maildropLockKey(accountId), leaseMs);
    const reading = read ? Promise.resolve(read) : deps.store.pop3.inboxSnapshot(accountId);
    locking.catch(() => {});
    reading.catch(() => {});
    return { accountId, leaseMs, locking, reading };
  }

  /**
   * A login's block check and lock request as one call (one Redis script,
   * libs/limits acquireUnlessBlocked), with the snapshot read alongside
   * unless `read` already (USER's lookup). Nothing is locked when a block is
   * above 0. For Authenticator.login's `gated`.
   */
  static async startUnlessBlocked(
    deps: MaildropDeps,
    accountId: number,
    leaseMs: number,
    check: { counters: string[]; blocks: string[] },
    read?: Pop3Snapshot,
  ): Promise<{ counters: number[]; blocks: number[]; value: Opening }> {
    const reading = read ? Promise.resolve(read) : deps.store.pop3.inboxSnapshot(accountId);
    reading.catch(() => {});
    const gated = await acquireUnlessBlocked(
      deps.limits,
      maildropLockKey(accountId),
      leaseMs,
      check.counters,
      check.blocks,
    );
    return {
      counters: gated.counters,
      blocks: gated.blocks,
      value: { accountId, leaseMs, locking: Promise.resolve(gated.lease), reading },
    };
  }

  /** Gives back what start() took, for a login refused after all. */
  static abandon(opening: Opening): void {
    void opening.locking.then((lease) => lease?.release()).catch(() => {});
  }

  /**
   * The maildrop, once the lock is held. The snapshot read alongside the lock
   * request is used only when it already includes the deletions of every
   * earlier session: each one leaves the INBOX's HIGHESTMODSEQ after its
   * commit as the lock's handover (commit(), release()), so a read that saw
   * at least that much saw them; otherwise (a session on another replica
   * committed while the read was under way) the snapshot is read again under
   * the lock. Throws on backend failure (the lock is released again).
   */
  static async open(deps: MaildropDeps, opening: Opening): Promise<OpenResult> {
    let lease = await opening.locking;
    for (const pause of LOCK_RETRY_MS) {
      if (lease) break;
      await new Promise((resolve) => setTimeout(resolve, pause));
      lease = await deps.limits.acquire(maildropLockKey(opening.accountId), opening.leaseMs);
    }
    if (!lease) return { ok: false, reason: "in-use" };
    try {
      let snap = await opening.reading.catch(() => undefined);
      const reread = snap !== undefined && snap.highestModseq < lease.handover;
      if (!snap || reread) snap = await deps.store.pop3.inboxSnapshot(opening.accountId);
      if (!snap) {
        await lease.release();
        return { ok: false, reason: "no-inbox" };
      }
      const messages: MaildropMessage[] = snap.messages.map((m) => ({
        uid: m.uid,
        blobKey: m.blobKey,
        octets: m.crlfSize ?? -1,
        storedOctets: m.size,
        deleted: false,
      }));
      await sizeUnsized(deps, messages);
      return {
        ok: true,
        maildrop: new Maildrop(deps, opening.accountId, snap.mailboxId, snap.uidValidity, messages, lease),
        reread,
      };
    } catch (err) {
      await lease.release().catch(() => {});
      throw err;
    }
  }

  get fencingToken(): number {
    return this.lease.fencingToken;
  }

  /** Message n (1-based) unless out of range; deleted ones are returned too (the caller says why). */
  message(n: number): MaildropMessage | undefined {
    return this.messages[n - 1];
  }

  /** STAT: messages not marked deleted and their octets. */
  stat(): { count: number; octets: number } {
    let count = 0;
    let octets = 0;
    for (const m of this.messages) {
      if (m.deleted) continue;
      count++;
      octets += m.octets;
    }
    return { count, octets };
  }

  /** RFC 1939 §7: a unique-id is 1-70 characters in 0x21-0x7E, never reused for another message. */
  uniqueId(m: MaildropMessage): string {
    return `${this.uidValidity}.${m.uid}`;
  }

  /** RSET. */
  unmarkAll(): void {
    for (const m of this.messages) m.deleted = false;
  }

  /** Extends the lease; false when it was lost (then the session must end without applying deletes). */
  renew(): Promise<boolean> {
    return this.lease.renew();
  }

  /**
   * UPDATE state (RFC 1939 §6): removes the marked messages in one transaction
   * and announces the expunge. Returns how many were removed. Refuses (throws)
   * when the lock was lost: another session may own the maildrop now.
   */
  async commit(): Promise<number> {
    const uids = this.messages.filter((m) => m.deleted).map((m) => m.uid);
    if (uids.length === 0) return 0;
    if (!(await this.lease.renew())) throw new Error("maildrop lock lost; deletions not applied");
    const result = await this.deps.store.messages.expunge(this.mailboxId, uids);
    this.committedModseq = result.modseq;
    if (result.uids.length > 0) {
      this.deps.events.publish({
        account: this.accountId,
        mailbox: this.mailboxId,
        kind: "expunge",
        modseq: String(result.modseq),
        uids: result.uids,
      });
    }
    return result.uids.length;
  }

  /** Releases the lock (idempotent). Never throws: the lease expires by itself anyway. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.lease.release(this.committedModseq);
    } catch (err) {
      this.deps.log.warn({ err, account: this.accountId }, "could not release the POP3 lock; it will expire");
    }
  }
}

/** Computes (and remembers) the CRLF size of messages whose blob no session has sized yet. */
async function sizeUnsized(deps: MaildropDeps, messages: MaildropMessage[]): Promise<void> {
  const todo = messages.filter((m) => m.octets < 0);
  if (todo.length === 0) return;
  const byBlob = new Map<string, MaildropMessage[]>();
  for (const m of todo) byBlob.set(m.blobKey, [...(byBlob.get(m.blobKey) ?? []), m]);
  const keys = [...byBlob.keys()];
  const computed: { blobKey: string; crlfSize: number }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const group = byBlob.get(key)!;
      try {
        const octets = await pop3Octets(await deps.blobs.get(key));
        computed.push({ blobKey: key, crlfSize: octets });
        for (const m of group) m.octets = octets;
      } catch (err) {
        if (!(err instanceof BlobNotFoundError)) throw err;
        // Listed but unreadable: report the stored size; RETR will answer -ERR for it.
        deps.log.error({ blobKey: key }, "message blob missing");
        for (const m of group) m.octets = m.storedOctets;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIZE_CONCURRENCY, keys.length) }, worker));
  await deps.store.pop3.recordCrlfSizes(computed);
}
