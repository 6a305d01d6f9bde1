/**
 * The durable outbound queue (issue 19): one row per (message, recipient
 * domain). Submission enqueues in one transaction; workers on any replica
 * claim due rows with FOR UPDATE SKIP LOCKED under a lease, so N workers share
 * the work and a killed worker's rows come back when its lease runs out.
 * Every change a worker makes afterwards is fenced by its lease (owner and
 * unexpired), so a worker that lost its lease can neither finish nor requeue
 * a row another worker now holds.
 */
import type { Pool } from "../db.ts";

export interface OutboundEnqueue {
  /** The message in the blob store; null when `content` carries it. */
  blobKey: string | null;
  /**
   * The message itself, kept in the rows (a small message for remote
   * recipients only: the commit is then its only flush). Exactly one of
   * blobKey and content; each domain's row holds a copy.
   */
  content?: Buffer | null;
  size: number;
  sender: string;
  senderAccountId: number | null;
  messageId: string | null;
  /** Octets above 127 anywhere in the message (RFC 6152). */
  eightBit?: boolean;
  /** Recipients grouped by lowercased domain. */
  byDomain: ReadonlyMap<string, readonly string[]>;
  expiresAt: Date;
  /** RFC 3461 RET and ENVID (as received, xtext). */
  dsnRet?: DsnRet | null;
  dsnEnvid?: string | null;
  /** NOTIFY/ORCPT of the recipients that gave them, keyed by lower-cased recipient. */
  recipientDsn?: ReadonlyMap<string, RecipientDsn>;
}

export type DsnRet = "FULL" | "HDRS";

/** RFC 3461 §4 parameters of one recipient: NOTIFY values (upper case), ORCPT as received. */
export interface RecipientDsn {
  notify?: string[];
  orcpt?: string;
}

export interface OutboundEntry {
  id: number;
  /** The message in the blob store; null when it is kept in the row (`inline`). */
  blobKey: string | null;
  /** The message is kept in the row itself, not in the blob store. */
  inline: boolean;
  /** The row's copy of the message (claim and get load it; list leaves it out: null). */
  content: Buffer | null;
  size: number;
  sender: string;
  senderAccountId: number | null;
  messageId: string | null;
  eightBit: boolean;
  domain: string;
  recipients: string[];
  attempts: number;
  nextAttemptAt: Date;
  expiresAt: Date;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  lastError: string | null;
  createdAt: Date;
  dsnRet: DsnRet | null;
  dsnEnvid: string | null;
  /** Keyed by lower-cased recipient; recipients without an entry asked for nothing (RFC 3461 defaults). */
  recipientDsn: Record<string, RecipientDsn>;
  /** Recipients already sent a delay notice. */
  delayNotified: string[];
}

interface Row {
  id: number;
  blob_key: string | null;
  inline?: boolean;
  content?: Buffer | null;
  size: number;
  sender: string;
  sender_account_id: number | null;
  message_id: string | null;
  eight_bit: boolean;
  domain: string;
  recipients: string[];
  attempts: number;
  next_attempt_at: Date;
  expires_at: Date;
  lease_owner: string | null;
  lease_until: Date | null;
  last_error: string | null;
  created_at: Date;
  dsn_ret: DsnRet | null;
  dsn_envid: string | null;
  recipient_dsn: Record<string, RecipientDsn> | null;
  delay_notified: string[] | null;
}

function toEntry(r: Row): OutboundEntry {
  return {
    id: r.id,
    blobKey: r.blob_key,
    inline: r.inline ?? r.blob_key === null,
    content: r.content ?? null,
    size: r.size,
    sender: r.sender,
    senderAccountId: r.sender_account_id,
    messageId: r.message_id,
    eightBit: r.eight_bit,
    domain: r.domain,
    recipients: r.recipients,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
    leaseOwner: r.lease_owner,
    leaseUntil: r.lease_until,
    lastError: r.last_error,
    createdAt: r.created_at,
    dsnRet: r.dsn_ret ?? null,
    dsnEnvid: r.dsn_envid ?? null,
    recipientDsn: r.recipient_dsn ?? {},
    delayNotified: r.delay_notified ?? [],
  };
}

/**
 * Every column but the message copy (listings: a thousand rows of inline
 * content would be tens of MB), plus whether the row holds one.
 */
const LISTED = `id, blob_key, size, sender, sender_account_id, message_id, eight_bit, domain, recipients, attempts,
  next_attempt_at, expires_at, lease_owner, lease_until, last_error, created_at, dsn_ret, dsn_envid,
  recipient_dsn, delay_notified, content IS NOT NULL AS inline`;

/** Each row carries only its own recipients' NOTIFY/ORCPT. */
function dsnByDomainOf(m: OutboundEnqueue): Record<string, Record<string, RecipientDsn>> {
  const out: Record<string, Record<string, RecipientDsn>> = {};
  if (!m.recipientDsn?.size) return out;
  for (const [domain, recipients] of m.byDomain) {
    for (const r of recipients) {
      const d = m.recipientDsn.get(r.toLowerCase());
      if (!d) continue;
      const forDomain = out[domain] ?? {};
      forDomain[r.toLowerCase()] = d;
      out[domain] = forDomain;
    }
  }
  return out;
}

