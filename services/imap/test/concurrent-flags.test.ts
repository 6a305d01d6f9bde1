/**
 * Two sessions on one mailbox, one changing what the other has not heard of yet
 * (found by test/chaos/concurrent-mailbox.test.ts): a STORE or FETCH answer must
 * carry the message's current flags with the MODSEQ of that same state (RFC 9051
 * §6.4.6, RFC 7162 §3.1.1), never the session's older view beside a newer
 * MODSEQ; a STORE of a message expunged meanwhile gets no FETCH with a made-up
 * MODSEQ; after STORE .SILENT the other session's change is still reported; and
 * SELECT (QRESYNC) never reports VANISHED (EARLIER) for a message its new view
 * still numbers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

/** Sessions `a` and `b` with INBOX (CONDSTORE) selected and one message, UID 1, both in sync. */
async function twoSessions(): Promise<{ a: RawClient; b: RawClient }> {
  const account = await createAccount(fixture.gateway.runtime);
  const a = await RawClient.connect(fixture.gateway.port);
  const b = await RawClient.connect(fixture.gateway.port);
  for (const c of [a, b]) assert.match(await c.login(account.user, account.pass), /OK/);
  const text = message("shared");
  a.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
  assert.match(await a.response("ap"), /ap OK \[APPENDUID \d+ 1\]/);
  for (const c of [a, b]) assert.match(await c.command("SELECT INBOX (CONDSTORE)"), /\* 1 EXISTS\r\n/);
  return { a, b };
}

/** FETCH responses for sequence number 1, in order. */
function fetchesOf1(response: string): string[] {
  return response.split("\r\n").filter((l) => l.startsWith("* 1 FETCH "));
}

const modseqOf = (line: string) => Number(/MODSEQ \((\d+)\)/.exec(line)?.[1]);

test("STORE of a flag another session already set answers the current flags and MODSEQ", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await twoSessions();
  try {
    const byB = await b.command("STORE 1 +FLAGS (\\Seen)");
    const modseq = modseqOf(fetchesOf1(byB)[0]!);
    // a has not heard of it: its STORE changes nothing, and must still answer \Seen.
    const answer = fetchesOf1(await a.command("STORE 1 +FLAGS (\\Seen)"));
    assert.equal(answer.length, 1, JSON.stringify(answer));
    assert.match(answer[0]!, /FLAGS \([^)]*\\Seen[^)]*\)/);
    assert.equal(modseqOf(answer[0]!), modseq);
  } finally {
    a.close();
    b.close();
  }
});

test("FETCH (FLAGS MODSEQ) after another session's STORE answers one state, once", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await twoSessions();
  try {
    const modseq = modseqOf(fetchesOf1(await b.command("STORE 1 +FLAGS (\\Flagged)"))[0]!);
    const answer = fetchesOf1(await a.command("FETCH 1 (FLAGS MODSEQ)"));
    assert.equal(answer.length, 1, JSON.stringify(answer));
    assert.match(answer[0]!, /FLAGS \([^)]*\\Flagged[^)]*\)/);
    assert.equal(modseqOf(answer[0]!), modseq);
    assert.deepEqual(fetchesOf1(await a.command("NOOP")), [], "nothing left to report");
  } finally {
    a.close();
    b.close();
  }
});

test("UID STORE of a message another session expunged: no FETCH, then its EXPUNGE", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await twoSessions();
  try {
    const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(await a.command("STATUS INBOX (HIGHESTMODSEQ)"))?.[1]);
    assert.match(await b.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
    assert.match(await b.command("EXPUNGE"), /\* 1 EXPUNGE\r\n/);
    const answer = await a.command("UID STORE 1 +FLAGS (\\Seen)");
    assert.deepEqual(fetchesOf1(answer), [], `no FETCH (it had a MODSEQ ≤ ${highest} from the view)`);
    assert.match(answer, /\* 1 EXPUNGE\r\n/);
  } finally {
    a.close();
    b.close();
  }
});

test("after STORE .SILENT, another session's change to the same message is still reported", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await twoSessions();
  try {
    assert.match(await b.command("STORE 1 +FLAGS (\\Answered)"), /OK/);
    const told = [
      ...fetchesOf1(await a.command("STORE 1 +FLAGS.SILENT (\\Seen)")),
      ...fetchesOf1(await a.command("NOOP")),
    ];
    assert.ok(
      told.some((l) => /FLAGS \([^)]*\\Answered[^)]*\)/.test(l) && /\\Seen/.test(l)),
      `a learns \\Answered: ${JSON.stringify(told)}`,
    );
  } finally {
    a.close();
    b.close();
  }
});

