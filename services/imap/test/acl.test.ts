/**
 * Shared mailboxes over real sockets (RFC 4314 ACL, RFC 2342 namespaces): the
 * owner on gateway A (this process), the grantee on gateway B (a child process,
 * `AEROGRAM_SERVICES=imap`), one Postgres, S3, NATS and Redis.
 *
 * The owner grants "lrs" on a folder; the grantee finds it under Other Users,
 * reads it, can't delete (NO [NOPERM]); the owner's APPEND reaches the grantee's
 * IDLE on the other process; revoking "l" hides it at the next LIST. Then the
 * bad input of the issue, and the rules per command.
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
let gatewayA: Gateway;
let gatewayB: RunningProcess | undefined;
let portB = 0;

before(async () => {
  backends = await startBackends({ nats: true });
  gatewayA = await startGateway(backends);
});
after(async () => {
  await gatewayB?.stop("SIGTERM");
  await gatewayA?.close();
  await backends?.stop();
});

async function startGatewayB(): Promise<number> {
  if (portB) return portB;
  const started = await startGatewayProcess(backends);
  gatewayB = started.process;
  const port = started.port;
  portB = port;
  return portB;
}

async function login(port: number, user: string, pass: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  assert.match(await client.login(user, pass), /OK/);
  return client;
}

async function append(client: RawClient, mailbox: string, subject: string, tag = "ap"): Promise<string> {
  const text = message(subject);
  client.write(`${tag} APPEND "${mailbox}" {${text.length}+}\r\n${text}\r\n`);
  return client.response(tag);
}

test("two users over two gateway processes: grant lrs, list, read, no delete, IDLE push, revoke l", {
  timeout: 360_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const port = await startGatewayB();
  const owner = await createAccount(gatewayA.runtime);
  const grantee = await createAccount(gatewayA.runtime);
  const o = await login(gatewayA.port, owner.user, owner.pass);
  const g = await login(port, grantee.user, grantee.pass);
  const shared = `Other Users/${owner.user}/Team`;
  try {
    assert.match(await o.command("CAPABILITY"), /\bACL\b[\s\S]*RIGHTS=texk/);
    assert.match(await o.command("CREATE Team"), /OK/);
    assert.match(await append(o, "Team", "first"), /ap OK \[APPENDUID \d+ 1\]/);
    // Before the grant the grantee sees nothing, and the name is unknown to it.
    assert.doesNotMatch(await g.command('LIST "" "*"'), /Other Users/);
    assert.match(await g.command(`SELECT "${shared}"`), /NO \[NONEXISTENT\]/);

    assert.match(await o.command(`SETACL Team ${grantee.user} lrs`), /OK SETACL/);
    assert.match(
      await o.command("GETACL Team"),
      new RegExp(`\\* ACL "Team" ${owner.user} lrswipkxtea ${grantee.user} lrs\\r\\n`),
    );

    assert.match(
      await g.command("NAMESPACE"),
      /\* NAMESPACE \(\("" "\/"\)\) \(\("Other Users\/" "\/"\)\) \(\("Shared\/" "\/"\)\)/,
    );
    const listed = await g.command('LIST "" "*"');
    assert.match(listed, /\* LIST \(\\Noselect \\HasChildren\) "\/" "Other Users"\r\n/);
    assert.match(
      listed,
      new RegExp(`\\* LIST \\(\\\\Noselect \\\\HasChildren\\) "/" "Other Users/${owner.user}"\\r\\n`),
    );
    assert.match(listed, new RegExp(`\\* LIST \\(\\\\HasNoChildren\\) "/" "${shared}"\\r\\n`));
    // Only the granted folder: the owner's INBOX stays private.
    assert.doesNotMatch(listed, new RegExp(`${owner.user}/INBOX`));
    // LIST-EXTENDED: the levels above are \NonExistent (RFC 5258 §3).
    assert.match(
      await g.command('LIST "" "Other Users/%" RETURN (CHILDREN)'),
      new RegExp(`\\* LIST \\(\\\\NonExistent \\\\HasChildren\\) "/" "Other Users/${owner.user}"`),
    );
    assert.match(await g.command(`MYRIGHTS "${shared}"`), /\* MYRIGHTS "Other Users\/[^"]+\/Team" lrs\r\n/);
    assert.match(
      await g.command(`STATUS "${shared}" (MESSAGES UNSEEN)`),
      /\* STATUS "[^"]+" \(MESSAGES 1 UNSEEN 1\)/,
    );

    // "s" is a write right: read-write, but only \Seen is a permanent flag (RFC 4314 §4).
    const selected = await g.command(`SELECT "${shared}"`);
    assert.match(selected, /\* 1 EXISTS/);
    assert.match(selected, /\[PERMANENTFLAGS \(\\Seen\)\]/);
    assert.match(selected, /OK \[READ-WRITE\]/);
    assert.match(await g.command("FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])"), /Subject: first/);
    assert.match(await g.command("FETCH 1 (FLAGS)"), /FLAGS \(\\Seen/);
    // Can't delete: neither the message (no "t", "e") nor the mailbox (no "x").
    assert.match(await g.command("STORE 1 +FLAGS (\\Deleted)"), /NO \[NOPERM\]/);
    assert.match(await g.command("EXPUNGE"), /NO \[NOPERM\]/);
    assert.match(await g.command(`DELETE "${shared}"`), /NO \[NOPERM\]/);
    assert.match(await g.command(`SETACL "${shared}" ${grantee.user} +a`), /NO \[NOPERM\]/);
    assert.match(await append(g, shared, "not allowed", "ga"), /ga NO \[NOPERM\]/);
    assert.match(await g.command(`RENAME "${shared}" "Other Users/${owner.user}/Gone"`), /NO \[NOPERM\]/);

    // The owner's APPEND reaches the grantee's IDLE on the other process.
    g.write("idle IDLE\r\n");
    await g.readUntil((s) => s.includes("+ idling"));
    g.take();
    assert.match(await append(o, "Team", "second"), /ap OK/);
    await g.readUntil((s) => s.includes("* 2 EXISTS\r\n"), 20_000);
    // The grantee's \Seen is its own (private-seen.test.ts): the owner's message stays unseen.
    assert.match(await o.command("SELECT Team"), /\* 2 EXISTS/);
    // (and its \Recent, which the grantee's SELECT no longer takes).
    assert.match(await o.command("FETCH 1 (FLAGS)"), /\* 1 FETCH \(FLAGS \(\\Recent\)\)/);
    g.write("DONE\r\n");
    assert.match(await g.response("idle"), /OK/);

    // Revoking "l" hides the folder at the next LIST.
    assert.match(await o.command(`SETACL Team ${grantee.user} -l`), /OK/);
    assert.match(await o.command("GETACL Team"), new RegExp(`${grantee.user} rs\\r\\n`));
    assert.doesNotMatch(await g.command('LIST "" "*"'), /Other Users/);
    // DELETEACL removes the rest: now it doesn't exist for the grantee at all.
    assert.match(await o.command(`DELETEACL Team ${grantee.user}`), /OK/);
    assert.match(await g.command(`STATUS "${shared}" (MESSAGES)`), /NO \[NONEXISTENT\]/);
  } finally {
    o.close();
    g.close();
  }
});
