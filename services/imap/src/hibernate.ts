/**
 * Hibernation of idle IMAP sessions (issue 18): an IDLE that has gone on for
 * IMAP_HIBERNATE_AFTER_MS with nothing in flight gives up its Session — the
 * reader and its buffers, the output side, the live-updates subscription, the
 * client recogniser, the pending promise chain of the IDLE handler and the
 * message view (UIDs, flags) — and leaves a HibernatedSession: a few numbers
 * about the mailbox (id, UIDVALIDITY, the MODSEQ, message count and highest UID
 * the client knows), the IDLE's tag, the account and the socket. Dovecot's
 * imap-hibernate does the same by handing the fd to one process.
 *
 * While hibernated:
 *   - new messages (the common wake-up) are answered from the record alone:
 *     `* n EXISTS` (and `* n RECENT` for IMAP4rev1) are written straight to the
 *     socket, and the session stays hibernated;
 *   - anything that needs sequence numbers (an expunge, a flag change of a
 *     message the client knows, a keyword the client was never told about),
 *     client input (DONE, or anything else) and nothing else wakes it: the view
 *     the client knows is rebuilt from Postgres (the messages now, plus what was
 *     expunged since the record's MODSEQ, with every message changed since
 *     marked as unknown), a new Session is built on the same socket and it
 *     continues the IDLE, whose ordinary sync then reports the changes exactly
 *     as a live session would (RFC 9051 §7.5.1: EXPUNGE is allowed during IDLE);
 *   - connection drop, autologout and server drain end the record directly.
 *
 * No per-record timer or closure: one sweep interval per gateway hibernates
 * sessions; socket listeners are two functions shared by every record; the
 * bus subscription is one per account with hibernated sessions; records in the
 * same mailbox at the same MODSEQ share one change query per wake-up.
 */
import type { Socket } from "node:net";
import type { MailboxEvent, Subscription } from "@aerogram/events";
import { atom, type ResponseChunk, untagged, untaggedStatus } from "@aerogram/imap-protocol";
import type { IdleSession } from "@aerogram/net";
import type { Logger } from "@aerogram/observability";
import { type Account, type MailboxChanges, MailboxNotFoundError } from "@aerogram/store";
import type { ClientFamily } from "./client-family.ts";
import type { ServerContext } from "./context.ts";
import { SelectedMailbox } from "./selected-mailbox.ts";
import type { Session } from "./session.ts";

/** Flag bits no message has (store flags use 0x1F): the message's flags changed while hibernated. */
const UNKNOWN_FLAGS = 0x80;

const QUEUED = 1;
const RUNNING = 2;
const WAKING = 4;
const GONE = 8;

/** What the gateway does around hibernation (server.ts). */
export interface HibernationHost {
  /** The live sessions, to find idlers past the hibernation delay. */
  sessions(): Iterable<Session>;
  /** The session became `record`: out of the sessions set, its autologout clock and account slot move. */
  adopt(session: Session, record: HibernatedSession, autologoutLeftMs: number): void;
  /** A new Session (the server's hooks) on the record's socket, in the sessions set, owning its slot. */
  revive(record: HibernatedSession, log: Logger): Session;
  /** A hibernated connection ended: uncount it. */
  ended(record: HibernatedSession): void;
  /** A wake-up failed on a backend error: poll often until it works again. */
  backendTrouble(): void;
}

/** The compact state of one hibernated session. */
export class HibernatedSession implements IdleSession {
  /** QUEUED | RUNNING | WAKING | GONE. */
  bits = 0;
  /** Client bytes received while waking up, replayed into the new session. */
  input: Buffer[] | null = null;
  /** The push in flight (a wake-up waits for it). */
  running: Promise<void> | null = null;
  /** Claimed \Recent ranges (IMAP4rev1), flat [from, to) pairs; null when none. */
  recent: number[] | null;
  /** Keywords the client has been told about (FLAGS); null when none. */
  keywords: string[] | null;
  /** ENABLEd extensions; null when none. */
  enabled: string[] | null;
  modseq: number;
  uidNext: number;
  count: number;
  maxUid: number;
  recentCount: number;

