/**
 * The immutable part of FETCH rows, kept in memory per gateway process, so a
 * FETCH in a mailbox that did not change asks Postgres nothing (issue 17).
 *
 * A message row's INTERNALDATE, SAVEDATE, size, blob key, ENVELOPE,
 * BODYSTRUCTURE, BODY, MIME index and PREVIEW never change after the INSERT,
 * and (mailbox id, UID) is never reused: mailbox ids come from a sequence and
 * UIDs only grow (RFC 9051 §2.3.1.1; a UIDVALIDITY change is a new mailbox
 * row here). So an entry never goes stale; only flags and MODSEQ change, and
 * those come from the session's view (kept current by the change log) or from
 * Postgres. Entries remember which optional columns they hold; a FETCH that
 * needs one they lack reads Postgres and the entry grows.
 *
 * Bounded by IMAP_MESSAGE_CACHE_BYTES (estimated bytes; least recently used
 * entries go first); 0 disables it.
 */
import type { FetchColumns, FetchRow } from "@aerogram/store";

const ENVELOPE = 1;
const BODY_STRUCTURE = 2;
const BODY = 4;
const MIME = 8;
const PREVIEW = 16;
/** savedDate is known: Postgres's rows carry it; an entry made at APPEND does not (the database sets it). */
const SAVED = 32;

/** The optional columns as a bit set (`savedDate`: the FETCH asks SAVEDATE). */
export function columnBits(columns: FetchColumns & { savedDate?: boolean }): number {
  return (
    (columns.savedDate ? SAVED : 0) |
    (columns.envelope ? ENVELOPE : 0) |
    (columns.bodyStructure ? BODY_STRUCTURE : 0) |
    (columns.body ? BODY : 0) |
    (columns.mime ? MIME : 0) |
    (columns.preview ? PREVIEW : 0)
  );
}

/** A FetchRow without the mutable flags, keywords and MODSEQ. */
export type StaticRow = Omit<FetchRow, "flags" | "keywords" | "modseq">;

interface Entry {
  row: StaticRow;
  columns: number;
  bytes: number;
}

/** Per-entry overhead (the Map slot, the objects, dates) and a parsed MIME index's typical size. */
const ENTRY_OVERHEAD = 400;
const MIME_ESTIMATE = 600;

export class MessageCache {
  readonly #entries = new Map<number | string, Entry>();
  #bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The message's static row when it holds every column of `columns` (a bit set), else undefined. */
  get(mailboxId: number, uid: number, columns: number): StaticRow | undefined {
    const key = keyOf(mailboxId, uid);
    const entry = this.#entries.get(key);
    if (!entry || (entry.columns & columns) !== columns) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.row;
  }

  /**
   * The session's own APPEND, from what it parsed and stored (the same values
   * the row was inserted with): every optional column but SAVEDATE, so the
   * FETCH that usually follows a new message needs no read.
   */
  putAppended(mailboxId: number, uid: number, row: Omit<StaticRow, "uid" | "savedDate">): void {
    if (!this.enabled) return;
    this.#put(
      mailboxId,
      { ...row, uid, savedDate: new Date(0) } as FetchRow,
      ENVELOPE | BODY_STRUCTURE | BODY | MIME | PREVIEW,
    );
    this.#evict();
  }

  /** Takes rows Postgres returned with the optional columns `columns` (a bit set). */
  put(mailboxId: number, rows: readonly FetchRow[], columns: number): void {
    if (!this.enabled) return;
    for (const r of rows) this.#put(mailboxId, r, columns | SAVED);
    this.#evict();
  }

  #put(mailboxId: number, r: FetchRow, columns: number): void {
    const key = keyOf(mailboxId, r.uid);
    const old = this.#entries.get(key);
    const row: StaticRow = {
      uid: r.uid,
      internalDate: r.internalDate,
      savedDate: columns & SAVED ? r.savedDate : (old?.row.savedDate ?? r.savedDate),
      size: r.size,
      blobKey: r.blobKey,
      envelope: columns & ENVELOPE ? r.envelope : (old?.row.envelope ?? null),
      bodyStructure: columns & BODY_STRUCTURE ? r.bodyStructure : (old?.row.bodyStructure ?? null),
      body: columns & BODY ? r.body : (old?.row.body ?? null),
      mime: columns & MIME ? r.mime : (old?.row.mime ?? null),
      preview: columns & PREVIEW ? r.preview : (old?.row.preview ?? null),
    };
    const merged = columns | (old?.columns ?? 0);
    const bytes =
      ENTRY_OVERHEAD +
      2 *
        (row.blobKey.length + len(row.envelope) + len(row.bodyStructure) + len(row.body) + len(row.preview)) +
      (merged & MIME ? MIME_ESTIMATE : 0);
    if (old) {
      this.#bytes -= old.bytes;
      this.#entries.delete(key);
    }
    if (bytes > this.maxBytes) return;
    this.#entries.set(key, { row, columns: merged, bytes });
    this.#bytes += bytes;
  }

  #evict(): void {
    if (this.#bytes <= this.maxBytes) return;
    for (const [key, entry] of this.#entries) {
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
      if (this.#bytes <= this.maxBytes) return;
    }
  }
}

/**
 * A number where (mailbox id, UID) fits exactly in a double (ids below 2^21,
 * UIDs are 32-bit): no string built per lookup; a string beyond that.
 */
function keyOf(mailboxId: number, uid: number): number | string {
  return mailboxId < 0x200000 ? mailboxId * 0x100000000 + uid : `${mailboxId}:${uid}`;
}

function len(s: string | null): number {
  return s ? s.length : 0;
}
