/**
 * Long-lived sessions (issue 17): a command in a mailbox nothing changed in asks
 * Postgres nothing (mailbox-heads.ts, fetch/message-cache.ts), yet every change
 * shows up: another session's writes through this process at once, and a change
 * no event announced once IMAP_HEAD_MAX_STALE_MS has passed (here 0: at once).
 * Queries are counted with the runtime's own aerogram_pg_query_duration_seconds.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";
import { type Backends, createAccount, type Gateway, message, RawClient, startBackends } from "./helpers.ts";

let backends: Backends;
/** Trusts a read for 10 minutes: within a test only events and own writes can move a mailbox. */
let trusting: Gateway;
/** IMAP_HEAD_MAX_STALE_MS=0: reads before every command, as without the high-water mark. */
let checking: Gateway;

async function gateway(settings: Record<string, string>): Promise<Gateway> {
  const runtime = await backends.runtime("imap-test", {
    IMAP_PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    ...settings,
  });
  const server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
  return {
    runtime,
    server,
    port: Number(/:(\d+)/.exec(endpoints[0]!)![1]),
    async close() {
      server.close();
      await runtime.close();
    },
  };
}

before(async () => {
  backends = await startBackends();
  trusting = await gateway({ IMAP_HEAD_MAX_STALE_MS: "600000" });
  checking = await gateway({ IMAP_HEAD_MAX_STALE_MS: "0" });
});

after(async () => {
  await trusting?.close();
  await checking?.close();
  await backends?.stop();
});

/** Round trips to Postgres this gateway has made so far. */
async function queries(g: Gateway): Promise<number> {
  const metric = g.runtime.metrics.getSingleMetric("aerogram_pg_query_duration_seconds");
  const values = (await metric!.get()).values;
  return values
    .filter((v) => (v as { metricName?: string }).metricName?.endsWith("_count"))
    .reduce((sum, v) => sum + v.value, 0);
}

async function selectedPair(g: Gateway): Promise<{ a: RawClient; b: RawClient; id: number }> {
  const account = await createAccount(g.runtime);
  const a = await RawClient.connect(g.port);
  const b = await RawClient.connect(g.port);
  for (const c of [a, b]) assert.match(await c.login(account.user, account.pass), /OK/);
  for (const n of [1, 2]) {
    const text = message(`steady ${n}`);
    a.write(`ap${n} APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await a.response(`ap${n}`), /OK \[APPENDUID/);
  }
  for (const c of [a, b]) assert.match(await c.command("SELECT INBOX"), /\* 2 EXISTS\r\n/);
  return { a, b, id: account.id };
}

const untaggedOf = (response: string) => response.split("\r\n").filter((l) => l.startsWith("* "));

test("FETCH and NOOP in an unchanged mailbox make no round trip and answer as the database would", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await selectedPair(trusting);
  try {
    const first = await a.command("FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)");
    assert.equal(untaggedOf(first).length, 2, first);
    const before = await queries(trusting);
    const again = await a.command("FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)");
    const body = await a.command("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert.match(await a.command("NOOP"), /OK/);
    assert.equal(await queries(trusting), before, "no query for FETCH/NOOP in an unchanged mailbox");
    assert.deepEqual(untaggedOf(again), untaggedOf(first));
    assert.match(body, /Subject: steady 2/);

    // Another session of the process changes flags and appends: the next command reports both.
    assert.match(await b.command("STORE 1 +FLAGS (\\Flagged)"), /OK/);
    const text = message("steady 3");
    b.write(`ap3 APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await b.response("ap3"), /OK \[APPENDUID/);
    const seen = await a.command("FETCH 1 (FLAGS)");
    assert.match(seen, /\* 3 EXISTS\r\n/);
    assert.match(seen, /\* 1 FETCH \(FLAGS \([^)]*\\Flagged[^)]*\)\)/);
  } finally {
    a.close();
    b.close();
  }
});

test("the session's own APPEND answers EXISTS and RECENT without reading the change log", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await selectedPair(trusting);
  try {
    const text = message("own append");
    const before = await queries(trusting);
    a.write(`ap APPEND INBOX (\\Seen $Work) {${text.length}+}\r\n${text}\r\n`);
    const answer = await a.response("ap");
    // The APPEND's one statement and the new blob's tombstone check (issue 22:
    // libs/delivery storeBlob); no search row (issue 20: the background indexer
    // writes it, off the ack path) and no read of the change log.
    assert.equal(await queries(trusting), before + 2, "the APPEND and its blob's tombstone check");
    // The new keyword extends FLAGS first; the message is \Recent to the appending
    // session (which, selecting first, had claimed messages 1 and 2 as well).
    assert.match(answer, /\* FLAGS \([^)]*\$Work[^)]*\)\r\n[\s\S]*\* 3 EXISTS\r\n\* 3 RECENT\r\n/);
    assert.match(await a.command("FETCH 3 (FLAGS)"), /\* 3 FETCH \(FLAGS \(\\Seen \$Work \\Recent\)\)/);
    // The other session sees it at its next command, not \Recent (the appender claimed it).
    assert.match(await b.command("NOOP"), /\* 3 EXISTS\r\n\* 0 RECENT\r\n/);
    assert.match(await b.command("FETCH 3 (FLAGS)"), /\* 3 FETCH \(FLAGS \(\\Seen \$Work\)\)/);
  } finally {
    a.close();
    b.close();
  }
});

