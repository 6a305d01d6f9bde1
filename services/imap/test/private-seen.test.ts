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
  const { o, g, shared } = await sharedTeam("lrsw");
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
  } finally {
    o.close();
    g.close();
  }
});
