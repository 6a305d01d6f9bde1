/**
 * The session's view of its selected mailbox: sequence numbers over UIDs.
 *
 * Compact by design (tens of thousands of sessions per process): one
 * Uint32Array of UIDs (ascending; sequence number n is index n-1) and one
 * Uint8Array of system-flag bits, grown by doubling. Keywords, which few
 * messages carry, live in a side Map by UID. \Recent (IMAP4rev1 only) is a
 * short list of claimed UID ranges. Expunges made by other sessions wait in
 * `pendingExpunges` (still occupying their sequence numbers) until a command
 * that may renumber runs (RFC 9051 §7.5.1).
 */
import { type NumericRange, resolveSequenceSet, type SequenceSet } from "@aerogram/imap-protocol";
import { decodeFlags } from "@aerogram/store";

/** A THREAD answer over every message of the view (UIDs), and what it was computed from. */
export interface ThreadCache {
  algorithm: string;
  /** The view's `membership` then. */
  membership: number;
  /** The mailbox's HIGHESTMODSEQ (from PostgreSQL) then: an expunge elsewhere bumps it. */
  head: number;
  /** The thread-list of RFC 5256 §4 with UIDs. */
  list: string;
}

/** A SORT answer over every message of the view (UIDs in sort order), and what it was computed from. */
export interface SortCache {
  /** The sort criteria, e.g. "REVERSE DATE". */
  key: string;
  membership: number;
  head: number;
  uids: Uint32Array;
}

