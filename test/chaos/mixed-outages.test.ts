/**
 * Backend outages under a mixed load, on private servers only (a
 * PostgreSQL cluster, an s3rver, a nats-server and a redis-server this test
 * starts; the machine's shared servers are never touched). One gateway process
 * (main.ts with smtp-in, imap and pop3) serves:
 *
 * - an MTA-like SMTP sender (mail-check.ts sendAll: retry on 4xx and drops);
 * - IMAP sessions on every account, each keeping its own view from the
 *   untagged responses it receives (imap-view.ts): "idle" sessions sit in
 *   IDLE and FETCH the UIDs of messages an EXISTS announced (after a push,
 *   or after any answer that brought one), "poll" sessions loop NOOP and
 *   FETCH FLAGS, "flag" sessions STORE flags and keywords, "churn" sessions
 *   log out and in again every few commands;
 * - POP3 sessions: a reader per IMAP account (STAT, LIST, RETR, QUIT, no
 *   deletions, so the IMAP view check stays about IMAP) and a deleter on a
 *   dedicated POP3 account (UIDL, RETR, DELE, QUIT) that IMAP sessions watch,
 *   so they see POP3's expunges too.
 *
 * Faults, one after another, each when a share of the SMTP load has been
 * acknowledged: PostgreSQL immediate shutdown and restart (crash recovery),
 * S3 stop/start, NATS stop/start, PostgreSQL fast shutdown and restart, Redis
 * restart (empty: leases and counters are forgotten). Every answer a client gets is classified: SMTP 250/4xx/5xx,
 * IMAP OK / NO [UNAVAILABLE] or BYE [UNAVAILABLE] (the server says "try again";
 * the client reconnects after a BYE) / anything else (BAD, another NO, a
 * connection dropped without BYE, no answer), POP3 +OK / -ERR [SYS/TEMP] or
 * [IN-USE] / anything else. Only the first two kinds are allowed.
 *
 * After recovery: every worker got an OK after the last fault; idle sessions
 * catch up on their own (the server pushes EXISTS/EXPUNGE/FETCH FLAGS, by
 * event or poll; the client sends no NOOP, only the FETCH that learns a new
 * message's UID, as any client must: RFC 9051 §7.4.1 EXISTS announces a
 * message, not its UID); then each
 * IMAP session's tracked view (EXISTS count, UIDs, flags) must equal what the
 * same session answers to UID SEARCH ALL and UID FETCH 1:* (FLAGS), what a
 * fresh session's SELECT + UID FETCH 1:* (FLAGS) shows, and the database rows;
 * and the mailbox audit (every acknowledged message exactly once, or deleted
 * by POP3, byte-identical, no row without its blob).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { decodeFlags, Store } from "@aerogram/store";
import { cleanEnv, startTsProcess, uniqueId } from "@aerogram/testkit";
import {
  classify,
  ImapViewClient,
  normaliseFlags,
  type ReplyKind,
  type Tagged,
} from "./imap-tracking-client.ts";
import { audit, auditCounts, makeMessages, sendAll } from "./mail-check.ts";
import { Pop3Client } from "./pop3-client.ts";
import {
  binaryAvailable,
  FULL,
  freePort,
  knob,
  postgresAvailable,
  privateNats,
  privatePostgres,
  privateRedis,
  report,
  restartableS3,
  sleep,
} from "./support.ts";

const N = knob("CHAOS_MIXED_N", 80, 400);
const RATE = knob("CHAOS_MIXED_RATE", 5, 8);
const OUTAGE_MS = knob("CHAOS_MIXED_OUTAGE_MS", 3000, 8000);
const IMAP_ACCOUNTS = knob("CHAOS_MIXED_ACCOUNTS", 2, 4);
/** IMAP sessions per account; roles go round idle, poll, flag, churn. */
const SESSIONS_PER_ACCOUNT = knob("CHAOS_MIXED_SESSIONS", 4, 8);
/** How long idle sessions may take to catch up after the load without polling. */
const IDLE_CATCH_UP_MS = 45_000;
/** Longer than the POP3 lease renewal period (20 s), so one renewal meets the Redis restart. */
const POP3_LINGER_MS = 25_000;
const PASSWORD = "chaos-pw";
const VERBOSE = process.env.CHAOS_VERBOSE === "1";
/** Progress lines on stderr with CHAOS_VERBOSE=1 (where a slow or stuck run is). */
const progress = (what: string) => {
  if (VERBOSE) console.error(`[mixed ${new Date().toISOString().slice(11, 23)}] ${what}`);
};

