/**
 * Concurrent clients on one mailbox: two IMAP gateway processes
 * (main.ts, AEROGRAM_SERVICES=imap) on one fresh database, one blob directory,
 * the shared NATS (own subject prefix) and Redis (own key prefix). Many
 * sessions of ONE account, spread over both gateways, run a seeded random mix
 * of APPEND, UID STORE ±FLAGS/FLAGS (some with UNCHANGEDSINCE, some by
 * sequence number), \Deleted + UID EXPUNGE / EXPUNGE, UID COPY, UID MOVE /
 * MOVE between INBOX and Other, FETCH (by sequence number, with the
 * Message-ID), SEARCH, NOOP and re-SELECT. CONDSTORE is on everywhere, QRESYNC
 * in every third session, which comes back to a mailbox with SELECT (QRESYNC
 * (...)) over the view it kept.
 *
 * Each session checks the protocol as it goes (imap-view.ts). Afterwards the
 * database and a fresh session on each gateway are checked against the ledger
 * of what the sessions did: UIDs unique, below UIDNEXT, never reused; UIDVALIDITY
 * unchanged; every MODSEQ ≤ HIGHESTMODSEQ; the expunge log disjoint from the
 * messages and holding every expunged UID; every row is one the test created
 * (APPENDUID / COPYUID) with the Message-ID it was created with; a message is
 * in at most 1 + (copies made of it) places, and never where MOVE or EXPUNGE
 * took it from; \Recent is told to one session at most; and every session's
 * final view (after NOOP) equals a fresh SELECT's UIDs and flags.
 *
 * Knobs: CHAOS_MBX_SESSIONS (12 / full 50), CHAOS_MBX_OPS per session (100 /
 * 400), CHAOS_MBX_SECONDS cap on the mix (40 / 300), CHAOS_MBX_SEED (printed),
 * CHAOS_MBX_TRACE=<dir> writes every session's transcript there.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeFlags, Store } from "@aerogram/store";
import {
  backendEnv,
  cleanEnv,
  createTestDatabase,
  type RunningProcess,
  requireServer,
  startTsProcess,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";
import { RawClient } from "../../services/imap/test/helpers.ts";
import {
  type CommandOutcome,
  compressSet,
  flagKey,
  SessionView,
  storeAnswerViolations,
} from "./imap-view.ts";
import { FULL, knob, report } from "./support.ts";

const SESSIONS = knob("CHAOS_MBX_SESSIONS", 12, 50);
const OPS = knob("CHAOS_MBX_OPS", 100, 400);
const SECONDS = knob("CHAOS_MBX_SECONDS", 40, 300);
const SEED = knob("CHAOS_MBX_SEED", Date.now() % 1_000_000, Date.now() % 1_000_000);
const TRACE = process.env.CHAOS_MBX_TRACE;
const COMMAND_TIMEOUT_MS = 60_000;
const MAILBOXES = ["INBOX", "Other"] as const;
type MailboxName = (typeof MAILBOXES)[number];
const FLAG_POOL = ["\\Seen", "\\Flagged", "\\Answered", "$Chaos1", "$Chaos2"];

/** mulberry32: small, seedable, good enough to pick operations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const key = (mailbox: string, uid: number) => `${mailbox}:${uid}`;

/**
 * What the sessions did, shared by all of them: where each message was created
 * (APPENDUID, or COPYUID from which source), and which places MOVE or an
 * EXPUNGE emptied.
 */
class Ledger {
  readonly created = new Map<string, { marker?: string; source?: string }>();
  readonly gone = new Set<string>();
  readonly copies: string[] = [];
  readonly observedIds: { at: string; messageId: string }[] = [];
  readonly violations: string[] = [];

  create(at: string, origin: { marker?: string; source?: string }): void {
    if (this.created.has(at)) this.violations.push(`${at} was handed out twice (APPENDUID/COPYUID)`);
    this.created.set(at, origin);
  }

  markerOf(at: string): string | undefined {
    for (let k: string | undefined = at, hops = 0; k && hops < 10_000; hops++) {
      const c = this.created.get(k);
      if (!c) return undefined;
      if (c.marker) return c.marker;
      k = c.source;
    }
    return undefined;
  }
}

