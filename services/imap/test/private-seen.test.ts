/**
 * Per-user \Seen on shared mailboxes (issue 24, libs/store acl/private-seen.ts,
 * src/private-seen.ts) over real sockets: the owner and a grantee in two
 * sessions (and the grantee's second session on a second gateway process).
 * A grantee's reading leaves the owner's \Seen alone and the other way round;
 * FETCH FLAGS, STORE, SEARCH SEEN/UNSEEN, STATUS UNSEEN, the sync and
 * CONDSTORE's MODSEQ are per reader; `seen_shared` (mailctl/admin API) makes
 * \Seen common again.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type RunningProcess, requireServer } from "@aerogram/testkit";
import {
  type Backends,
  createAccount,
  type Gateway,
  message,
  RawClient,
  startBackends,
  startGateway,
  startGatewayProcess,
} from "./helpers.ts";

let backends: Backends;
let gateway: Gateway;
let second: RunningProcess | undefined;

before(async () => {
  backends = await startBackends({ nats: true });
  gateway = await startGateway(backends);
});
after(async () => {
  await second?.stop("SIGTERM");
  await gateway?.close();
  await backends?.stop();
});

async function login(port: number, user: string, pass: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  assert.match(await client.login(user, pass), /OK/);
  return client;
}

async function append(client: RawClient, mailbox: string, subject: string, flags = ""): Promise<string> {
  const text = message(subject);
  client.write(`ap APPEND "${mailbox}" ${flags ? `(${flags}) ` : ""}{${text.length}+}\r\n${text}\r\n`);
  return client.response("ap");
}

/** The owner's IMAP4rev1 session sees its \Recent: left out where only \Seen matters. */
const noRecent = (text: string) => text.replace(/ ?\\Recent/g, "");

/** An owner with a folder "Team" of `count` messages shared with a grantee with `rights`. */
async function sharedTeam(rights: string, count = 3) {
  const owner = await createAccount(gateway.runtime);
  const grantee = await createAccount(gateway.runtime);
  const o = await login(gateway.port, owner.user, owner.pass);
  const g = await login(gateway.port, grantee.user, grantee.pass);
  assert.match(await o.command("CREATE Team"), /OK/);
  for (let i = 1; i <= count; i++) assert.match(await append(o, "Team", `m${i}`), /ap OK/);
  assert.match(await o.command(`SETACL Team ${grantee.user} ${rights}`), /OK/);
  return { owner, grantee, o, g, shared: `Other Users/${owner.user}/Team` };
}

