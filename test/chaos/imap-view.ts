/**
 * A checking IMAP client view for the concurrent-mailbox chaos test: it parses
 * every untagged response a command brings (EXISTS, EXPUNGE, VANISHED, FETCH,
 * response codes) and keeps the session's sequence-number ↔ UID map, flags and
 * MODSEQs, recording every protocol rule the server breaks on the way:
 *
 * - a sequence number outside 1..EXISTS, or EXISTS shrinking without EXPUNGE;
 * - EXPUNGE/VANISHED while answering FETCH, STORE or SEARCH by sequence number
 *   (RFC 9051 §7.5.1, RFC 3501 §7.4.1);
 * - UIDs not strictly ascending with sequence numbers (RFC 9051 §2.3.1.1);
 * - a message's MODSEQ going down, HIGHESTMODSEQ going down (RFC 7162 §3.1.1, §3.1.2.1);
 * - one (UID, MODSEQ) reported with two different flag sets (a MODSEQ names one
 *   state of a message's metadata, RFC 7162 §3.1.1).
 */

export interface ParsedFetch {
  seq: number;
  uid?: number;
  flags?: string[];
  modseq?: number;
  messageId?: string;
}

export interface CommandOutcome {
  status: "OK" | "NO" | "BAD";
  /** The tagged response code without brackets, e.g. "MODIFIED 3,5". */
  code: string;
  text: string;
  fetches: ParsedFetch[];
  /** COPYUID codes (untagged for MOVE, tagged for COPY): uidvalidity, source, destination UIDs. */
  copyUids: { uidValidity: number; source: number[]; destination: number[] }[];
  appendUid?: { uidValidity: number; uids: number[] };
  /** UIDs this command saw leave the view (EXPUNGE of a known slot or VANISHED). */
  expungedUids: number[];
  search: number[];
  uidValidity?: number;
  highestModseq?: number;
}

/** Splits server output into responses; a literal `{n}` joins its bytes and the rest of the line. */
export function splitResponses(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const end = text.indexOf("\r\n", i);
    if (end < 0) break;
    let unit = text.slice(i, end);
    let next = end + 2;
    for (let m = /\{(\d+)\+?\}$/.exec(unit); m; m = /\{(\d+)\+?\}$/.exec(unit)) {
      const n = Number(m[1]);
      unit += `\r\n${text.slice(next, next + n)}`;
      next += n;
      const lineEnd = text.indexOf("\r\n", next);
      if (lineEnd < 0) break;
      unit += text.slice(next, lineEnd);
      next = lineEnd + 2;
    }
    out.push(unit);
    i = next;
  }
  return out;
}

/** An IMAP sequence set of numbers (no "*"), expanded in order. */
export function expandSet(set: string): number[] {
  const out: number[] = [];
  for (const part of set.split(",")) {
    const [a, b] = part.split(":").map(Number) as [number, number | undefined];
    if (b === undefined) out.push(a);
    else for (let k = Math.min(a, b); k <= Math.max(a, b); k++) out.push(k);
  }
  return out;
}