  constructor(
    readonly owner: Hibernation,
    readonly socket: Socket,
    session: Session,
    view: SelectedMailbox,
    readonly tag: string,
  ) {
    this.sessionId = String((session.log.bindings() as { session?: unknown }).session ?? "");
    this.remoteAddress = session.remoteAddress;
    this.secure = session.secure;
    this.accountId = session.account!.id;
    this.family = session.client.family;
    this.savedSearch = session.savedSearch;
    this.enabled = session.enabled.size ? [...session.enabled] : null;
    this.mailboxId = view.id;
    this.mailboxName = view.name;
    this.uidValidity = view.uidValidity;
    this.readOnly = view.readOnly;
    this.modseq = view.modseq;
    this.uidNext = view.uidNext;
    this.count = view.count;
    this.maxUid = view.maxUid;
    this.recent = view.recentRanges.length ? [...view.recentRanges] : null;
    this.recentCount = this.recent ? view.recentCount() : 0;
    this.keywords = view.knownKeywords.size ? [...view.knownKeywords] : null;
  }

  /** The session's log id: the woken session logs under the same one. */
  readonly sessionId: string;
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** The Account object itself is shared by the account's records (Hibernation.account). */
  readonly accountId: number;
  readonly family: ClientFamily;
  readonly savedSearch: number[] | null;
  readonly mailboxId: number;
  readonly mailboxName: string;
  readonly uidValidity: number;
  readonly readOnly: boolean;

  get rev2(): boolean {
    return this.enabled?.includes("IMAP4REV2") ?? false;
  }

  isRecent(uid: number): boolean {
    const r = this.recent;
    if (!r) return false;
    for (let i = 0; i < r.length; i += 2) if (uid >= r[i]! && uid < r[i + 1]!) return true;
    return false;
  }

  /** The sweeper's autologout (RFC 9051 §5.4), as for a live session. */
  onIdleTimeout(): void {
    this.owner.bye(this, null, "Autologout; idle for too long");
  }
}

export class Hibernation {
  readonly #bySocket = new Map<Socket, HibernatedSession>();
  readonly #byAccount = new Map<
    number,
    { subscription: Subscription; records: Set<HibernatedSession>; account: Account }
  >();
  /** Change reads in flight by "mailbox:since": records at the same MODSEQ share one. */
  readonly #reads = new Map<string, Promise<MailboxChanges>>();
  /** \Recent claims in flight by "mailbox:uidNext": one UPDATE of the mailbox row, not one per record. */
  readonly #claims = new Map<string, Promise<number>>();
  readonly #timer: NodeJS.Timeout | null = null;
  readonly #onData: (this: Socket, chunk: Buffer) => void;
  readonly #onClose: (this: Socket) => void;
  /** Hibernations, wake-ups by kind, EXISTS answered without waking (tests, bench). */
  readonly stats = { hibernated: 0, wokenByInput: 0, wokenByChange: 0, answeredAsleep: 0 };