test("a grantee's \\Seen is its own: reading, FETCH FLAGS, STATUS and SEARCH per user", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { o, g, shared } = await sharedTeam("lrswi");
  try {
    const selected = await g.command(`SELECT "${shared}"`);
    assert.match(selected, /\* 3 EXISTS\r\n\* 0 RECENT[\s\S]*OK \[UNSEEN 1\]/);
    // Reading a body sets the reader's \Seen (RFC 9051 §6.4.5), reported with the data.
    assert.match(await g.command("FETCH 1 (BODY[TEXT])"), /\* 1 FETCH \((FLAGS \(\\Seen\) )?BODY\[TEXT\]/);
    assert.match(
      await g.command("FETCH 1:3 (FLAGS)"),
      /\* 1 FETCH \(FLAGS \(\\Seen\)\)\r\n\* 2 FETCH \(FLAGS \(\)\)/,
    );
    assert.match(
      await g.command("STORE 2 +FLAGS (\\Seen \\Flagged)"),
      /\* 2 FETCH \(FLAGS \(\\Seen \\Flagged\)\)/,
    );

    // The owner: nothing seen; \Flagged is the message's own flag, common to all.
    // \Recent is still the owner's: the grantee's SELECT claimed none (IMAP4rev1).
    assert.match(await o.command("SELECT Team"), /\* 3 RECENT[\s\S]*OK \[UNSEEN 1\]/);
    assert.match(
      noRecent(await o.command("FETCH 1:3 (FLAGS)")),
      /\* 1 FETCH \(FLAGS \(\)\)\r\n\* 2 FETCH \(FLAGS \(\\Flagged\)\)\r\n\* 3 FETCH \(FLAGS \(\)\)/,
    );
    assert.match(await o.command("SEARCH UNSEEN"), /\* SEARCH 1 2 3\r\n/);
    assert.match(await o.command('STATUS "INBOX" (UNSEEN)'), /UNSEEN 0/);
    // The owner reads message 3: the grantee's state does not move.
    assert.match(await o.command("STORE 3 +FLAGS (\\Seen)"), /FLAGS \(\\Seen \\Recent\)/);

    assert.match(await g.command("SEARCH UNSEEN"), /\* SEARCH 3\r\n/);
    assert.match(await g.command("SEARCH SEEN"), /\* SEARCH 1 2\r\n/);
    assert.match(await g.command("SEARCH NOT SEEN FLAGGED"), /\* SEARCH\r\n/);
    assert.match(await g.command("FETCH 3 (FLAGS)"), /\* 3 FETCH \(FLAGS \(\)\)/);
    // STATUS (and LIST-STATUS) UNSEEN count the caller's own \Seen.
    const status = await g.command(`STATUS "${shared}" (MESSAGES UNSEEN)`);
    assert.match(status, /\(MESSAGES 3 UNSEEN 1\)/);
    assert.match(
      await g.command(`LIST "" "Other Users/*" RETURN (STATUS (UNSEEN))`),
      /\* STATUS "Other Users\/[^"]+\/Team" \(UNSEEN 1\)/,
    );
    assert.match(await o.command('STATUS "Team" (UNSEEN)'), /UNSEEN 2/);

    // Unsetting: -FLAGS and a replacing FLAGS change only the reader's \Seen.
    assert.match(await g.command("STORE 1 -FLAGS (\\Seen)"), /\* 1 FETCH \(FLAGS \(\)\)/);
    assert.match(await g.command("STORE 3 FLAGS (\\Seen)"), /\* 3 FETCH \(FLAGS \(\\Seen\)\)/);
    assert.match(await g.command("SEARCH UNSEEN"), /\* SEARCH 1\r\n/);
    assert.match(
      noRecent(await o.command("FETCH 1:3 (FLAGS)")),
      /\* 1 FETCH \(FLAGS \(\)\)\r\n\* 2 FETCH \(FLAGS \(\\Flagged\)\)\r\n\* 3 FETCH \(FLAGS \(\\Seen\)\)/,
    );

    // The grantee's APPEND with \Seen: seen for the grantee, not for the owner.
    assert.match(await append(g, shared, "mine", "\\Seen \\Flagged"), /ap OK \[APPENDUID \d+ 4\]/);
    assert.match(await g.command("FETCH 4 (FLAGS)"), /\* 4 FETCH \(FLAGS \(\\Seen \\Flagged\)\)/);
    assert.match(await o.command("NOOP"), /\* 4 EXISTS/);
    assert.match(noRecent(await o.command("FETCH 4 (FLAGS)")), /\* 4 FETCH \(FLAGS \(\\Flagged\)\)/);

    // COPY out of the shared mailbox: the copies carry the grantee's \Seen (1 unseen; 2, 3 seen),
    // not the owner's (3 seen only); and into it: seen for the grantee, new (unseen) for the owner.
    assert.match(await g.command("COPY 1:3 INBOX"), /OK \[COPYUID/);
    assert.match(await g.command("STATUS INBOX (MESSAGES UNSEEN)"), /MESSAGES 3 UNSEEN 1\)/);
    assert.match(await g.command("SELECT INBOX"), /\* 3 EXISTS/);
    assert.match(await g.command(`COPY 2 "${shared}"`), /OK \[COPYUID \d+ \d+ 5\]/);
    assert.match(await g.command(`STATUS "${shared}" (MESSAGES UNSEEN)`), /MESSAGES 5 UNSEEN 1\)/);
    assert.match(await o.command("NOOP"), /\* 5 EXISTS/);
    assert.match(await o.command("SEARCH UNSEEN"), /\* SEARCH 1 2 4 5\r\n/);
  } finally {
    o.close();
    g.close();
  }
});