type Protocol = "smtp" | "imap" | "pop3";

/** Every classified answer, and the first few that were not allowed. */
class Replies {
  readonly counts: Record<Protocol, Record<ReplyKind, number>> = {
    smtp: { ok: 0, temporary: 0, other: 0 },
    imap: { ok: 0, temporary: 0, other: 0 },
    pop3: { ok: 0, temporary: 0, other: 0 },
  };
  readonly others: string[] = [];
  readonly temporaries: string[] = [];
  /** The fault in progress (or recovering), for the log lines. */
  phase = "before faults";

  add(protocol: Protocol, kind: ReplyKind, detail: string): void {
    this.counts[protocol][kind]++;
    const line = `[${this.phase}] ${protocol}: ${detail.slice(0, 240)}`;
    if (kind === "other" && this.others.length < 40) this.others.push(line);
    if (kind === "temporary" && this.temporaries.length < 400) this.temporaries.push(line);
  }
}

type Role = "idle" | "poll" | "flag" | "churn";

interface ImapWorker {
  name: string;
  address: string;
  mailboxId: number;
  role: Role;
  client: ImapViewClient | undefined;
  connections: number;
  lastOkAt: number;
  problems: string[];
}

interface Pop3Worker {
  name: string;
  address: string;
  deletes: boolean;
  /** Stays in TRANSACTION this long (NOOP, STAT), so lease renewals happen during faults. */
  lingerMs: number;
  sessions: number;
  lastOkAt: number;
}