test("SELECT (QRESYNC): an expunge committed after the view was listed is not VANISHED (EARLIER) beside it, but reported next", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { runtime } = fixture.gateway;
  const account = await createAccount(runtime);
  const a = await RawClient.connect(fixture.gateway.port);
  const messages = runtime.store.messages;
  const mailboxes = runtime.store.mailboxes;
  const openForSelect = mailboxes.openForSelect;
  try {
    assert.match(await a.login(account.user, account.pass), /OK/);
    assert.match(await a.command("ENABLE QRESYNC"), /OK/);
    for (const subject of ["one", "two", "three"]) {
      const text = message(subject);
      a.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
      assert.match(await a.response("ap"), /ap OK/);
    }
    const first = await a.command("SELECT INBOX");
    const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(first)?.[1]);
    const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(first)?.[1]);
    assert.match(await a.command("UNSELECT"), /OK/);
    // Another gateway expunges UID 2 just after this one listed the mailbox for SELECT.
    const inbox = (await runtime.store.mailboxes.byName(account.id, "INBOX"))!;
    mailboxes.openForSelect = async (mailboxId: number, claim: boolean) => {
      const snapshot = await openForSelect.call(mailboxes, mailboxId, claim);
      mailboxes.openForSelect = openForSelect;
      await messages.expunge(inbox.id, [2]);
      return snapshot;
    };
    const select = await a.command(`SELECT INBOX (QRESYNC (${uidValidity} ${modseq} 1:3))`);
    assert.match(select, /\* 3 EXISTS\r\n/);
    assert.doesNotMatch(select, /VANISHED \(EARLIER\) [^\r\n]*\b2\b/, "UID 2 still numbers sequence 2 here");
    assert.match(await a.command("NOOP"), /\* VANISHED 2\r\n/);
    const uids = [...(await a.command("FETCH 1:* (UID)")).matchAll(/\* (\d+) FETCH \(UID (\d+)\)/g)];
    assert.deepEqual(
      uids.map((m) => [Number(m[1]), Number(m[2])]),
      [
        [1, 1],
        [2, 3],
      ],
    );
  } finally {
    mailboxes.openForSelect = openForSelect;
    a.close();
  }
});

test("sessions racing STORE ±FLAGS on the same messages, with another writer locking their rows: every answer shows its own change", async (t) => {
  // Issue 17: the store's flag write answers from its own statement (update-flags.ts
  // `current`), under the mailbox row lock, with the gateway's default commit
  // (IMAP_DURABLE_FLAG_WRITES=0: no wait for the WAL flush). Rows are also locked
  // by a writer that does not take the mailbox lock, as the search indexer's
  // THREADID update does (search/rows.ts).
  if (!(await requireServer(t, "postgres"))) return;
  const { runtime } = fixture.gateway;
  const account = await createAccount(runtime);
  const sessions = await Promise.all(
    Array.from({ length: 5 }, () => RawClient.connect(fixture.gateway.port)),
  );
  let stop = false;
  try {
    for (const c of sessions) assert.match(await c.login(account.user, account.pass), /OK/);
    const [first] = sessions;
    for (let i = 0; i < 3; i++) {
      const text = message(`race ${i}`);
      first!.write(`ap${i} APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
      assert.match(await first!.response(`ap${i}`), /OK \[APPENDUID \d+ \d+\]/);
    }
    for (const c of sessions) assert.match(await c.command("SELECT INBOX (CONDSTORE)"), /\* 3 EXISTS\r\n/);
    const inbox = (await runtime.store.mailboxes.byName(account.id, "INBOX"))!;
    const locker = (async () => {
      for (let n = 1; !stop; n++) {
        const c = await runtime.store.pool.connect();
        try {
          await c.query("BEGIN");
          await c.query("UPDATE messages SET thread_id = $3 WHERE mailbox_id = $1 AND uid = $2", [
            inbox.id,
            (n % 3) + 1,
            n,
          ]);
          await c.query("SELECT pg_sleep(0.002)");
          await c.query("COMMIT");
        } finally {
          c.release();
        }
      }
    })();
    const pool = ["\\Seen", "\\Flagged", "\\Answered", "$Race"];
    const wrong: string[] = [];
    const stateAt = new Map<string, string>();
    let seed = 17;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    await Promise.all(
      sessions.map(async (c, s) => {
        for (let round = 0; round < 40; round++) {
          const uids = [1, 2, 3].filter(() => random() < 0.6);
          if (uids.length === 0) uids.push(1 + Math.floor(random() * 3));
          const flags = pool.filter(() => random() < 0.4);
          if (flags.length === 0) flags.push(pool[Math.floor(random() * pool.length)]!);
          const action = (["+FLAGS", "-FLAGS", "FLAGS"] as const)[Math.floor(random() * 3)]!;
          const command = `UID STORE ${uids.join(",")} ${action} (${flags.join(" ")})`;
          const response = await c.command(command);
          assert.match(response, /OK STORE completed/, response);
          const answered = new Set<number>();
          for (const line of response.split("\r\n")) {
            const m = /^\* \d+ FETCH \(.*UID (\d+).*FLAGS \(([^)]*)\).*MODSEQ \((\d+)\)/.exec(line);
            if (!m) continue;
            const uid = Number(m[1]);
            const shown = m[2]!.split(" ").filter((f) => f && f !== "\\Recent");
            const key = `${uid}@${m[3]}`;
            const state = [...shown].sort().join(" ");
            if ((stateAt.get(key) ?? state) !== state)
              wrong.push(`UID ${key} is (${stateAt.get(key)}) and (${state})`);
            stateAt.set(key, state);
            if (!uids.includes(uid) || answered.has(uid)) continue;
            answered.add(uid);
            const ok =
              action === "+FLAGS"
                ? flags.every((f) => shown.includes(f))
                : action === "-FLAGS"
                  ? flags.every((f) => !shown.includes(f))
                  : state === [...flags].sort().join(" ");
            if (!ok) wrong.push(`session ${s}: ${command} answered ${line}`);
          }
          assert.deepEqual([...answered].sort(), [...uids].sort(), `one answer per target: ${response}`);
        }
      }),
    );
    stop = true;
    await locker;
    assert.deepEqual(wrong, []);
  } finally {
    stop = true;
    for (const c of sessions) c.close();
  }
});