test("the grantee's other session (a second gateway process) follows its \\Seen, live and by CHANGEDSINCE; the owner's doesn't", {
  timeout: 360_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const started = await startGatewayProcess(backends);
  second = started.process;
  const { grantee, o, g, shared } = await sharedTeam("lrsw", 2);
  const g2 = await login(started.port, grantee.user, grantee.pass);
  try {
    const head = Number(/HIGHESTMODSEQ (\d+)/.exec(await g.command(`SELECT "${shared}" (CONDSTORE)`))![1]);
    assert.match(await g2.command(`SELECT "${shared}" (CONDSTORE)`), /\* 2 EXISTS/);
    assert.match(await o.command("SELECT Team (CONDSTORE)"), /\* 2 EXISTS/);

    const stored = await g.command("STORE 1 +FLAGS (\\Seen)");
    const modseq = Number(/\* 1 FETCH \(FLAGS \(\\Seen\) MODSEQ \((\d+)\)\)/.exec(stored)?.[1]);
    assert.ok(modseq > head, stored);
    // The reader's other session: the change with its MODSEQ (RFC 7162 §3.1.4), by its sync...
    assert.match(
      await g2.command("NOOP"),
      new RegExp(`\\* 1 FETCH \\(UID 1 FLAGS \\(\\\\Seen\\) MODSEQ \\(${modseq}\\)\\)`),
    );
    // ...and by CHANGEDSINCE; the owner has nothing changed since.
    assert.match(
      await g2.command(`FETCH 1:2 (FLAGS) (CHANGEDSINCE ${head})`),
      new RegExp(`^\\* 1 FETCH \\(FLAGS \\(\\\\Seen\\) MODSEQ \\(${modseq}\\)\\)\\r\\nt\\d+ OK`),
    );
    assert.doesNotMatch(await o.command("NOOP"), /FETCH/);
    assert.match(await o.command(`FETCH 1:2 (FLAGS) (CHANGEDSINCE ${head})`), /^t\d+ OK/);
    assert.match(await o.command("FETCH 1 (FLAGS MODSEQ)"), /FLAGS \(\\Recent\) MODSEQ \((\d+)\)/);
    assert.match(await g2.command("SEARCH UNSEEN"), /\* SEARCH 2\r\n/);

    // Live: the grantee's IDLE on the other process hears its own \Seen from here.
    g2.write("idle IDLE\r\n");
    await g2.readUntil((s) => s.includes("+ idling"));
    g2.take();
    assert.match(await g.command("FETCH 2 (RFC822.TEXT)"), /FLAGS \(\\Seen\)/);
    await g2.readUntil((s) => /\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)/.test(s), 20_000);
    g2.write("DONE\r\n");
    assert.match(await g2.response("idle"), /OK/);
    assert.match(await o.command("SEARCH UNSEEN"), /\* SEARCH 1 2\r\n/);
    // CONDSTORE's UNCHANGEDSINCE compares the reader's MODSEQ: an older one is MODIFIED.
    assert.match(await g2.command(`STORE 1 (UNCHANGEDSINCE ${head}) -FLAGS (\\Seen)`), /OK \[MODIFIED 1\]/);
    assert.match(await g2.command("FETCH 1 (FLAGS)"), /\\Seen/);
    // ...and so does a change of the message's own flags by the owner.
    const flagged = await o.command("STORE 1 +FLAGS (\\Flagged)");
    const ownerModseq = Number(/MODSEQ \((\d+)\)/.exec(flagged)?.[1]);
    assert.ok(ownerModseq > modseq, flagged);
    assert.match(
      await g2.command(`STORE 1 (UNCHANGEDSINCE ${ownerModseq - 1}) -FLAGS (\\Seen)`),
      /OK \[MODIFIED 1\]/,
    );
    assert.match(
      await g2.command(`STORE 1 (UNCHANGEDSINCE ${ownerModseq}) -FLAGS (\\Seen)`),
      /\* 1 FETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)\r\nt\d+ OK/,
    );
  } finally {
    o.close();
    g.close();
    g2.close();
  }
});