  constructor(
    private readonly ctx: ServerContext,
    private readonly host: HibernationHost,
    /** IMAP_HIBERNATE_AFTER_MS; 0 = never. */
    private readonly afterMs: number,
  ) {
    const self = this;
    this.#onData = function (this: Socket, chunk: Buffer) {
      const record = self.#bySocket.get(this);
      if (record) self.#input(record, chunk);
    };
    this.#onClose = function (this: Socket) {
      const record = self.#bySocket.get(this);
      if (record) self.#end(record);
    };
    if (afterMs > 0) {
      this.#timer = setInterval(() => this.sweep(), Math.min(1000, Math.max(100, afterMs / 4)));
      this.#timer.unref();
    }
  }

  /** The record's logger (the session's bindings again; a pino child is not kept per record). */
  logOf(record: HibernatedSession): Logger {
    return this.ctx.runtime.log.child({
      session: record.sessionId,
      protocol: "imap",
      ip: record.remoteAddress,
    });
  }

  /** Hibernated sessions now. */
  get size(): number {
    return this.#bySocket.size;
  }

  records(): IterableIterator<HibernatedSession> {
    return this.#bySocket.values();
  }

  /** Hibernates every session idling for longer than the delay with nothing in flight. */
  sweep(now = Date.now()): void {
    if (this.afterMs > 0) this.#hibernateIdlers(now, this.afterMs);
  }

  /** Hibernates every idling session that can be now, whatever the delay (tests, operators); how many did. */
  hibernateIdlers(): number {
    return this.#hibernateIdlers(Date.now(), 0);
  }

  #hibernateIdlers(now: number, afterMs: number): number {
    const due: Session[] = [];
    for (const session of this.host.sessions())
      if (session.idling && now - session.idlingSince >= afterMs) due.push(session);
    let n = 0;
    for (const session of due) if (this.hibernate(session, now)) n++;
    return n;
  }

  /** Turns an idling session into a record; false when it cannot hibernate now. */
  hibernate(session: Session, now = Date.now()): boolean {
    const view = session.selected;
    const tag = session.idleTag;
    if (!view || tag === null) return false;
    const socket = session.releaseForHibernation();
    if (!socket) return false;
    const record = new HibernatedSession(this, socket, session, view, tag);
    const autologoutLeft = this.ctx.limits.autologoutMs - (now - session.idlingSince);
    this.host.adopt(session, record, Math.max(1, autologoutLeft));
    this.#bySocket.set(socket, record);
    socket.on("data", this.#onData);
    socket.on("close", this.#onClose);
    let account = this.#byAccount.get(record.accountId);
    if (!account) {
      const records = new Set<HibernatedSession>();
      const subscription = this.ctx.runtime.events.subscribe(record.accountId, (event) =>
        this.#event(records, event),
      );
      account = { subscription, records, account: session.account! };
      this.#byAccount.set(record.accountId, account);
    }
    // The newest login's view of the account (quota) serves every record of it.
    account.account = session.account!;
    account.records.add(record);
    this.stats.hibernated++;
    return true;
  }

  #event(records: Set<HibernatedSession>, event: MailboxEvent): void {
    // Credentials revoked on any replica (libs/auth session-revocation.ts): as a live session would.
    if (event.kind === "sessions-revoked") {
      for (const record of [...records])
        this.bye(record, null, "Session ended: the account's credentials changed");
      return;
    }
    for (const record of records) if (record.mailboxId === event.mailbox) this.push(record);
  }

  /**
   * Something may have changed in the record's mailbox (event or poll): new
   * messages are answered asleep, anything else wakes the session. Coalesced:
   * while one check is queued, further calls add nothing.
   */
  push(record: HibernatedSession): void {
    if (record.bits & (QUEUED | WAKING | GONE)) return;
    record.bits |= QUEUED;
    if (record.bits & RUNNING) return; // the running check loops once more
    record.running = this.#check(record).finally(() => {
      record.running = null;
    });
  }

  async #check(record: HibernatedSession): Promise<void> {
    record.bits |= RUNNING;
    try {
      while (record.bits & QUEUED && !(record.bits & (WAKING | GONE))) {
        record.bits &= ~QUEUED;
        await this.#checkOnce(record);
      }
    } finally {
      record.bits &= ~RUNNING;
    }
  }

  async #checkOnce(record: HibernatedSession): Promise<void> {
    let changes: MailboxChanges;
    try {
      changes = await this.#changesSince(record.mailboxId, record.modseq);
    } catch (err) {
      if (err instanceof MailboxNotFoundError) this.bye(record, null, "The selected mailbox was deleted");
      else {
        this.logOf(record).debug({ err }, "hibernated idle check failed; the next poll retries");
        this.host.backendTrouble();
      }
      return;
    }
    if (record.bits & (WAKING | GONE)) return;
    if (changes.uidValidity !== record.uidValidity) {
      this.bye(record, null, "The selected mailbox was deleted");
      return;
    }
    if (changes.highestModseq <= record.modseq) return;
    if (this.#needsView(record, changes)) {
      this.stats.wokenByChange++;
      void this.#wake(record);
      return;
    }
    // Only new messages (UIDs above every UID the client knows): EXISTS from the record.
    const fresh = changes.changed;
    const out: ResponseChunk[] = [];
    if (fresh.length > 0) {
      const maxUid = fresh[fresh.length - 1]!.uid;
      let recentFrom: number | undefined;
      if (!record.rev2 && !record.readOnly) {
        try {
          recentFrom = await this.#claimRecent(record.mailboxId, maxUid + 1);
        } catch (err) {
          this.logOf(record).debug({ err }, "hibernated idle check failed; the next poll retries");
          this.host.backendTrouble();
          return;
        }
      }
      if (record.bits & GONE) return;
      if (recentFrom !== undefined && maxUid + 1 > recentFrom) {
        record.recent ??= [];
        record.recent.push(recentFrom, maxUid + 1);
      }
      record.count += fresh.length;
      record.maxUid = maxUid;
      for (const change of fresh) if (record.isRecent(change.uid)) record.recentCount++;
      out.push(...untagged([record.count, atom("EXISTS")]));
      if (!record.rev2) out.push(...untagged([record.recentCount, atom("RECENT")]));
    }
    record.modseq = Math.max(record.modseq, changes.highestModseq);
    record.uidNext = Math.max(record.uidNext, changes.uidNext);
    if (out.length === 0) return;
    this.stats.answeredAsleep++;
    record.socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out as Buffer[]));
  }

  /** Changes that need sequence numbers or a FLAGS response: only a live session reports them. */
  #needsView(record: HibernatedSession, changes: MailboxChanges): boolean {
    for (const uid of changes.expunged) if (uid <= record.maxUid) return true;
    for (const change of changes.changed) {
      if (change.uid <= record.maxUid) return true;
      for (const k of change.keywords) if (!record.keywords?.includes(k)) return true;
    }
    return false;
  }

  /** One change read per mailbox and MODSEQ at a time, whatever the number of records waiting on it. */
  #changesSince(mailboxId: number, since: number): Promise<MailboxChanges> {
    const key = `${mailboxId}:${since}`;
    let read = this.#reads.get(key);
    if (!read) {
      read = this.ctx.runtime.store.messages.changesSince(mailboxId, since).finally(() => {
        this.#reads.delete(key);
      });
      this.#reads.set(key, read);
    }
    return read;
  }

  /**
   * Claims \Recent up to `uidNext` for one of the records asking at once: only
   * one session may see a message as \Recent (RFC 3501 §2.3.2), so the others
   * would have claimed nothing anyway, and the mailbox row is locked once.
   */
  async #claimRecent(mailboxId: number, uidNext: number): Promise<number> {
    const key = `${mailboxId}:${uidNext}`;
    const claim = this.#claims.get(key);
    if (claim) {
      await claim;
      return uidNext;
    }
    const mine = this.ctx.imapMailboxes.claimRecent(mailboxId, uidNext).finally(() => {
      this.#claims.delete(key);
    });
    this.#claims.set(key, mine);
    return mine;
  }

  #input(record: HibernatedSession, chunk: Buffer): void {
    record.input ??= [];
    record.input.push(chunk);
    if (record.bits & WAKING) return;
    this.stats.wokenByInput++;
    void this.#wake(record);
  }

  /**
   * Back to a live session: the view the client knows is rebuilt, a Session is
   * built on the socket, the bytes that arrived meanwhile are fed to it and it
   * continues the IDLE (whose sync reports what changed since the record's MODSEQ).
   */
  async #wake(record: HibernatedSession): Promise<void> {
    if (record.bits & (WAKING | GONE)) return;
    record.bits |= WAKING;
    while (record.running) await record.running;
    let view: SelectedMailbox | "mismatch";
    try {
      view = await this.#rebuildView(record);
    } catch (err) {
      if (record.bits & GONE) return;
      if (err instanceof MailboxNotFoundError) {
        this.bye(record, null, "The selected mailbox was deleted");
      } else if (record.input) {
        // The client is waiting for an answer that needs the view: say so and close.
        this.logOf(record).warn({ err }, "hibernated session could not wake up");
        this.bye(record, "UNAVAILABLE", "Backend temporarily unavailable, try again");
      } else {
        // Woken by a change: stay asleep, the next poll tries again.
        record.bits &= ~WAKING;
        this.logOf(record).debug({ err }, "hibernated session could not wake up yet");
        this.host.backendTrouble();
      }
      return;
    }
    if (record.bits & GONE) return;
    if (view === "mismatch") {
      this.logOf(record).warn({ mailbox: record.mailboxId }, "hibernated view does not match the mailbox");
      this.bye(record, null, "Mailbox state lost; please reconnect");
      return;
    }
    const account = this.#byAccount.get(record.accountId)!.account;
    this.#forget(record);
    const session = this.host.revive(record, this.logOf(record));
    session.account = account;
    for (const e of record.enabled ?? []) session.enabled.add(e);
    session.client.family = record.family;
    session.select(view);
    session.savedSearch = record.savedSearch;
    session.onAuthenticated();
    for (const chunk of record.input ?? []) session.receiveInput(chunk);
    void session.run(record.tag);
  }

  /**
   * The view as the client knows it: every message with a UID up to the
   * record's highest, whether it exists now or was expunged after the record's
   * MODSEQ, with the flags of messages changed since marked unknown (so the
   * sync reports them). Read messages first, then the change log: an expunge
   * between the two reads shows in both, never in neither.
   */
  async #rebuildView(record: HibernatedSession): Promise<SelectedMailbox | "mismatch"> {
    const store = this.ctx.runtime.store;
    const rows = await store.messages.listUids(record.mailboxId);
    const changes = await store.messages.changesSince(record.mailboxId, record.modseq);
    if (changes.uidValidity !== record.uidValidity) throw new MailboxNotFoundError(record.mailboxId);
    const view = new SelectedMailbox(
      record.mailboxId,
      record.mailboxName,
      record.uidValidity,
      record.readOnly,
      record.modseq,
      record.uidNext,
      record.count + 8,
    );
    const expunged = changes.expunged.filter((uid) => uid <= record.maxUid);
    let e = 0;
    for (const row of rows) {
      if (row.uid > record.maxUid) break;
      while (e < expunged.length && expunged[e]! < row.uid) view.add(expunged[e++]!, 0, []);
      if (e < expunged.length && expunged[e] === row.uid) e++;
      if (row.modseq > record.modseq) view.add(row.uid, UNKNOWN_FLAGS, []);
      else view.add(row.uid, row.flags, row.keywords);
    }
    while (e < expunged.length) view.add(expunged[e++]!, 0, []);
    if (view.count !== record.count || view.maxUid !== record.maxUid) return "mismatch";
    view.knownKeywords.clear();
    for (const k of record.keywords ?? []) view.knownKeywords.add(k);
    const recent = record.recent ?? [];
    for (let i = 0; i < recent.length; i += 2) view.claimRecent(recent[i]!, recent[i + 1]!);
    return view;
  }

  /** `* BYE`, then the connection closes (autologout, drain, a mailbox gone). */
  bye(record: HibernatedSession, code: string | null, text: string): void {
    if (record.bits & GONE) return;
    const socket = record.socket;
    this.#end(record);
    if (socket.destroyed) return;
    socket.end(untaggedStatus("BYE", text, code));
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  /** Server drain: every hibernated session gets BYE [UNAVAILABLE] now. */
  drain(): void {
    for (const record of [...this.#bySocket.values()])
      this.bye(record, "UNAVAILABLE", "Server shutting down");
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const record of [...this.#bySocket.values()]) {
      this.#end(record);
      record.socket.destroy();
    }
  }

  #end(record: HibernatedSession): void {
    if (record.bits & GONE) return;
    record.bits |= GONE;
    this.#forget(record);
    this.host.ended(record);
  }

  /** Out of every index; the socket's shared listeners off. */
  #forget(record: HibernatedSession): void {
    if (this.#bySocket.get(record.socket) !== record) return;
    this.#bySocket.delete(record.socket);
    record.socket.off("data", this.#onData);
    record.socket.off("close", this.#onClose);
    const account = this.#byAccount.get(record.accountId);
    if (account) {
      account.records.delete(record);
      if (account.records.size === 0) {
        account.subscription.unsubscribe();
        this.#byAccount.delete(record.accountId);
      }
    }
  }
}