export function compressSet(nums: readonly number[]): string {
  const sorted = [...new Set(nums)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Flags as a comparable key: sorted, without \Recent (a per-session flag). */
export function flagKey(flags: readonly string[]): string {
  return flags
    .filter((f) => f.toLowerCase() !== "\\recent")
    .sort()
    .join(" ");
}

export function parseFetch(unit: string): ParsedFetch | null {
  const m = /^\* (\d+) FETCH \(/.exec(unit);
  if (!m) return null;
  const body = unit.slice(m[0].length);
  // Literal contents (header fields) can't contain these items' syntax; read them off the text.
  const head = body.replace(/\{\d+\}\r\n[\s\S]*$/, "");
  const f: ParsedFetch = { seq: Number(m[1]) };
  const uid = /(?:^|[ (])UID (\d+)/.exec(head);
  if (uid) f.uid = Number(uid[1]);
  const flags = /(?:^|[ (])FLAGS \(([^)]*)\)/.exec(head);
  if (flags) f.flags = flags[1]!.split(" ").filter(Boolean);
  const modseq = /(?:^|[ (])MODSEQ \((\d+)\)/.exec(head);
  if (modseq) f.modseq = Number(modseq[1]);
  const mid = /Message-ID: <([^>]+)>/i.exec(body);
  if (mid) f.messageId = mid[1]!;
  return f;
}

export class SessionView {
  /** UIDs by sequence number - 1; 0 = announced by EXISTS, UID not learned yet. */
  uids: number[] = [];
  readonly flags = new Map<number, string[]>();
  readonly modseqs = new Map<number, number>();
  highestModseq = 0;
  uidValidity = 0;
  readonly violations: string[] = [];
  readonly #flagsAt = new Map<string, string>();

  constructor(
    readonly name: string,
    public mailbox: string,
  ) {}

  reset(mailbox: string): void {
    this.mailbox = mailbox;
    this.uids = [];
    this.flags.clear();
    this.modseqs.clear();
    this.highestModseq = 0;
    this.uidValidity = 0;
    this.#flagsAt.clear();
  }

  get knownUids(): number[] {
    return this.uids.filter((u) => u > 0);
  }

  firstUnknownSeq(): number {
    const i = this.uids.indexOf(0);
    return i < 0 ? 0 : i + 1;
  }

  violation(what: string): void {
    this.violations.push(`${this.name} ${this.mailbox}: ${what}`);
  }

  /**
   * Applies the output of one command (everything up to and including its
   * tagged line). `bySequence`: FETCH, STORE or SEARCH without UID, during
   * which no EXPUNGE may arrive.
   */
  /**
   * `resync`: a SELECT (QRESYNC (...)) over the view this session kept from its
   * last visit (RFC 7162 §3.2.5): EXISTS and the FETCH sequence numbers describe
   * the mailbox after the VANISHED (EARLIER) that the server sends after EXISTS,
   * so that is applied first; new messages come after every UID the session knew.
   */
  apply(command: string, tag: string, text: string, bySequence: boolean, resync = false): CommandOutcome {
    const rank = (u: string) => (/^\* VANISHED \(EARLIER\)/.test(u) ? 0 : /^\* \d+ EXISTS$/.test(u) ? 1 : 2);
    const units = splitResponses(text);
    if (resync) units.sort((a, b) => rank(a) - rank(b));
    const outcome: CommandOutcome = {
      status: "BAD",
      code: "",
      text: "",
      fetches: [],
      copyUids: [],
      expungedUids: [],
      search: [],
    };
    for (const unit of units) {
      if (unit.startsWith(`${tag} `)) {
        const t = /^\S+ (OK|NO|BAD) (?:\[([^\]]*)\] ?)?(.*)$/s.exec(unit);
        outcome.status = (t?.[1] as CommandOutcome["status"]) ?? "BAD";
        outcome.code = t?.[2] ?? "";
        outcome.text = t?.[3] ?? unit;
        this.#code(outcome.code, outcome);
        continue;
      }
      if (!unit.startsWith("* ")) continue;
      const exists = /^\* (\d+) EXISTS$/.exec(unit);
      const expunge = /^\* (\d+) EXPUNGE$/.exec(unit);
      const vanished = /^\* VANISHED (\(EARLIER\) )?([\d:,]+)$/.exec(unit);
      const search = /^\* (?:SEARCH|ESEARCH)(.*)$/.exec(unit);
      const status = /^\* (?:OK|NO|BAD) \[([^\]]*)\]/.exec(unit);
      if (exists) {
        const m = exists;
        const n = Number(m[1]);
        if (n < this.uids.length)
          this.violation(`${command}: EXISTS ${n} below ${this.uids.length} without EXPUNGE`);
        while (this.uids.length < n) this.uids.push(0);
      } else if (expunge) {
        const m = expunge;
        const n = Number(m[1]);
        if (bySequence)
          this.violation(`${command}: EXPUNGE ${n} while answering a command by sequence number`);
        if (n < 1 || n > this.uids.length) {
          this.violation(`${command}: EXPUNGE ${n} outside 1..${this.uids.length}`);
          continue;
        }
        const [uid] = this.uids.splice(n - 1, 1);
        if (uid) {
          outcome.expungedUids.push(uid);
          this.flags.delete(uid);
        }
      } else if (vanished) {
        const m = vanished;
        if (m[1]) {
          // (EARLIER): UIDs expunged since the client's MODSEQ; some it may never have known.
          if (!resync) continue;
          for (const uid of expandSet(m[2]!)) {
            const at = this.uids.indexOf(uid);
            if (at >= 0) this.uids.splice(at, 1);
            this.flags.delete(uid);
            outcome.expungedUids.push(uid);
          }
          continue;
        }
        if (bySequence) this.violation(`${command}: VANISHED while answering a command by sequence number`);
        for (const uid of expandSet(m[2]!)) {
          const at = this.uids.indexOf(uid);
          if (at >= 0) this.uids.splice(at, 1);
          else {
            // A message whose UID we have not learned (announced by EXISTS; a FETCH skips
            // messages another session expunged): it sits in an unknown slot between the
            // known UIDs around it. Slots within one gap are indistinguishable.
            const slot = this.#unknownSlotFor(uid);
            if (slot < 0) {
              this.violation(`${command}: VANISHED ${uid}, not in the view`);
              continue;
            }
            this.uids.splice(slot, 1);
          }
          outcome.expungedUids.push(uid);
          this.flags.delete(uid);
        }
      } else if (/^\* \d+ FETCH /.test(unit)) {
        const f = parseFetch(unit);
        if (f) {
          outcome.fetches.push(f);
          this.#fetch(command, f);
        }
      } else if (search) {
        const m = search;
        const nums = (m[1] ?? "").replace(/\(.*?\)/g, "").match(/\d+/g) ?? [];
        outcome.search.push(...nums.map(Number));
      } else if (status) {
        this.#code(status[1]!, outcome);
      }
    }
    return outcome;
  }

  /** The view as it stands, to resume with SELECT (QRESYNC) later. */
  snapshot(): {
    uids: number[];
    flags: Map<number, string[]>;
    modseqs: Map<number, number>;
    highestModseq: number;
  } {
    return {
      uids: [...this.uids],
      flags: new Map(this.flags),
      modseqs: new Map(this.modseqs),
      highestModseq: this.highestModseq,
    };
  }

  restore(mailbox: string, saved: ReturnType<SessionView["snapshot"]>): void {
    this.reset(mailbox);
    this.uids = [...saved.uids];
    for (const [k, v] of saved.flags) this.flags.set(k, v);
    for (const [k, v] of saved.modseqs) this.modseqs.set(k, v);
    this.highestModseq = saved.highestModseq;
  }

  /** Index of an unknown slot where `uid` fits between the known UIDs, or -1. */
  #unknownSlotFor(uid: number): number {
    for (let i = 0; i < this.uids.length; i++) {
      const u = this.uids[i]!;
      if (u > uid) return -1;
      if (u === 0) {
        const after = this.uids.slice(i).find((x) => x > 0);
        if (after === undefined || after > uid) return i;
      }
    }
    return -1;
  }

  #code(code: string, outcome: CommandOutcome): void {
    const highest = /^HIGHESTMODSEQ (\d+)$/.exec(code);
    const copyUid = /^COPYUID (\d+) ([\d:,]+) ([\d:,]+)$/.exec(code);
    const appendUid = /^APPENDUID (\d+) ([\d:,]+)$/.exec(code);
    const uidValidity = /^UIDVALIDITY (\d+)$/.exec(code);
    if (highest) {
      const h = Number(highest[1]);
      if (h < this.highestModseq)
        this.violation(`HIGHESTMODSEQ went down from ${this.highestModseq} to ${h}`);
      this.highestModseq = Math.max(this.highestModseq, h);
      outcome.highestModseq = h;
    } else if (copyUid) {
      outcome.copyUids.push({
        uidValidity: Number(copyUid[1]),
        source: expandSet(copyUid[2]!),
        destination: expandSet(copyUid[3]!),
      });
    } else if (appendUid) {
      outcome.appendUid = { uidValidity: Number(appendUid[1]), uids: expandSet(appendUid[2]!) };
    } else if (uidValidity) {
      outcome.uidValidity = Number(uidValidity[1]);
    }
  }

  #fetch(command: string, f: ParsedFetch): void {
    if (f.seq < 1 || f.seq > this.uids.length) {
      this.violation(`${command}: FETCH for sequence number ${f.seq} outside 1..${this.uids.length}`);
      return;
    }
    const known = this.uids[f.seq - 1]!;
    const uid = f.uid ?? known;
    if (f.uid !== undefined) {
      if (known && known !== f.uid) {
        this.violation(`${command}: sequence number ${f.seq} is UID ${known}, FETCH says UID ${f.uid}`);
        return;
      }
      if (!known) {
        const before = this.uids
          .slice(0, f.seq - 1)
          .filter((u) => u > 0)
          .at(-1);
        const after = this.uids.slice(f.seq).find((u) => u > 0);
        if ((before !== undefined && before >= f.uid) || (after !== undefined && after <= f.uid)) {
          this.violation(`${command}: UID ${f.uid} at sequence number ${f.seq} breaks ascending order`);
        }
        this.uids[f.seq - 1] = f.uid;
      }
    }
    if (!uid) return;
    if (f.flags) this.flags.set(uid, f.flags);
    if (f.modseq !== undefined) {
      const last = this.modseqs.get(uid);
      if (last !== undefined && f.modseq < last)
        this.violation(`${command}: MODSEQ of UID ${uid} went down from ${last} to ${f.modseq}`);
      this.modseqs.set(uid, Math.max(last ?? 0, f.modseq));
      if (f.flags) {
        const key = `${uid}:${f.modseq}`;
        const flags = flagKey(f.flags);
        const seen = this.#flagsAt.get(key);
        if (seen !== undefined && seen !== flags)
          this.violation(
            `${command}: UID ${uid} MODSEQ ${f.modseq} reported with flags (${seen}) and (${flags})`,
          );
        this.#flagsAt.set(key, flags);
      }
    }
  }
}