test("seen_shared makes \\Seen common; a Shared/ folder gives each user its own", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const store = gateway.runtime.store;
  const { owner, grantee, o, g, shared } = await sharedTeam("lrsw", 2);
  try {
    const mailbox = (await store.mailboxes.byName(owner.id, "Team"))!;
    assert.equal(await store.privateSeen.setShared(mailbox.id, true), true);
    assert.match(await g.command(`SELECT "${shared}"`), /OK \[READ-WRITE\]/);
    assert.match(await g.command("STORE 1 +FLAGS (\\Seen)"), /FLAGS \(\\Seen\)/);
    assert.match(await o.command("SELECT Team"), /OK \[UNSEEN 2\]/);
    assert.match(await o.command("SEARCH SEEN"), /\* SEARCH 1\r\n/);
    assert.match(await g.command(`STATUS "Other Users/${owner.user}/Team" (UNSEEN)`), /UNSEEN 1/);
    // Back to per user (at the next SELECT): the grantee has read nothing of its own.
    assert.equal(await store.privateSeen.setShared(mailbox.id, false), true);
    assert.match(await g.command(`SELECT "${shared}"`), /OK \[UNSEEN 1\]/);
    assert.match(await g.command("SEARCH UNSEEN"), /\* SEARCH 1 2\r\n/);

    // The store's write with IMAP_DURABLE_FLAG_WRITES=0 (asynchronous commit) does the same.
    const quick = await store.privateSeen.update({
      mailboxId: mailbox.id,
      uids: [2],
      operation: "add",
      flags: ["\\Seen"],
      accountId: grantee.id,
      changeSeen: true,
      durable: false,
    });
    assert.deepEqual(
      quick.updated.map((c) => [c.uid, c.flags & 1]),
      [[2, 1]],
    );
    assert.match(await g.command("SEARCH UNSEEN"), /\* SEARCH 1\r\n/);

    // RENAME INBOX moves the owner's messages out of a shared INBOX: the grantee's
    // own \Seen of them goes with them, as at an expunge.
    assert.match(await append(o, "INBOX", "inbox mail"), /ap OK/);
    assert.match(await o.command(`SETACL INBOX ${grantee.user} lrs`), /OK/);
    assert.match(await g.command(`SELECT "Other Users/${owner.user}/INBOX"`), /\* 1 EXISTS/);
    assert.match(await g.command("FETCH 1 (BODY[])"), /FLAGS \(\\Seen\)/);
    assert.match(await o.command("RENAME INBOX Old"), /OK/);
    assert.match(await g.command("NOOP"), /\* 1 EXPUNGE/);
    assert.match(await o.command("STATUS Old (MESSAGES UNSEEN)"), /MESSAGES 1 UNSEEN 1/);

    // A shared folder: every user is a reader with its own \Seen.
    const folder = `f${Date.now().toString(36)}`;
    assert.equal(await store.sharedFolders.create(folder), true);
    const folderInbox = (await store.mailboxes.byName(
      (await store.accounts.byAddress(`#shared/${folder}`))!.id,
      "INBOX",
    ))!;
    const users = [owner, await createAccount(gateway.runtime)];
    for (const u of users) await store.acl.set(folderInbox.id, u.user, "replace", "lrsi");
    const [a, b] = [o, await login(gateway.port, users[1]!.user, users[1]!.pass)];
    try {
      assert.match(await append(a!, `Shared/${folder}`, "to everyone"), /ap OK/);
      assert.match(await a!.command(`SELECT "Shared/${folder}"`), /\* 1 EXISTS/);
      assert.match(await a!.command("FETCH 1 (BODY[])"), /FLAGS \(\\Seen/);
      assert.match(await b.command(`STATUS "Shared/${folder}" (MESSAGES UNSEEN)`), /MESSAGES 1 UNSEEN 1/);
      assert.match(await b.command(`SELECT "Shared/${folder}"`), /OK \[UNSEEN 1\]/);
      assert.match(await a!.command(`STATUS "Shared/${folder}" (UNSEEN)`), /UNSEEN 0/);
    } finally {
      b.close();
    }
  } finally {
    o.close();
    g.close();
  }
});