test("a FETCH of the session's own new message answers from memory, as the database would", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b, id } = await selectedPair(trusting);
  // A gateway without the message cache on the same database: every FETCH reads the row.
  const reading = await gateway({ IMAP_MESSAGE_CACHE_BYTES: "0" });
  const c = await RawClient.connect(reading.port);
  try {
    const text = message("cached at append", "Multi\r\nline body\r\n", "Cc: Carol <carol@example.org>\r\n");
    a.write(`ap APPEND INBOX (\\Flagged) "07-Feb-1994 21:52:25 -0800" {${text.length}+}\r\n${text}\r\n`);
    assert.match(await a.response("ap"), /\* 3 EXISTS\r\n/);
    const items = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[TEXT] PREVIEW)";
    const before = await queries(trusting);
    const fromMemory = await a.command(`FETCH 3 ${items}`);
    assert.equal(await queries(trusting), before, "no query for the FETCH of the message just appended");
    const account = await reading.runtime.store.accounts.byId(id);
    assert.match(await c.login(account!.address, "secret-pass"), /OK/);
    assert.match(await c.command("SELECT INBOX"), /\* 3 EXISTS/);
    const fromDatabase = await c.command(`FETCH 3 ${items}`);
    // The same answer but \Recent, which only the appending session has.
    const body = (r: string) => r.replace(/ \\Recent/g, "").replace(/\r\nt\d+ OK[^\r]*\r\n$/, "");
    assert.match(fromMemory, /ENVELOPE \("Mon, 7 Feb 1994 21:52:25 -0800" "cached at append"/);
    assert.match(fromMemory, /INTERNALDATE " 8-Feb-1994 05:52:25 \+0000"/);
    assert.equal(body(fromMemory), body(fromDatabase));
    // SAVEDATE is set by the database: not in the entry the APPEND made, so it is read.
    assert.match(await a.command("FETCH 3 (SAVEDATE)"), /\* 3 FETCH \(SAVEDATE "/);
    assert.ok((await queries(trusting)) > before);
  } finally {
    a.close();
    b.close();
    c.close();
    await reading.close();
  }
});

test("STATUS of the selected mailbox answers from a current view, the same counts the database gives", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b } = await selectedPair(trusting);
  try {
    assert.match(await a.command("STORE 1 +FLAGS (\\Seen \\Deleted)"), /OK/);
    const status = "STATUS INBOX (MESSAGES UNSEEN RECENT UIDNEXT UIDVALIDITY DELETED HIGHESTMODSEQ)";
    const statusOf = (response: string) => untaggedOf(response).filter((l) => l.startsWith("* STATUS"));
    // The other session (not current yet: the store moved the head) asks the database.
    const fromStore = statusOf(await b.command(status));
    assert.match(
      fromStore[0]!,
      /MESSAGES 2 UNSEEN 1 RECENT 0 UIDNEXT 3 UIDVALIDITY \d+ DELETED 1 HIGHESTMODSEQ \d+/,
    );
    const before = await queries(trusting);
    const fromView = statusOf(await a.command(status));
    assert.equal(await queries(trusting), before, "no query for STATUS of a current selected mailbox");
    assert.deepEqual(fromView, fromStore);
    // SIZE is not in the view: the store answers.
    assert.match(await a.command("STATUS INBOX (SIZE)"), /\* STATUS "INBOX" \(SIZE \d+\)/);
    assert.ok((await queries(trusting)) > before);

    // Another session's APPEND makes the view stale: STATUS counts it at once.
    const text = message("status 3");
    b.write(`ap3 APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await b.response("ap3"), /OK \[APPENDUID/);
    const after = await a.command("STATUS INBOX (MESSAGES UNSEEN UIDNEXT)");
    assert.match(after, /\* STATUS "INBOX" \(MESSAGES 3 UNSEEN 2 UIDNEXT 4\)/);
  } finally {
    a.close();
    b.close();
  }
});

test("with IMAP_HEAD_MAX_STALE_MS=0 a change written without any event shows at the next command", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { a, b, id } = await selectedPair(checking);
  try {
    const inbox = await checking.runtime.store.mailboxes.byName(id, "INBOX");
    const blob = await checking.runtime.blobs.putBuffer(Buffer.from(message("no event")));
    await checking.runtime.store.messages.append([
      { mailboxId: inbox!.id, messages: [{ blobKey: blob.key, size: blob.size }] },
    ]);
    assert.match(await a.command("NOOP"), /\* 3 EXISTS\r\n/);
  } finally {
    a.close();
    b.close();
  }
});