export class SelectedMailbox {
  #uids: Uint32Array;
  #flags: Uint8Array;
  #count = 0;
  readonly #keywords = new Map<number, string[]>();
  /** [from, to) UID ranges this session claimed as \Recent. */
  #recent: number[] = [];
  /** UIDs expunged elsewhere, not yet reported (ascending order not guaranteed). */
  readonly pendingExpunges = new Set<number>();
  /** Keywords ever seen in the mailbox (FLAGS response). */
  readonly knownKeywords = new Set<string>();
  /** Highest MODSEQ this view reflects. */
  modseq: number;
  uidNext: number;
  /**
   * The mailbox's HIGHESTMODSEQ as the running command's own query read it, or
   * null. When it is no greater than `modseq`, nothing changed that the view
   * lacks, and the sync after the command skips its query (issue 17: at most one
   * round trip per command). Cleared before every command.
   */
  knownHead: number | null = null;
  /**
   * The last THREAD ... ALL answer with UIDs (commands/thread.ts), valid while the
   * view's membership and the mailbox's HIGHESTMODSEQ are what they were.
   */
  threadCache: ThreadCache | null = null;
  /** The last SORT ... ALL answer (commands/sort.ts), valid on the same terms. */
  sortCache: SortCache | null = null;
  /** Bumped by every add/remove: a cached answer over the view's messages is stale. */
  #membership = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly uidValidity: number,
    readonly readOnly: boolean,
    modseq: number,
    uidNext: number,
    capacity = 16,
  ) {
    this.modseq = modseq;
    this.uidNext = uidNext;
    this.#uids = new Uint32Array(Math.max(4, capacity));
    this.#flags = new Uint8Array(Math.max(4, capacity));
  }

  /**
   * The session's own write committed at `modseq`, under the mailbox row lock that
   * showed `headBefore`: when the view was already at `headBefore`, the write is the
   * only change and the view (which the command updated) is now at `modseq`.
   */
  ownWrite(headBefore: number, modseq: number): void {
    if (headBefore > this.modseq) return;
    this.modseq = Math.max(this.modseq, modseq);
    this.knownHead = this.modseq;
  }

  get count(): number {
    return this.#count;
  }

  /** Approximate bytes this view holds (for the per-session memory budget). */
  get byteSize(): number {
    let keywordBytes = 0;
    for (const list of this.#keywords.values()) keywordBytes += 48 + list.length * 24;
    const threadBytes =
      (this.threadCache ? this.threadCache.list.length + 64 : 0) +
      (this.sortCache ? this.sortCache.uids.byteLength + this.sortCache.key.length + 64 : 0);
    return (
      this.#uids.byteLength +
      this.#flags.byteLength +
      keywordBytes +
      this.#recent.length * 8 +
      threadBytes +
      200
    );
  }

  /** Changes whenever a message joins or leaves the view. */
  get membership(): number {
    return this.#membership;
  }

  get maxUid(): number {
    return this.#count ? this.#uids[this.#count - 1]! : 0;
  }

  uidAt(sequenceNumber: number): number {
    return this.#uids[sequenceNumber - 1]!;
  }

  /** Sequence number of a UID, or 0 when not in the view. */
  sequenceOf(uid: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.#uids[mid]!;
      if (v < uid) lo = mid + 1;
      else if (v > uid) hi = mid - 1;
      else return mid + 1;
    }
    return 0;
  }

  /** Appends a message with a UID above every UID in the view. */
  add(uid: number, flags: number, keywords: readonly string[]): void {
    if (this.#count === this.#uids.length) {
      const uids = new Uint32Array(this.#uids.length * 2);
      uids.set(this.#uids);
      this.#uids = uids;
      const bits = new Uint8Array(this.#flags.length * 2);
      bits.set(this.#flags);
      this.#flags = bits;
    }
    this.#uids[this.#count] = uid;
    this.#flags[this.#count] = flags;
    this.#count++;
    this.#membership++;
    this.setKeywords(uid, keywords);
  }

  /** Removes a UID; returns the sequence number it had (0 if absent). */
  remove(uid: number): number {
    const seq = this.sequenceOf(uid);
    if (!seq) return 0;
    this.#uids.copyWithin(seq - 1, seq, this.#count);
    this.#flags.copyWithin(seq - 1, seq, this.#count);
    this.#count--;
    this.#membership++;
    this.#keywords.delete(uid);
    this.pendingExpunges.delete(uid);
    return seq;
  }

  flagBits(sequenceNumber: number): number {
    return this.#flags[sequenceNumber - 1]!;
  }

  /** Messages of the view with system-flag `bit` set (`set`) or clear. */
  countFlag(bit: number, set: boolean): number {
    let n = 0;
    for (let i = 0; i < this.#count; i++) if (((this.#flags[i]! & bit) !== 0) === set) n++;
    return n;
  }

  keywordsOf(uid: number): readonly string[] {
    return this.#keywords.get(uid) ?? [];
  }

  setFlags(sequenceNumber: number, bits: number, keywords: readonly string[]): void {
    this.#flags[sequenceNumber - 1] = bits;
    this.setKeywords(this.uidAt(sequenceNumber), keywords);
  }

  setKeywords(uid: number, keywords: readonly string[]): void {
    if (keywords.length) {
      this.#keywords.set(uid, [...keywords]);
      for (const k of keywords) this.knownKeywords.add(k);
    } else this.#keywords.delete(uid);
  }

  /** True when the flags differ from the view's. */
  flagsDiffer(sequenceNumber: number, bits: number, keywords: readonly string[]): boolean {
    if (this.#flags[sequenceNumber - 1] !== bits) return true;
    const mine = this.#keywords.get(this.uidAt(sequenceNumber)) ?? [];
    if (mine.length !== keywords.length) return true;
    return mine.some((k, i) => k !== keywords[i]);
  }

  /**
   * UIDs below this are known claimed in the database (mailboxes.recent_uid at or
   * past it) by this session's own SELECT, APPEND or sync claims: a sync that
   * finds only such new messages (typically the session's own APPEND the view
   * could not take in directly) needs no claim statement, which would match no
   * row (recent_uid only grows).
   */
  claimedThrough = 0;

  claimRecent(from: number, to: number): void {
    if (to <= from) return;
    // Consecutive claims (one per APPEND or sync) extend the last range: a long
    // session keeps one range, not one per claim.
    const n = this.#recent.length;
    if (n && this.#recent[n - 1]! >= from && this.#recent[n - 2]! <= from) {
      this.#recent[n - 1] = Math.max(this.#recent[n - 1]!, to);
      return;
    }
    this.#recent.push(from, to);
  }

  /** The claimed \Recent ranges, flat [from, to) pairs (hibernate.ts keeps them). */
  get recentRanges(): readonly number[] {
    return this.#recent;
  }

  isRecent(uid: number): boolean {
    for (let i = 0; i < this.#recent.length; i += 2) {
      if (uid >= this.#recent[i]! && uid < this.#recent[i + 1]!) return true;
    }
    return false;
  }

  recentCount(): number {
    let n = 0;
    for (let i = 0; i < this.#count; i++) if (this.isRecent(this.#uids[i]!)) n++;
    return n;
  }

  /** Flag names of a message as FETCH FLAGS reports them. */
  flagNames(sequenceNumber: number, withRecent: boolean): string[] {
    const uid = this.uidAt(sequenceNumber);
    const names = decodeFlags(this.#flags[sequenceNumber - 1]!, this.#keywords.get(uid) ?? []);
    if (withRecent && this.isRecent(uid)) names.push("\\Recent");
    return names;
  }

  /** UIDs in view order, a copy. */
  allUids(): number[] {
    return Array.from(this.#uids.subarray(0, this.#count));
  }

  /**
   * Resolves a sequence set (or UID set) to the UIDs in the view, ascending.
   * Sequence numbers beyond the view are reported as `invalid` (RFC 9051 §9:
   * a BAD for sequence sets; UID sets simply skip absent UIDs).
   */
  resolve(
    set: SequenceSet,
    byUid: boolean,
    saved: readonly number[] | null,
  ): { uids: number[]; invalid: boolean } {
    if (set.kind === "saved") {
      const uids = (saved ?? []).filter((uid) => this.sequenceOf(uid) > 0);
      return { uids, invalid: false };
    }
    if (byUid) {
      const ranges = resolveSequenceSet(set, this.maxUid);
      return { uids: this.#uidsInRanges(ranges), invalid: false };
    }
    const ranges = resolveSequenceSet(set, this.#count);
    const uids: number[] = [];
    let invalid = false;
    for (const range of ranges) {
      if (range.high > this.#count) invalid = true;
      for (let seq = range.low; seq <= Math.min(range.high, this.#count); seq++)
        uids.push(this.#uids[seq - 1]!);
    }
    return { uids, invalid };
  }

  #uidsInRanges(ranges: readonly NumericRange[]): number[] {
    const out: number[] = [];
    for (const range of ranges) {
      let i = this.#lowerBound(range.low);
      while (i < this.#count && this.#uids[i]! <= range.high) out.push(this.#uids[i++]!);
    }
    return out;
  }

  #lowerBound(uid: number): number {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#uids[mid]! < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