export interface ClaimOptions {
  owner: string;
  leaseMs: number;
  limit: number;
  /** Domains with this many unexpired leases (across all workers) are skipped. */
  perDomainLimit: number;
  /** Domains this worker must not take now (its own per-destination slots are full). */
  skipDomains?: readonly string[];
  /**
   * Entries this worker is still working on: their lease may have run out
   * while Postgres was away, and taking them again would send them twice.
   */
  skipIds?: readonly number[];
}

export interface QueueDepth {
  /** Upper bound of the age bucket in seconds (Infinity for the last). */
  ageSeconds: number;
  entries: number;
}

/** Age buckets of the queue-depth gauge. */
export const QUEUE_AGE_BUCKETS = [60, 600, 3600, 6 * 3600, 86_400, Number.POSITIVE_INFINITY] as const;

export class OutboundQueue {
  readonly #enqueued = new Set<() => void>();

  constructor(private readonly pool: Pool) {}

  /**
   * Calls `listener` after rows were committed through this Store: the
   * outbound workers of the same process claim them without waiting for
   * their poll (other processes' workers find them when they poll). Returns
   * the unsubscribe function.
   */
  onEnqueued(listener: () => void): () => void {
    this.#enqueued.add(listener);
    return () => this.#enqueued.delete(listener);
  }

  #notify(): void {
    for (const listener of this.#enqueued) listener();
  }

  /**
   * Inserts one row per recipient domain, all or none (one statement: one
   * round trip, atomic without an explicit transaction); returns their ids.
   */
  async enqueue(m: OutboundEnqueue): Promise<number[]> {
    if (m.byDomain.size === 0) return [];
    const dsnByDomain = dsnByDomainOf(m);
    const { rows } = await this.pool.query<{ id: number }>(
      `INSERT INTO outbound_queue
         (blob_key, size, sender, sender_account_id, message_id, domain, recipients, expires_at, eight_bit,
          dsn_ret, dsn_envid, recipient_dsn, content)
       SELECT $1, $2, $3, $4, $5, d.key, ARRAY(SELECT jsonb_array_elements_text(d.value)), $7, $8,
              $9, $10, coalesce($11::jsonb -> d.key, '{}'::jsonb), $12::bytea
         FROM jsonb_each($6::jsonb) AS d
       RETURNING id`,
      [
        m.blobKey,
        m.size,
        m.sender,
        m.senderAccountId,
        m.messageId,
        JSON.stringify(Object.fromEntries(m.byDomain)),
        m.expiresAt,
        m.eightBit ?? false,
        m.dsnRet ?? null,
        m.dsnEnvid ?? null,
        JSON.stringify(dsnByDomain),
        m.content ?? null,
      ],
    );
    this.#notify();
    return rows.map((r) => r.id).sort((a, b) => a - b);
  }

  /**
   * Several messages' rows in one statement (submission's group commit:
   * sessions finishing DATA together share a round trip and a commit). All
   * or none, like enqueue.
   */
  async enqueueMany(items: readonly OutboundEnqueue[]): Promise<void> {
    const rows = items.filter((m) => m.byDomain.size > 0);
    if (rows.length === 0) return;
    const payload = rows.map((m) => ({
      b: m.blobKey,
      s: m.size,
      f: m.sender,
      a: m.senderAccountId,
      i: m.messageId,
      e: m.eightBit ?? false,
      x: m.expiresAt.toISOString(),
      r: m.dsnRet ?? null,
      v: m.dsnEnvid ?? null,
      d: Object.fromEntries(m.byDomain),
      n: dsnByDomainOf(m),
      c: m.content ? m.content.toString("base64") : null,
    }));
    await this.pool.query(
      `INSERT INTO outbound_queue
         (blob_key, size, sender, sender_account_id, message_id, domain, recipients, expires_at, eight_bit,
          dsn_ret, dsn_envid, recipient_dsn, content)
       SELECT m->>'b', (m->>'s')::bigint, m->>'f', (m->>'a')::integer, m->>'i', d.key,
              ARRAY(SELECT jsonb_array_elements_text(d.value)), (m->>'x')::timestamptz, (m->>'e')::boolean,
              m->>'r', m->>'v', coalesce(m->'n'->d.key, '{}'::jsonb), decode(m->>'c', 'base64')
         FROM jsonb_array_elements($1::jsonb) AS e(m)
        CROSS JOIN LATERAL jsonb_each(m->'d') AS d`,
      [JSON.stringify(payload)],
    );
    this.#notify();
  }