/** A STORE as the chaos client sent it, for storeAnswerViolations. */
export interface StoreRequest {
  action: "+FLAGS" | "-FLAGS" | "FLAGS";
  flags: readonly string[];
  silent: boolean;
  /** The target UIDs. */
  uids: readonly number[];
  /** UIDs the tagged MODIFIED code named (RFC 7162 §3.1.3): not stored. */
  modified: ReadonlySet<number>;
}

/**
 * What a STORE's own FETCH answers break (RFC 9051 §6.4.6: they show the flags
 * after the change), given the command's FETCH responses in order, each with
 * its UID resolved. The gateway sends its answers before the sync that follows
 * every command, and that sync may report a LATER change by another session,
 * with a higher MODSEQ, to the same message: that one need not show this
 * STORE's effect.
 *
 * - Without .SILENT the first FETCH of each target is the answer: it must show
 *   the request applied.
 * - With .SILENT there is no FLAGS answer: a FETCH carrying FLAGS is the sync's
 *   report of some committed state. With CONDSTORE the STORE names its own new
 *   MODSEQ m (a MODSEQ-only FETCH per changed target); every state with MODSEQ
 *   ≤ m was committed no later than this STORE, which saw it under the mailbox
 *   lock and either changed it (the state at m is its result) or left it as it
 *   already satisfied the request. So a reported state with MODSEQ ≤ m must show
 *   the request applied too; one above m is a later change, and when nothing
 *   changed (no m) the STORE's place in the order is unknown.
 */