interface Counters {
  ops: Record<string, number>;
  no: Record<string, number>;
  modified: number;
}

const bump = (o: Record<string, number>, k: string) => {
  o[k] = (o[k] ?? 0) + 1;
};

class ChaosSession {
  readonly view: SessionView;
  readonly #rand: () => number;
  #tag = 0;
  qresync: boolean;
  /** QRESYNC sessions: the view of each mailbox they left, by name. */
  readonly resume = new Map<string, ReturnType<SessionView["snapshot"]>>();
  /** Every command and its output, kept with CHAOS_MBX_TRACE=<dir> and written there at the end. */
  readonly transcript: string[] = [];

  constructor(
    readonly client: RawClient,
    readonly index: number,
    gateway: string,
    readonly ledger: Ledger,
    readonly counters: Counters,
    readonly uidValidity: Map<string, number>,
  ) {
    this.view = new SessionView(`s${index}@${gateway}`, "INBOX");
    this.#rand = rng(SEED * 1000 + index);
    this.qresync = index % 3 === 0;
  }

  random(): number {
    return this.#rand();
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.#rand() * list.length)]!;
  }
  pickSome<T>(list: readonly T[], max: number): T[] {
    const n = 1 + Math.floor(this.#rand() * Math.min(max, list.length));
    const pool = [...list];
    const out: T[] = [];
    while (out.length < n && pool.length)
      out.push(pool.splice(Math.floor(this.#rand() * pool.length), 1)[0]!);
    return out;
  }

  async raw(tag: string, data: string): Promise<string> {
    this.client.write(data);
    const tagged = new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`);
    await this.client.readUntil((t) => tagged.test(t), COMMAND_TIMEOUT_MS);
    if (this.client.closed)
      throw new Error(`${this.view.name}: connection closed during ${data.slice(0, 60)}`);
    return this.client.response(tag);
  }

  /** Runs one command and applies its output to the view; a BAD is a violation. */
  async run(
    command: string,
    opts: { bySequence?: boolean; literal?: string; resync?: boolean } = {},
  ): Promise<CommandOutcome> {
    const tag = `c${++this.#tag}`;
    const data =
      opts.literal === undefined
        ? `${tag} ${command}\r\n`
        : `${tag} ${command} {${Buffer.byteLength(opts.literal)}+}\r\n${opts.literal}\r\n`;
    const text = await this.raw(tag, data);
    if (TRACE) this.transcript.push(`>> ${tag} ${command}\n${text}`);
    const outcome = this.view.apply(command, tag, text, opts.bySequence ?? false, opts.resync ?? false);
    if (outcome.status === "BAD") this.view.violation(`${command} → BAD ${outcome.text}`);
    // The one NO a healthy cluster may give here: COPY/MOVE of messages another session
    // expunged (RFC 2180 §4.4.1). Anything else (UNAVAILABLE, ...) is a bug under this load.
    if (outcome.status === "NO" && !outcome.code.startsWith("EXPUNGEISSUED"))
      this.view.violation(`${command} → NO ${outcome.code} ${outcome.text}`);
    for (const uid of outcome.expungedUids) this.ledger.gone.add(key(this.view.mailbox, uid));
    if (outcome.status === "NO")
      bump(this.counters.no, `${command.split(" ")[0]}:${outcome.code || outcome.text}`);
    for (const f of outcome.fetches) {
      const uid = f.uid ?? this.view.uids[f.seq - 1];
      if (f.messageId && uid)
        this.ledger.observedIds.push({ at: key(this.view.mailbox, uid), messageId: f.messageId });
    }
    return outcome;
  }

  /** Learns the UIDs of messages announced by EXISTS (FETCH by sequence number). */
  async fill(): Promise<void> {
    for (let guard = 0; guard < 5; guard++) {
      const first = this.view.firstUnknownSeq();
      if (!first) return;
      const unknown = this.view.uids.filter((u) => u === 0).length;
      await this.run(`FETCH ${first}:* (UID FLAGS MODSEQ)`, { bySequence: true });
      // Slots the server did not answer are messages expunged elsewhere; their
      // EXPUNGE comes with a later command.
      if (this.view.uids.filter((u) => u === 0).length === unknown) return;
    }
  }

  async start(user: string, pass: string, mailbox: MailboxName): Promise<void> {
    const login = await this.run(`LOGIN "${user}" "${pass}"`);
    if (login.status !== "OK")
      throw new Error(`${this.view.name}: LOGIN ${login.status} ${login.code} ${login.text}`);
    await this.run(this.qresync ? "ENABLE QRESYNC" : "ENABLE CONDSTORE");
    await this.select(mailbox);
  }

  async select(mailbox: MailboxName): Promise<void> {
    // QRESYNC sessions keep what they knew of the mailbox they leave and come back with
    // SELECT (QRESYNC (uidvalidity modseq known-uids)): VANISHED (EARLIER) and FETCH of
    // what changed meanwhile must bring the kept view to the mailbox's present state.
    const leaving = this.view.mailbox;
    if (this.qresync && this.view.firstUnknownSeq() === 0 && this.view.highestModseq > 0)
      this.resume.set(leaving, this.view.snapshot());
    const kept = this.qresync ? this.resume.get(mailbox) : undefined;
    let command = `SELECT ${mailbox}`;
    if (kept) {
      this.view.restore(mailbox, kept);
      const known = kept.uids.length ? ` ${compressSet(kept.uids)}` : "";
      command = `SELECT ${mailbox} (QRESYNC (${this.uidValidity.get(mailbox)} ${kept.highestModseq}${known}))`;
      bump(this.counters.ops, "select-qresync");
    } else this.view.reset(mailbox);
    const o = await this.run(command, { resync: Boolean(kept) });
    if (o.status !== "OK") throw new Error(`${this.view.name}: SELECT ${mailbox} ${o.status} ${o.text}`);
    if (o.uidValidity !== this.uidValidity.get(mailbox))
      this.view.violation(`UIDVALIDITY ${o.uidValidity}, was ${this.uidValidity.get(mailbox)}`);
    await this.fill();
  }

  get other(): MailboxName {
    return this.view.mailbox === "INBOX" ? "Other" : "INBOX";
  }

  /** One random operation. */
  async step(n: number): Promise<void> {
    const known = this.view.knownUids;
    const r = this.random();
    const op =
      known.length === 0 || r < 0.2
        ? "append"
        : r < 0.42
          ? "store"
          : r < 0.5
            ? "store-seq"
            : r < 0.57
              ? "uid-expunge"
              : r < 0.6
                ? "expunge"
                : r < 0.67
                  ? "copy"
                  : r < 0.75
                    ? "move"
                    : r < 0.78
                      ? "move-seq"
                      : r < 0.84
                        ? "fetch"
                        : r < 0.87
                          ? "search"
                          : r < 0.97
                            ? "noop"
                            : "select";
    bump(this.counters.ops, op);
    switch (op) {
      case "append": {
        const target = this.random() < 0.8 ? this.view.mailbox : this.other;
        const marker = `m${SEED}-${this.index}-${n}`;
        const flags = this.random() < 0.3 ? ` (${this.pickSome(FLAG_POOL, 2).join(" ")})` : "";
        const message =
          `From: chaos@example.org\r\nTo: box@example.org\r\nSubject: concurrent ${marker}\r\n` +
          `Date: Mon, 7 Dec 2026 06:00:00 +0000\r\nMessage-ID: <${marker}@chaos.test>\r\n\r\nbody of ${marker}\r\n`;
        const o = await this.run(`APPEND ${target}${flags}`, { literal: message });
        if (o.status === "OK") {
          if (o.appendUid?.uids.length !== 1) this.view.violation("APPEND OK without one APPENDUID");
          else {
            if (o.appendUid.uidValidity !== this.uidValidity.get(target))
              this.view.violation(`APPENDUID UIDVALIDITY ${o.appendUid.uidValidity}`);
            this.ledger.create(key(target, o.appendUid.uids[0]!), { marker: `${marker}@chaos.test` });
          }
        }
        break;
      }
      case "store":
      case "store-seq": {
        const uids = this.pickSome(known, 3);
        const flags = this.pickSome(FLAG_POOL, 2);
        const action = this.pick(["+FLAGS", "-FLAGS", "FLAGS"] as const);
        const silent = this.random() < 0.2 ? ".SILENT" : "";
        const since =
          this.random() < 0.35
            ? ` (UNCHANGEDSINCE ${Math.min(...uids.map((u) => this.view.modseqs.get(u) ?? 1))})`
            : "";
        const bySequence = op === "store-seq";
        const before = [...this.view.uids];
        const set = bySequence ? compressSet(uids.map((u) => before.indexOf(u) + 1)) : compressSet(uids);
        const o = await this.run(
          `${bySequence ? "" : "UID "}STORE ${set}${since} ${action}${silent} (${flags.join(" ")})`,
          {
            bySequence,
          },
        );
        const modified = new Set<number>();
        const m = /^MODIFIED ([\d:,]+)$/.exec(o.code);
        if (m) {
          this.counters.modified++;
          for (const x of m[1]!.split(",").flatMap((p) => {
            const [a, b] = p.split(":").map(Number) as [number, number?];
            return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
          }))
            modified.add(bySequence ? before[x - 1]! : x);
        }
        if (o.status === "OK" && silent) {
          // After .SILENT the client applies its own request to what it knew; a FETCH FLAGS in
          // the same response (another session's change, reported by the sync) is newer.
          const told = new Set(o.fetches.filter((f) => f.flags).map((f) => f.uid ?? before[f.seq - 1]));
          for (const uid of uids) {
            const mine = this.view.flags.get(uid);
            if (modified.has(uid) || told.has(uid) || !mine || !this.view.uids.includes(uid)) continue;
            const next =
              action === "FLAGS"
                ? [...flags]
                : action === "+FLAGS"
                  ? [...mine, ...flags.filter((x) => !mine.includes(x))]
                  : mine.filter((x) => !flags.includes(x));
            this.view.flags.set(uid, next);
          }
        }
        // The STORE's own answers show the flags after the change (RFC 9051 §6.4.6),
        // whatever other sessions did before; the sync after it may report later changes.
        for (const v of storeAnswerViolations(
          { action, flags, silent: silent !== "", uids, modified },
          o.fetches.map((f) => ({ ...f, uid: f.uid ?? before[f.seq - 1] })),
        ))
          this.view.violation(v);
        break;
      }
      case "uid-expunge":
      case "expunge": {
        const uids = this.pickSome(known, 2);
        await this.run(`UID STORE ${compressSet(uids)} +FLAGS.SILENT (\\Deleted)`);
        await this.run(op === "expunge" ? "EXPUNGE" : `UID EXPUNGE ${compressSet(uids)}`);
        break;
      }
      case "copy":
      case "move":
      case "move-seq": {
        const uids = this.pickSome(known, 3);
        const to = this.other;
        const from = this.view.mailbox;
        const isMove = op !== "copy";
        const cmd =
          op === "move-seq"
            ? `MOVE ${compressSet(uids.map((u) => this.view.uids.indexOf(u) + 1))} ${to}`
            : `UID ${isMove ? "MOVE" : "COPY"} ${compressSet(uids)} ${to}`;
        const o = await this.run(cmd);
        for (const c of o.copyUids) {
          if (c.uidValidity !== this.uidValidity.get(to))
            this.view.violation(`COPYUID UIDVALIDITY ${c.uidValidity}`);
          if (c.source.length !== c.destination.length)
            this.view.violation(`COPYUID sets of different sizes`);
          c.source.forEach((src, i) => {
            const dst = c.destination[i]!;
            this.ledger.create(key(to, dst), { source: key(from, src) });
            if (isMove) this.ledger.gone.add(key(from, src));
            else this.ledger.copies.push(key(from, src));
          });
        }
        if (op === "move-seq") {
          // Other sessions' expunges wait; the EXPUNGEs of a MOVE by sequence number are its own.
          const moved = new Set(o.copyUids.flatMap((c) => c.source));
          for (const uid of o.expungedUids)
            if (!moved.has(uid))
              this.view.violation(`MOVE by sequence number reported EXPUNGE of UID ${uid}`);
        }
        break;
      }
      case "fetch": {
        const count = this.view.uids.length;
        if (count === 0) break;
        const a = 1 + Math.floor(this.random() * count);
        const b = Math.min(count, a + Math.floor(this.random() * 4));
        await this.run(`FETCH ${a}:${b} (UID FLAGS MODSEQ BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`, {
          bySequence: true,
        });
        break;
      }
      case "search": {
        const o = await this.run(`SEARCH ${this.pick(["FLAGGED", "UNSEEN", "KEYWORD $Chaos1", "ALL"])}`, {
          bySequence: true,
        });
        for (const s of o.search)
          if (s < 1 || s > this.view.uids.length) this.view.violation(`SEARCH returned sequence number ${s}`);
        break;
      }
      case "noop":
        await this.run("NOOP");
        break;
      case "select":
        await this.select(this.other);
        break;
    }
    await this.fill();
  }
}

interface Listing {
  uidValidity: number;
  highestModseq: number;
  messages: Map<number, { flags: string; modseq: number }>;
}

/** A fresh session's view of a mailbox: SELECT and FETCH 1:* (UID FLAGS MODSEQ). */
async function freshListing(port: number, user: string, pass: string, mailbox: string): Promise<Listing> {
  const client = await RawClient.connect(port);
  try {
    assert.match(await client.login(user, pass), /OK/);
    const select = await client.command(`SELECT ${mailbox} (CONDSTORE)`);
    const uidValidity = Number(/\[UIDVALIDITY (\d+)\]/.exec(select)?.[1]);
    const highestModseq = Number(/\[HIGHESTMODSEQ (\d+)\]/.exec(select)?.[1]);
    const exists = Number(/\* (\d+) EXISTS/.exec(select)?.[1]);
    const messages = new Map<number, { flags: string; modseq: number }>();
    if (exists > 0) {
      const fetched = await client.command("FETCH 1:* (UID FLAGS MODSEQ)");
      for (const m of fetched.matchAll(/\* \d+ FETCH \(([^\r\n]*)\)\r\n/g)) {
        const uid = Number(/UID (\d+)/.exec(m[1]!)?.[1]);
        const flags = /FLAGS \(([^)]*)\)/.exec(m[1]!)?.[1]?.split(" ").filter(Boolean) ?? [];
        messages.set(uid, { flags: flagKey(flags), modseq: Number(/MODSEQ \((\d+)\)/.exec(m[1]!)?.[1]) });
      }
    }
    await client.command("LOGOUT");
    return { uidValidity, highestModseq, messages };
  } finally {
    client.close();
  }
}

test("concurrent sessions on one mailbox over two gateway processes keep UID/MODSEQ invariants", {
  timeout: 20 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const db = await createTestDatabase();
  const blobs = await tempDir("aerogram-chaos-mbx-");
  const store = await Store.open({ url: db.url, poolMax: 2 });
  const env = cleanEnv(
    backendEnv({
      databaseUrl: db.url,
      nats: true,
      redis: true,
      settings: {
        AEROGRAM_SERVICES: "imap",
        DATABASE_POOL_MAX: "6",
        BLOB_DIR: blobs.path,
        IMAP_PORT: "0",
        // Every session is the one account's; the two fresh checking sessions come on top.
        IMAP_MAX_SESSIONS_PER_ACCOUNT: String(SESSIONS + 4),
        HTTP_PORT: "0",
        BIND_ADDRESS: "127.0.0.1",
        LOG_LEVEL: "error",
      },
    }),
  );
  const gateways: RunningProcess[] = [0, 1].map(() =>
    startTsProcess("services/aerogram/src/main.ts", [], env),
  );
  const clients: RawClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(gateways.map((g) => g.stop("SIGKILL")));
    await store.close();
    await blobs.remove();
    await db.drop();
  });
  const ports = await Promise.all(
    gateways.map(async (g) => Number((await g.waitFor(/IMAP\s+127\.0\.0\.1:(\d+)/, 180_000))[1])),
  );

  const user = `mbx${uniqueId()}@example.org`;
  const pass = "chaos-pass";
  const account = await store.accounts.create({ address: user, password: pass });
  await store.mailboxes.create(account.id, "Other");
  const uidValidity = new Map<string, number>();
  for (const name of MAILBOXES)
    uidValidity.set(name, (await store.mailboxes.byName(account.id, name))!.uidValidity);

  const ledger = new Ledger();
  const counters: Counters = { ops: {}, no: {}, modified: 0 };
  const sessions: ChaosSession[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const client = await RawClient.connect(ports[i % 2]!);
    clients.push(client);
    sessions.push(new ChaosSession(client, i, i % 2 ? "B" : "A", ledger, counters, uidValidity));
  }
  await Promise.all(sessions.map((s, i) => s.start(user, pass, i % 4 === 3 ? "Other" : "INBOX")));

  const deadline = Date.now() + SECONDS * 1000;
  const started = Date.now();
  await Promise.all(
    sessions.map(async (s) => {
      for (let n = 0; n < OPS && Date.now() < deadline; n++) await s.step(n);
    }),
  );
  const mixSeconds = (Date.now() - started) / 1000;

  // Quiet now: every session catches up, then the views are compared with the truth.
  for (const s of sessions) {
    await s.run("NOOP");
    await s.fill();
  }
  const violations: string[] = [...ledger.violations, ...sessions.flatMap((s) => s.view.violations)];
  const problem = (what: string) => violations.push(what);

  // \Recent (IMAP4rev1): at most one read-write session is told a message is recent
  // (RFC 3501 §2.3.2), however many SELECTed it on however many gateways.
  const recentOwner = new Map<string, string>();
  for (const s of sessions) {
    const o = await s.run("UID SEARCH RECENT");
    for (const uid of o.search) {
      const at = key(s.view.mailbox, uid);
      const other = recentOwner.get(at);
      if (other) problem(`${at}: \\Recent in ${other} and ${s.view.name}`);
      recentOwner.set(at, s.view.name);
    }
  }

  // The database.
  const ids = new Map<number, MailboxName>();
  const head = new Map<string, { uidNext: number; highestModseq: number; uidValidity: number }>();
  for (const name of MAILBOXES) {
    const mb = (await store.mailboxes.byName(account.id, name))!;
    ids.set(mb.id, name);
    const { rows } = await store.pool.query<{ uidnext: number; highestmodseq: number; uidvalidity: number }>(
      "SELECT uidnext, highestmodseq, uidvalidity FROM mailboxes WHERE id = $1",
      [mb.id],
    );
    head.set(name, {
      uidNext: rows[0]!.uidnext,
      highestModseq: rows[0]!.highestmodseq,
      uidValidity: rows[0]!.uidvalidity,
    });
    if (rows[0]!.uidvalidity !== uidValidity.get(name)) problem(`${name}: UIDVALIDITY changed`);
  }
  const { rows: messageRows } = await store.pool.query<{
    mailbox_id: number;
    uid: number;
    modseq: number;
    flags: number;
    keywords: string[];
    message_id: string | null;
  }>(
    "SELECT mailbox_id, uid, modseq, flags, keywords, message_id FROM messages WHERE mailbox_id = ANY($1::int[])",
    [[...ids.keys()]],
  );
  const { rows: expungedRows } = await store.pool.query<{ mailbox_id: number; uid: number; modseq: number }>(
    "SELECT mailbox_id, uid, modseq FROM expunged WHERE mailbox_id = ANY($1::int[])",
    [[...ids.keys()]],
  );
  const present = new Map<string, (typeof messageRows)[number]>();
  const perMarker = new Map<string, number>();
  for (const row of messageRows) {
    const name = ids.get(row.mailbox_id)!;
    const at = key(name, row.uid);
    const h = head.get(name)!;
    if (present.has(at)) problem(`${at}: two rows`);
    present.set(at, row);
    if (row.uid >= h.uidNext) problem(`${at}: UID not below UIDNEXT ${h.uidNext}`);
    if (row.modseq > h.highestModseq)
      problem(`${at}: MODSEQ ${row.modseq} above HIGHESTMODSEQ ${h.highestModseq}`);
    const messageId = (row.message_id ?? "").replace(/^<|>$/g, "");
    const marker = ledger.markerOf(at);
    if (!ledger.created.has(at)) problem(`${at}: a row no APPENDUID/COPYUID handed out`);
    else if (marker !== messageId) problem(`${at}: Message-ID ${messageId}, created as ${marker}`);
    if (ledger.gone.has(at)) problem(`${at}: still there after MOVE/EXPUNGE reported it gone`);
    perMarker.set(messageId, (perMarker.get(messageId) ?? 0) + 1);
  }
  const expunged = new Set<string>();
  for (const row of expungedRows) {
    const name = ids.get(row.mailbox_id)!;
    const at = key(name, row.uid);
    expunged.add(at);
    const h = head.get(name)!;
    if (present.has(at)) problem(`${at}: in the expunge log and still present`);
    if (row.uid >= h.uidNext) problem(`${at}: expunged UID not below UIDNEXT`);
    if (row.modseq > h.highestModseq) problem(`${at}: expunge MODSEQ above HIGHESTMODSEQ`);
  }
  for (const at of ledger.gone)
    if (!expunged.has(at)) problem(`${at}: reported gone, not in the expunge log`);
  const copiesOf = new Map<string, number>();
  for (const src of ledger.copies) {
    const marker = ledger.markerOf(src);
    if (marker) copiesOf.set(marker, (copiesOf.get(marker) ?? 0) + 1);
  }
  for (const [marker, n] of perMarker)
    if (n > 1 + (copiesOf.get(marker) ?? 0))
      problem(`${marker}: in ${n} places, copied ${copiesOf.get(marker) ?? 0} times`);
  for (const o of ledger.observedIds) {
    const marker = ledger.markerOf(o.at);
    if (marker !== undefined && marker !== o.messageId)
      problem(`${o.at}: FETCH showed ${o.messageId}, created as ${marker}`);
  }

  // Fresh sessions on each gateway agree with the database; surviving sessions with them.
  for (const name of MAILBOXES) {
    const mailboxId = [...ids].find(([, n]) => n === name)![0];
    const truth = new Map(
      messageRows
        .filter((r) => r.mailbox_id === mailboxId)
        .map((r) => [r.uid, { flags: flagKey(decodeFlags(r.flags, r.keywords)), modseq: r.modseq }]),
    );
    for (const [g, port] of ports.entries()) {
      const listing = await freshListing(port, user, pass, name);
      if (listing.uidValidity !== uidValidity.get(name))
        problem(`gateway ${g} ${name}: UIDVALIDITY ${listing.uidValidity}`);
      if (listing.highestModseq !== head.get(name)!.highestModseq)
        problem(
          `gateway ${g} ${name}: HIGHESTMODSEQ ${listing.highestModseq}, database ${head.get(name)!.highestModseq}`,
        );
      assert.deepEqual(
        [...listing.messages].sort((a, b) => a[0] - b[0]),
        [...truth].sort((a, b) => a[0] - b[0]),
        `gateway ${g} ${name} = database`,
      );
    }
    for (const s of sessions.filter((x) => x.view.mailbox === name)) {
      const uids = [...truth.keys()].sort((a, b) => a - b);
      if (s.view.uids.join(",") !== uids.join(","))
        problem(`${s.view.name} ${name}: final view ${compressSet(s.view.uids)} ≠ ${compressSet(uids)}`);
      for (const uid of uids) {
        const mine = flagKey(s.view.flags.get(uid) ?? ["(none)"]);
        if (mine !== truth.get(uid)!.flags)
          problem(`${s.view.name} ${name}: UID ${uid} flags (${mine}) ≠ (${truth.get(uid)!.flags})`);
      }
    }
  }

  if (TRACE) {
    mkdirSync(TRACE, { recursive: true });
    for (const s of sessions) writeFileSync(join(TRACE, `${s.view.name}.txt`), s.transcript.join(""));
  }
  const opsTotal = Object.values(counters.ops).reduce((a, b) => a + b, 0);
  report(`concurrent-mailbox (${mixSeconds.toFixed(0)} s of mix, seed ${SEED}${FULL ? ", full" : ""})`, {
    sessions: SESSIONS,
    gateways: 2,
    ops: opsTotal,
    ...Object.fromEntries(Object.entries(counters.ops).map(([k, v]) => [`op.${k}`, v])),
    ...Object.fromEntries(Object.entries(counters.no).map(([k, v]) => [`no.${k}`, v])),
    storeModified: counters.modified,
    inbox: messageRows.filter((r) => ids.get(r.mailbox_id) === "INBOX").length,
    other: messageRows.filter((r) => ids.get(r.mailbox_id) === "Other").length,
    expunged: expungedRows.length,
    recent: recentOwner.size,
    violations: violations.length,
  });
  assert.deepEqual(violations, [], `seed ${SEED}`);
  assert.ok(opsTotal >= SESSIONS, "the mix ran");
});