  /**
   * Takes up to `limit` due rows no live worker holds, leasing them to
   * `owner`. SKIP LOCKED lets concurrent claimers pass each other's rows
   * instead of waiting; the lease (not the row lock, which ends with this
   * statement) is what keeps others off while the row is being delivered.
   * An inline message's content comes back with its row: no blob read.
   */
  async claim(o: ClaimOptions): Promise<OutboundEntry[]> {
    const { rows } = await this.pool.query<Row>(
      `WITH busy AS (
         SELECT domain FROM outbound_queue WHERE lease_until > now()
          GROUP BY domain HAVING count(*) >= $4
       ), due AS (
         SELECT id FROM outbound_queue
          WHERE next_attempt_at <= now()
            AND (lease_until IS NULL OR lease_until <= now())
            AND domain NOT IN (SELECT domain FROM busy)
            AND NOT (domain = ANY($5::text[]))
            AND NOT (id = ANY($6::bigint[]))
          ORDER BY next_attempt_at
          LIMIT $3
          FOR UPDATE SKIP LOCKED
       )
       UPDATE outbound_queue q
          SET lease_owner = $1, lease_until = now() + make_interval(secs => $2::float8 / 1000),
              attempts = q.attempts + 1
         FROM due WHERE q.id = due.id
       RETURNING q.*`,
      [o.owner, o.leaseMs, o.limit, o.perDomainLimit, o.skipDomains ?? [], o.skipIds ?? []],
    );
    return rows.map(toEntry);
  }

  /**
   * Extends a lease still held; false when it was lost (taken by another
   * worker, or the row is gone). A lease that ran out while nobody claimed
   * the row (Postgres was unreachable, so nobody could) is still ours:
   * claiming sets lease_owner, so an unchanged owner means no one else has it.
   */
  async renew(id: number, owner: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE outbound_queue SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
        WHERE id = $1 AND lease_owner = $2`,
      [id, owner, leaseMs],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Removes a finished row (all its recipients delivered or bounced), if still ours. */
  async complete(id: number, owner: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "DELETE FROM outbound_queue WHERE id = $1 AND lease_owner = $2",
      [id, owner],
    );
    return (rowCount ?? 0) > 0;
  }

  /** complete() for several rows of one owner in one statement; returns the ids removed. */
  async completeMany(ids: readonly number[], owner: string): Promise<Set<number>> {
    const { rows } = await this.pool.query<{ id: string | number }>(
      "DELETE FROM outbound_queue WHERE id = ANY($1::bigint[]) AND lease_owner = $2 RETURNING id",
      [ids, owner],
    );
    return new Set(rows.map((r) => Number(r.id)));
  }

  /**
   * Keeps the recipients still to try and schedules the next attempt; the
   * lease ends so any worker may take it then.
   */
  async reschedule(
    id: number,
    owner: string,
    remaining: readonly string[],
    nextAttemptAt: Date,
    lastError: string,
    /** Recipients sent a delay notice in this attempt (added to delay_notified). */
    delayNotified: readonly string[] = [],
  ): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE outbound_queue
          SET recipients = $3, next_attempt_at = $4, last_error = $5, lease_owner = NULL, lease_until = NULL,
              delay_notified = CASE WHEN cardinality($6::text[]) = 0 THEN delay_notified
                                    ELSE delay_notified || $6::text[] END
        WHERE id = $1 AND lease_owner = $2`,
      [id, owner, remaining, nextAttemptAt, lastError.slice(0, 1000), delayNotified],
    );
    return (rowCount ?? 0) > 0;
  }

  async list(opts: { limit?: number; domain?: string } = {}): Promise<OutboundEntry[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${LISTED} FROM outbound_queue WHERE ($2::text IS NULL OR domain = $2)
        ORDER BY created_at, id LIMIT $1`,
      [opts.limit ?? 1000, opts.domain?.toLowerCase() ?? null],
    );
    return rows.map(toEntry);
  }

  async get(id: number): Promise<OutboundEntry | undefined> {
    const { rows } = await this.pool.query<Row>("SELECT * FROM outbound_queue WHERE id = $1", [id]);
    return rows[0] && toEntry(rows[0]);
  }

  /** Makes entries due now (all, or one); returns how many. Leased ones are left to their worker. */
  async flush(id?: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `UPDATE outbound_queue SET next_attempt_at = now()
        WHERE ($1::bigint IS NULL OR id = $1) AND (lease_until IS NULL OR lease_until <= now())`,
      [id ?? null],
    );
    return rowCount ?? 0;
  }

  /** Deletes an entry without delivering or bouncing it (operator action). */
  async remove(id: number): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM outbound_queue WHERE id = $1", [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Entries per age bucket (each counted in the smallest bucket its age fits). */
  async depthByAge(): Promise<QueueDepth[]> {
    const { rows } = await this.pool.query<{ age: number }>(
      "SELECT extract(epoch FROM now() - created_at)::float8 AS age FROM outbound_queue",
    );
    const out = QUEUE_AGE_BUCKETS.map((ageSeconds) => ({ ageSeconds, entries: 0 }));
    for (const r of rows) {
      const bucket = out.find((b) => r.age <= b.ageSeconds) ?? out[out.length - 1]!;
      bucket.entries++;
    }
    return out;
  }

  /** Whether any queue row still points at a blob (the blob collector keeps those). */
  async referencedBlobs(keys: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ blob_key: string }>(
      "SELECT DISTINCT blob_key FROM outbound_queue WHERE blob_key = ANY($1::text[])",
      [keys],
    );
    return new Set(rows.map((r) => r.blob_key));
  }
}