export function storeAnswerViolations(
  store: StoreRequest,
  fetches: readonly { uid: number | undefined; flags?: readonly string[]; modseq?: number }[],
): string[] {
  const wrong = (shown: readonly string[]) => {
    const has = new Set(shown);
    return store.action === "+FLAGS"
      ? store.flags.some((x) => !has.has(x))
      : store.action === "-FLAGS"
        ? store.flags.some((x) => has.has(x))
        : flagKey(shown) !== flagKey(store.flags);
  };
  const targets = new Set(store.uids.filter((u) => !store.modified.has(u)));
  const what = `${store.action}${store.silent ? ".SILENT" : ""} (${store.flags.join(" ")})`;
  const out: string[] = [];
  if (!store.silent) {
    const answered = new Set<number>();
    for (const f of fetches) {
      if (f.uid === undefined || !targets.has(f.uid) || answered.has(f.uid)) continue;
      answered.add(f.uid);
      if (f.flags && wrong(f.flags))
        out.push(`${what} on UID ${f.uid} answered FLAGS (${f.flags.join(" ")})`);
    }
    return out;
  }
  let own: number | undefined;
  for (const f of fetches)
    if (f.uid !== undefined && targets.has(f.uid) && !f.flags && f.modseq !== undefined)
      own = Math.max(own ?? 0, f.modseq);
  if (own === undefined) return out;
  for (const f of fetches) {
    if (f.uid === undefined || !targets.has(f.uid) || !f.flags || f.modseq === undefined) continue;
    if (f.modseq <= own && wrong(f.flags))
      out.push(
        `${what} at MODSEQ ${own}: UID ${f.uid} reported FLAGS (${f.flags.join(" ")}) at MODSEQ ${f.modseq}`,
      );
  }
  return out;
}