test("PostgreSQL, S3, NATS and Redis outages under mixed SMTP/IMAP/POP3 load: temporary errors only, views match the database", {
  timeout: FULL ? 40 * 60_000 : 15 * 60_000,
}, async (t) => {
  // These ship with the machine image (CI too): without them the test can't run at all, so no skip.
  assert.ok(postgresAvailable(), "PostgreSQL 15 server binaries and the postgres user exist");
  assert.ok(binaryAvailable("nats-server"), "nats-server is installed");
  assert.ok(binaryAvailable("redis-server"), "redis-server is installed");

  const postgres = await privatePostgres();
  const nats = await privateNats();
  const redis = await privateRedis();
  const s3 = await restartableS3(`aerogram-mixed-${uniqueId()}`);
  t.after(async () => {
    await s3.remove();
    await nats.stop();
    await redis.stop();
    await postgres.remove();
  });
  progress("private servers starting");
  await postgres.start();
  await postgres.createDatabase("aerogram");
  await nats.start();
  await redis.start();
  await s3.start();

  let testPoolErrors = 0;
  const store = await Store.open({
    url: postgres.url("aerogram"),
    poolMax: 2,
    onPoolError: () => testPoolErrors++,
  });
  const blobs = createBlobStore({ kind: "s3", forcePathStyle: true, ...s3.options });
  t.after(async () => {
    await blobs.close();
    await store.close();
  });

  const imapAddresses = Array.from({ length: IMAP_ACCOUNTS }, (_, k) => `mixed${k}@example.com`);
  const popAddress = "popper@example.com";
  const addresses = [...imapAddresses, popAddress];
  const inboxOf = new Map<string, number>();
  for (const address of addresses) {
    const account = await store.accounts.create({ address, password: PASSWORD });
    inboxOf.set(address, (await store.mailboxes.byName(account.id, "INBOX"))!.id);
  }

  const [smtpPort, imapPort, pop3Port] = [await freePort(), await freePort(), await freePort()];
  const gateway = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      AEROGRAM_SERVICES: "smtp-in,imap,pop3",
      DATABASE_URL: postgres.url("aerogram"),
      DATABASE_POOL_MAX: "6",
      S3_BUCKET: s3.options.bucket,
      S3_ENDPOINT: s3.options.endpoint,
      S3_REGION: s3.options.region,
      S3_ACCESS_KEY_ID: s3.options.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.options.secretAccessKey,
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      SMTP_PORT: String(smtpPort),
      IMAP_PORT: String(imapPort),
      POP3_PORT: String(pop3Port),
      HTTP_PORT: "0",
      DEMO_ACCOUNT: "false",
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? "error",
    }),
  );
  t.after(async () => {
    await gateway.stop("SIGKILL");
  });
  await gateway.waitFor(/pop3 127\.0\.0\.1:\d+/, 120_000);
  const pid = gateway.child.pid;
  let gatewayExit: string | undefined;
  let stoppingGateway = false;
  gateway.child.once("exit", (code, signal) => {
    if (stoppingGateway) return;
    gatewayExit = `exit code ${code} signal ${signal}`;
    progress(
      `gateway exited (${gatewayExit}): ${gateway.stderr().slice(-3000)} ${gateway.stdout().slice(-3000)}`,
    );
  });

  progress("gateway up");
  const replies = new Replies();
  const phase = { stopFlagging: false, stopPop3: false, stopImap: false };

  // ---- IMAP workers ------------------------------------------------------------------------------
  const roles: Role[] = ["idle", "poll", "flag", "churn"];
  const workers: ImapWorker[] = [];
  for (const address of addresses) {
    // The POP3 account gets watchers only (idle and poll): its changes come from POP3 deletions.
    const count = address === popAddress ? 2 : SESSIONS_PER_ACCOUNT;
    for (let k = 0; k < count; k++) {
      workers.push({
        name: `${address.split("@")[0]}/${k}`,
        address,
        mailboxId: inboxOf.get(address)!,
        role: roles[k % roles.length]!,
        client: undefined,
        connections: 0,
        lastOkAt: 0,
        problems: [],
      });
    }
  }

  /** Records an IMAP answer; a connection closed after BYE [UNAVAILABLE] is a temporary refusal. */
  const noteImap = (w: ImapWorker, what: string, answer: Tagged): ReplyKind => {
    const byeUnavailable = /^\* BYE \[UNAVAILABLE\]/i.test(w.client?.bye ?? "");
    const kind: ReplyKind =
      answer.status === "closed" ? (byeUnavailable ? "temporary" : "other") : classify(answer);
    const detail =
      answer.status === "closed" ? `${what}: connection closed (${w.client?.bye ?? "no BYE"})` : answer.line;
    replies.add("imap", kind, `${w.name} ${what}: ${detail}`);
    if (kind === "ok") w.lastOkAt = Date.now();
    return kind;
  };

  /** FETCH the messages whose UID or flags the session has not been told yet (after EXISTS). */
  const learn = (w: ImapWorker, c: ImapViewClient): Promise<boolean> =>
    c.learn((what, answer) => noteImap(w, what, answer) === "ok");

  /** Connects, logs in and selects INBOX (with its UIDs and flags); undefined when that failed. */
  const openSession = async (w: ImapWorker): Promise<ImapViewClient | undefined> => {
    const c = await ImapViewClient.open(imapPort);
    if (!c) {
      replies.add("imap", "other", `${w.name}: no greeting`);
      return undefined;
    }
    w.client = c;
    w.connections++;
    if (noteImap(w, "LOGIN", await c.command(`LOGIN ${w.address} ${PASSWORD}`)) !== "ok") {
      c.destroy();
      return undefined;
    }
    return c;
  };

  const select = async (w: ImapWorker, c: ImapViewClient): Promise<boolean> => {
    c.view.length = 0;
    c.selected = true;
    if (noteImap(w, "SELECT", await c.command("SELECT INBOX")) !== "ok") {
      c.selected = false; // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected
      c.view.length = 0;
      return false;
    }
    return learn(w, c);
  };

  let storesInFlight = 0;
  const flagOps = ["+FLAGS (\\Flagged)", "-FLAGS (\\Flagged)", "+FLAGS (\\Seen $Chaos)", "-FLAGS ($Chaos)"];

  const step = async (w: ImapWorker, c: ImapViewClient, round: number): Promise<void> => {
    if (w.role === "idle") {
      const answered = await c.idleRound(
        10 * 60_000,
        () => phase.stopImap,
        (what, answer) => noteImap(w, what, answer) === "ok",
      );
      if (!answered) await sleep(300); // a NO [UNAVAILABLE] during an outage: don't spin
      return;
    }
    const known = c.view.filter((m) => m.uid !== 0);
    if (w.role === "churn" && round % 5 === 4) {
      // Log out and in again: logins and SELECTs meet the faults too.
      noteImap(w, "LOGOUT", await c.command("LOGOUT"));
      c.destroy();
      return;
    }
    if (w.role === "flag" && !phase.stopFlagging && known.length > 0 && round % 4 !== 3) {
      const m = known[Math.floor(Math.random() * known.length)]!;
      const op = flagOps[round % flagOps.length]!;
      storesInFlight++;
      try {
        noteImap(w, "STORE", await c.command(`UID STORE ${m.uid} ${op}`));
      } finally {
        storesInFlight--;
      }
    } else if (round % 3 === 2 && c.view.length > 0) {
      noteImap(w, "FETCH", await c.command("FETCH 1:* (FLAGS)"));
    } else {
      noteImap(w, "NOOP", await c.command("NOOP"));
    }
    await learn(w, c);
    await sleep(250 + Math.random() * 350);
  };

  /** Runs a worker's role until told to stop; ends with an open session that has INBOX selected. */
  const runImap = async (w: ImapWorker): Promise<void> => {
    let round = 0;
    let c: ImapViewClient | undefined;
    let triesAfterStop = 0;
    for (;;) {
      // Told to stop but unable to get a selected session back: give up (the checks report it).
      if (phase.stopImap && (gatewayExit !== undefined || ++triesAfterStop > 40)) return;
      if (!c || c.closed) {
        c = await openSession(w);
        if (!c) {
          await sleep(500);
          continue;
        }
      }
      if (!c.selected && !(await select(w, c))) {
        await sleep(300);
        continue;
      }
      if (phase.stopImap) return;
      await step(w, c, round++);
    }
  };

  // ---- POP3 workers ------------------------------------------------------------------------------
  const removals = new Map<string, Map<string, "removed" | "maybe">>([[popAddress, new Map()]]);
  const pop3Workers: Pop3Worker[] = [
    ...imapAddresses.map((address, k) => ({
      lingerMs: k === 0 ? POP3_LINGER_MS : 0,
      name: `pop3 ${address}`,
      address,
      deletes: false,
      sessions: 0,
      lastOkAt: 0,
    })),
    { name: `pop3 ${popAddress}`, address: popAddress, deletes: true, lingerMs: 0, sessions: 0, lastOkAt: 0 },
  ];

  /** Records a POP3 answer: +OK, a temporary -ERR ([SYS/TEMP], [IN-USE]) or anything else. */
  const notePop3 = (w: Pop3Worker, what: string, status: string, line: string): ReplyKind => {
    const kind: ReplyKind =
      status === "+OK"
        ? "ok"
        : status === "-ERR" && /^-ERR \[(SYS\/TEMP|IN-USE)\]/.test(line)
          ? "temporary"
          : "other";
    replies.add(
      "pop3",
      kind,
      `${w.name} ${what}: ${status === "closed" || status === "timeout" ? status : line}`,
    );
    if (kind === "ok") w.lastOkAt = Date.now();
    return kind;
  };

  /** One POP3 session; false when it ended early (a temporary or other answer). */
  const pop3Session = async (w: Pop3Worker): Promise<boolean> => {
    const { client, greeting } = await Pop3Client.open(pop3Port);
    w.sessions++;
    try {
      if (notePop3(w, "greeting", greeting.status, greeting.line) !== "ok") return false;
      for (const line of [`USER ${w.address}`, `PASS ${PASSWORD}`]) {
        const a = await client.command(line);
        if (notePop3(w, line.split(" ")[0]!, a.status, a.line) !== "ok") return false;
      }
      const stat = await client.command("STAT");
      if (notePop3(w, "STAT", stat.status, stat.line) !== "ok") return false;
      const count = Number(stat.line.split(" ")[1]);
      const list = await client.command("LIST", true);
      if (notePop3(w, "LIST", list.status, list.line) !== "ok") return false;
      if (list.body.length !== count)
        replies.add("pop3", "other", `${w.name}: LIST has ${list.body.length} of ${count}`);
      const marked: string[] = [];
      const upTo = w.deletes ? Math.min(count, 5) : Math.min(count, 2);
      for (let n = 1; n <= upTo; n++) {
        const msg = w.deletes ? n : 1 + Math.floor(Math.random() * count);
        const retr = await client.command(`RETR ${msg}`, true);
        if (notePop3(w, "RETR", retr.status, retr.line) !== "ok") return false;
        if (!w.deletes) continue;
        const id = retr.body.map((l) => /^Message-ID: <(.+)@remote\.test>$/i.exec(l)?.[1]).find(Boolean);
        if (!id) {
          replies.add("pop3", "other", `${w.name}: RETR ${msg} without our Message-ID`);
          continue;
        }
        const dele = await client.command(`DELE ${msg}`);
        if (notePop3(w, "DELE", dele.status, dele.line) !== "ok") return false;
        marked.push(id);
      }
      for (const until = Date.now() + w.lingerMs; Date.now() < until && !phase.stopPop3; ) {
        await sleep(1000);
        const a = await client.command(Math.random() < 0.5 ? "NOOP" : "STAT");
        if (notePop3(w, "NOOP/STAT", a.status, a.line) !== "ok") return false;
      }
      const quit = await client.command("QUIT");
      const kind = notePop3(w, "QUIT", quit.status, quit.line);
      // +OK: the deletions are applied. Otherwise they may or may not have been (an UPDATE whose answer was lost).
      const mine = removals.get(w.address);
      for (const id of marked)
        if (mine && mine.get(id) !== "removed") mine.set(id, kind === "ok" ? "removed" : "maybe");
      return kind === "ok";
    } finally {
      client.destroy();
    }
  };

  const runPop3 = async (w: Pop3Worker): Promise<void> => {
    while (!phase.stopPop3) {
      await pop3Session(w);
      await sleep(300 + Math.random() * 500);
    }
  };

  // ---- faults and the SMTP load ------------------------------------------------------------------
  const faults = [
    { at: 0.12, name: "postgres", down: () => postgres.stop("immediate"), up: () => postgres.start() },
    { at: 0.3, name: "s3", down: () => s3.stop(), up: () => s3.start() },
    { at: 0.45, name: "nats", down: () => nats.stop(), up: () => nats.start() },
    // A clean (fast) shutdown too: sessions get FATAL "terminating connection" first.
    { at: 0.6, name: "postgres-fast", down: () => postgres.stop("fast"), up: () => postgres.start() },
    { at: 0.75, name: "redis", down: () => redis.stop(), up: () => redis.start() },
  ];
  let acked = 0;
  let injected = 0;
  /** Message i is first sent only after every fault due before it has begun, so each fault meets load. */
  const gate = async (i: number) => {
    const due = faults.filter((f) => i >= (f.at + 0.05) * N).length;
    while (injected < due) await sleep(50);
  };
  let lastRecoveryAt = 0;
  const injector = (async () => {
    for (const f of faults) {
      while (acked < f.at * N && !gatewayExit) await sleep(50);
      if (gatewayExit) return;
      replies.phase = `${f.name} down`;
      progress(`${f.name} down (acked ${acked})`);
      await f.down();
      injected++;
      await sleep(OUTAGE_MS);
      await f.up();
      lastRecoveryAt = Date.now();
      replies.phase = `${f.name} back`;
      progress(`${f.name} back`);
    }
  })();

  const imapRuns = workers.map((w) => runImap(w));
  const pop3Runs = pop3Workers.map((w) => runPop3(w));
  const sent = makeMessages(N, addresses);
  const started = Date.now();
  progress("load starts");
  const { permanent } = await sendAll(sent, {
    port: smtpPort,
    concurrency: 4,
    rate: RATE,
    deadline: Date.now() + knob("CHAOS_DEADLINE_MS", 8 * 60_000, 30 * 60_000),
    sourceIps: 10,
    gate,
    abort: () => gatewayExit !== undefined,
    onAck: (n) => {
      acked = n;
    },
  });
  progress("SMTP load done");
  await injector;
  replies.phase = "after faults";
  const loadSeconds = (Date.now() - started) / 1000;
  for (const m of sent) {
    replies.counts.smtp.ok += m.acked ? 1 : 0;
    replies.counts.smtp.temporary += m.temporary;
    replies.counts.smtp.other += m.dropped;
  }
  replies.counts.smtp.other += permanent.length;

  // Every client continues after recovery: an OK after the last fault came back.
  const deadline = Date.now() + 60_000;
  const behind = () =>
    [...workers, ...pop3Workers].filter((w) => w.lastOkAt <= lastRecoveryAt).map((w) => w.name);
  while (behind().length > 0 && Date.now() < deadline) await sleep(200);
  const stuck = behind();

  // Quiet the writers: no more flag changes or POP3 deletions; SMTP is done.
  phase.stopFlagging = true;
  phase.stopPop3 = true;
  await Promise.all(pop3Runs);
  for (const until = Date.now() + 60_000; storesInFlight > 0 && Date.now() < until; ) await sleep(50);

  const dbView = async (mailboxId: number) => {
    const { rows } = await store.pool.query<{ uid: number; flags: number; keywords: string[] }>(
      "SELECT uid, flags, keywords FROM messages WHERE mailbox_id = $1 ORDER BY uid",
      [mailboxId],
    );
    return rows.map((r) => ({ uid: Number(r.uid), flags: normaliseFlags(decodeFlags(r.flags, r.keywords)) }));
  };
  const same = (a: { uid: number; flags: string[] | null }[], b: { uid: number; flags: string[] }[]) =>
    a.length === b.length &&
    a.every((m, i) => m.uid === b[i]!.uid && m.flags !== null && m.flags.join(" ") === b[i]!.flags.join(" "));

  const describe = (v: { uid: number; flags: string[] | null }[]) =>
    v.map((m) => `${m.uid}(${(m.flags ?? ["?"]).join(" ")})`).join(" ");
  // Idle sessions catch up by themselves (event push or the server's poll), without polling.
  progress("idle catch-up");
  const idleStarted = Date.now();
  const idlers = workers.filter((w) => w.role === "idle");
  const dbNow = new Map<number, Awaited<ReturnType<typeof dbView>>>();
  for (const [, id] of inboxOf) dbNow.set(id, await dbView(id));
  const idleBehind = () => idlers.filter((w) => !w.client || !same(w.client.view, dbNow.get(w.mailboxId)!));
  while (idleBehind().length > 0 && Date.now() - idleStarted < IDLE_CATCH_UP_MS) await sleep(100);
  const idleCatchUpMs = Date.now() - idleStarted;
  const idleNotCaughtUp = idleBehind().map(
    (w) =>
      `${w.name}: ${w.client ? describe(w.client.view) : "no session"} != database ${describe(dbNow.get(w.mailboxId)!)}` +
      ` (the last EXISTS came with ${w.client?.lastExistsWith || "nothing"})`,
  );

  phase.stopImap = true;
  await Promise.all(imapRuns);
  const survived = gatewayExit === undefined && gateway.child.exitCode === null;

  // ---- each session's view against the same session, a fresh SELECT and the database ------------
  progress("view checks");
  const mismatches: string[] = [];
  const fresh = new Map<number, { uid: number; flags: string[] }[]>();
  const freshView = async (address: string, mailboxId: number) => {
    const known = fresh.get(mailboxId);
    if (known) return known;
    const c = await ImapViewClient.open(imapPort);
    assert.ok(c, "a fresh IMAP session gets a greeting");
    await c.command(`LOGIN ${address} ${PASSWORD}`);
    c.selected = true;
    const sel = await c.command("SELECT INBOX");
    assert.equal(sel.status, "OK", sel.line);
    const exists = Number(/^\* (\d+) EXISTS$/im.exec(sel.untagged.join("\n"))?.[1]);
    const all = await c.command("UID FETCH 1:* (FLAGS)");
    assert.equal(all.status, "OK", all.line);
    const v = c.view.map((m) => ({ uid: m.uid, flags: m.flags ?? [] }));
    if (exists !== v.length)
      mismatches.push(`fresh SELECT of ${address}: EXISTS ${exists}, fetched ${v.length}`);
    mismatches.push(...c.problems.map((p) => `fresh ${address}: ${p}`));
    await c.command("LOGOUT");
    c.destroy();
    fresh.set(mailboxId, v);
    return v;
  };

  let sessionsChecked = 0;
  for (const w of workers) {
    const c = w.client!;
    mismatches.push(...c.problems.map((p) => `${w.name}: ${p}`));
    // NOOP until a NOOP brings no change (at most 10), then learn what EXISTS announced.
    for (let k = 0; k < 10; k++) {
      const before = c.changes;
      const noop = await c.command("NOOP");
      if (noop.status !== "OK") mismatches.push(`${w.name}: settling NOOP answered ${noop.line}`);
      if (c.changes === before) break;
    }
    await learn(w, c);
    const tracked = c.view.map((m) => ({ uid: m.uid, flags: m.flags ? [...m.flags] : null }));
    const search = await c.command("UID SEARCH ALL");
    const searched = (/^\* SEARCH ?(.*)$/im.exec(search.untagged.join("\n"))?.[1] ?? "")
      .split(" ")
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b);
    const asked = await c.command("UID FETCH 1:* (FLAGS)");
    const askedView = c.view.map((m) => ({ uid: m.uid, flags: m.flags ?? [] }));
    const db = await dbView(w.mailboxId);
    const freshV = await freshView(w.address, w.mailboxId);
    if (search.status !== "OK" || asked.status !== "OK")
      mismatches.push(`${w.name}: UID SEARCH/FETCH answered ${search.line} / ${asked.line}`);
    if (!same(tracked, db))
      mismatches.push(`${w.name}: tracked view ${describe(tracked)} != database ${describe(db)}`);
    if (searched.join(" ") !== db.map((m) => m.uid).join(" "))
      mismatches.push(`${w.name}: UID SEARCH ALL ${searched.join(" ")} != database UIDs`);
    if (!same(askedView, db)) mismatches.push(`${w.name}: UID FETCH 1:* ${describe(askedView)} != database`);
    if (!same(freshV, db)) mismatches.push(`${w.name}: fresh SELECT ${describe(freshV)} != database`);
    sessionsChecked++;
    await c.command("LOGOUT");
    c.destroy();
  }

  progress("audit");
  stoppingGateway = true;
  await gateway.stop("SIGKILL");
  const a = await audit(store, blobs, sent, inboxOf, removals);
  const stayedOpen = workers.filter((w) => w.connections === 1).length;
  report(`mixed outages (${loadSeconds.toFixed(0)} s of load, ${OUTAGE_MS} ms each)`, {
    ...auditCounts(sent, a),
    faultsInjected: injected,
    faults: faults.map((f) => f.name).join("+"),
    smtpOk: replies.counts.smtp.ok,
    smtpTemporary: replies.counts.smtp.temporary,
    smtpOther: replies.counts.smtp.other,
    imapOk: replies.counts.imap.ok,
    imapTemporary: replies.counts.imap.temporary,
    imapOther: replies.counts.imap.other,
    pop3Ok: replies.counts.pop3.ok,
    pop3Temporary: replies.counts.pop3.temporary,
    pop3Other: replies.counts.pop3.other,
    imapSessions: workers.length,
    imapSessionsStayedOpen: stayedOpen,
    imapReconnects: workers.reduce((n, w) => n + w.connections - 1, 0),
    pop3Sessions: pop3Workers.reduce((n, w) => n + w.sessions, 0),
    idleCatchUpMs,
    sessionsChecked,
    mismatches: mismatches.length,
    gatewaySurvived: String(survived),
  });
  if (VERBOSE) for (const line of replies.temporaries) console.log(line);

  assert.ok(
    survived,
    `the gateway (pid ${pid}) kept running through the outages:\n${gateway.stderr().slice(-4000)}`,
  );
  assert.deepEqual(replies.others, [], "only OK and temporary answers");
  assert.deepEqual(permanent, [], "no message was refused permanently");
  assert.deepEqual(stuck, [], "every client got an OK after the last recovery");
  assert.deepEqual(
    idleNotCaughtUp,
    [],
    `idle sessions caught up by themselves within ${IDLE_CATCH_UP_MS} ms`,
  );
  assert.deepEqual(mismatches, [], "every session's view matches a fresh SELECT and the database");
  assert.equal(sessionsChecked, workers.length);
  assert.deepEqual(a.problems, []);
  assert.equal(a.strays, 0);
  assert.equal(a.acknowledged, N);
  assert.equal(a.duplicated, 0);
  assert.equal(a.lost, 0);
  assert.equal(a.found + a.removedByClient, a.recipientDeliveries);
  assert.equal(a.rowsWithMissingBlob, 0);
  assert.equal(injected, faults.length);
  assert.ok(replies.counts.imap.ok > 0 && replies.counts.pop3.ok > 0);
  t.diagnostic(`test pool errors (our own connections across the restart): ${testPoolErrors}`);
});
