/**
 * ACL rules per command and the bad input of issue 24, over real sockets on one
 * gateway (acl-rules.embedded.test.ts runs them again on PGlite): unknown
 * rights, the owner's own rights, missing mailboxes and identifiers, "anyone",
 * CREATE/RENAME in another user's tree, RENAME of a shared tree, deleting an
 * account that shares or is granted mailboxes, the owner's quota, and an
 * owner's change reaching a grantee's IDLE through the in-process bus.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

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

test("a grantee's IDLE on the same gateway sees the owner's APPEND; EXAMINE without write rights", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { gateway } = fixture;
  const owner = await createAccount(gateway.runtime);
  const grantee = await createAccount(gateway.runtime);
  const o = await login(gateway.port, owner.user, owner.pass);
  const g = await login(gateway.port, grantee.user, grantee.pass);
  const shared = `Other Users/${owner.user}/News`;
  try {
    assert.match(await o.command("CREATE News"), /OK/);
    assert.match(await o.command(`SETACL News ${grantee.user} lr`), /OK/);
    // No write right at all: SELECT is read-only (RFC 4314 §4), no permanent flags.
    const selected = await g.command(`SELECT "${shared}"`);
    assert.match(selected, /\[PERMANENTFLAGS \(\)\]/);
    assert.match(selected, /OK \[READ-ONLY\]/);
    g.write("idle IDLE\r\n");
    await g.readUntil((s) => s.includes("+ idling"));
    assert.match(await append(o, "News", "pushed"), /ap OK/);
    await g.readUntil((s) => s.includes("* 1 EXISTS\r\n"), 10_000);
    g.write("DONE\r\n");
    assert.match(await g.response("idle"), /OK/);
    // Read-only: a body fetch doesn't set \Seen; STORE is refused.
    assert.match(await g.command("FETCH 1 (BODY[])"), /OK/);
    assert.match(await g.command("FETCH 1 (FLAGS)"), /FLAGS \(\)/);
    assert.match(await g.command("STORE 1 +FLAGS (\\Seen)"), /NO \[READ-ONLY\]/);
    // The grantee subscribes to the shared name: its own subscription, not the owner's flag.
    assert.match(await g.command(`SUBSCRIBE "${shared}"`), /OK/);
    assert.match(await g.command('LSUB "" "Other Users/*"'), new RegExp(`\\* LSUB \\(\\) "/" "${shared}"`));
    assert.match(await o.command('LIST (SUBSCRIBED) "" "News"'), /OK/);
    assert.doesNotMatch(await o.command('LIST (SUBSCRIBED) "" "News"'), /\* LIST/);
    // COPY out of it into the grantee's own mailbox is allowed (read right); into it is not (no "i").
    assert.match(await g.command("COPY 1 INBOX"), /OK \[COPYUID/);
    assert.match(await g.command("UNSELECT"), /OK/);
    assert.match(await g.command("SELECT INBOX"), /OK/);
    assert.match(await g.command(`COPY 1 "${shared}"`), /NO \[NOPERM\]/);
    assert.match(await g.command(`MOVE 1 "${shared}"`), /NO \[NOPERM\]/);
  } finally {
    o.close();
    g.close();
  }
});

test("a grantee's change reaches the owner's IDLE (published on the owner's subject)", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { gateway } = fixture;
  const owner = await createAccount(gateway.runtime);
  const grantee = await createAccount(gateway.runtime);
  const o = await login(gateway.port, owner.user, owner.pass);
  const g = await login(gateway.port, grantee.user, grantee.pass);
  const shared = `Other Users/${owner.user}/Desk`;
  try {
    assert.match(await o.command("CREATE Desk"), /OK/);
    assert.match(await append(o, "Desk", "one"), /ap OK/);
    assert.match(await o.command(`SETACL Desk ${grantee.user} lrswi`), /OK/);
    assert.match(await o.command("SELECT Desk"), /OK/);
    o.write("idle IDLE\r\n");
    await o.readUntil((s) => s.includes("+ idling"));
    assert.match(await g.command(`SELECT "${shared}"`), /OK \[READ-WRITE\]/);
    assert.match(await g.command("STORE 1 +FLAGS (\\Flagged)"), /OK/);
    await o.readUntil((s) => /\* 1 FETCH \(UID 1 FLAGS \(\\Flagged[^)]*\)\)/.test(s), 10_000);
    assert.match(await append(g, shared, "two", "a2"), /a2 OK/);
    await o.readUntil((s) => s.includes("* 2 EXISTS\r\n"), 10_000);
    o.write("DONE\r\n");
    assert.match(await o.response("idle"), /OK/);
  } finally {
    o.close();
    g.close();
  }
});

test("bad input: unknown rights, the owner's own rights, missing mailboxes and identifiers", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const owner = await createAccount(fixture.gateway.runtime);
  const other = await createAccount(fixture.gateway.runtime);
  const o = await login(fixture.gateway.port, owner.user, owner.pass);
  try {
    // RFC 4314 §3.1: an unrecognised right MUST be BAD.
    assert.match(await o.command(`SETACL INBOX ${other.user} lrz`), /BAD Unknown right "z"/);
    assert.match(await o.command(`SETACL INBOX ${other.user} +lr1`), /BAD/);
    assert.match(await o.command("SETACL INBOX"), /BAD/);
    // Obsolete rights map onto their sets (§2.1.1): c → kx, d → xte.
    assert.match(await o.command(`SETACL INBOX ${other.user} lrcd`), /OK/);
    assert.match(await o.command("GETACL INBOX"), new RegExp(`${other.user} lrkxte\\r\\n`));
    // The owner's rights are fixed (§2: a server may always grant rights to an identifier).
    assert.match(await o.command(`SETACL INBOX ${owner.user} -a`), /NO \[CANNOT\]/);
    assert.match(await o.command(`DELETEACL INBOX ${owner.user}`), /NO \[CANNOT\]/);
    assert.match(await o.command("MYRIGHTS INBOX"), /\* MYRIGHTS "INBOX" lrswipkxtea/);
    assert.match(await o.command("SETACL Nope anyone lr"), /NO \[NONEXISTENT\]/);
    assert.match(await o.command("GETACL Nope"), /NO \[NONEXISTENT\]/);
    assert.match(
      await o.command("SETACL INBOX nobody@nowhere.example lr"),
      /NO \[CANNOT\] Unknown identifier/,
    );
    assert.match(
      await o.command(`LISTRIGHTS INBOX ${other.user}`),
      new RegExp(`\\* LISTRIGHTS "INBOX" ${other.user} "" l r s w i p k x t e a`),
    );
    assert.match(await o.command(`LISTRIGHTS INBOX ${owner.user}`), /lrswipkxtea\r\n/);
    // An empty replace removes the entry.
    assert.match(await o.command(`SETACL INBOX ${other.user} ""`), /OK/);
    assert.doesNotMatch(await o.command("GETACL INBOX"), new RegExp(other.user));
  } finally {
    o.close();
  }
});

test("a grantee with the admin right may drop it; anyone; RENAME of a shared tree; account deletion", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const owner = await createAccount(fixture.gateway.runtime);
  const grantee = await createAccount(fixture.gateway.runtime);
  const third = await createAccount(fixture.gateway.runtime);
  const o = await login(fixture.gateway.port, owner.user, owner.pass);
  const g = await login(fixture.gateway.port, grantee.user, grantee.pass);
  const h = await login(fixture.gateway.port, third.user, third.pass);
  const base = `Other Users/${owner.user}`;
  try {
    assert.match(await o.command("CREATE Projects/Alpha"), /OK/);
    assert.match(await o.command(`SETACL Projects ${grantee.user} lrswikxtea`), /OK/);
    assert.match(await o.command(`SETACL Projects/Alpha ${grantee.user} lr`), /OK/);
    assert.match(await o.command("SETACL Projects anyone l"), /OK/);
    // "anyone" lets every user see it, with only what anyone has.
    assert.match(await h.command('LIST "" "Other Users/*"'), new RegExp(`"${base}/Projects"`));
    assert.match(await h.command(`SELECT "${base}/Projects"`), /NO \[NOPERM\]/);

    // A grantee creates under a folder it has "k" on: the child is the owner's.
    assert.match(await g.command(`CREATE "${base}/Projects/Beta"`), /OK/);
    assert.match(await o.command('LIST "" "Projects/*"'), /"Projects\/Beta"/);
    assert.match(await g.command(`CREATE "${base}/Projects/Alpha/Deep"`), /NO \[NOPERM\]/);
    assert.match(await g.command(`CREATE "${base}/Top"`), /NO \[NOPERM\]/);
    assert.match(await g.command('CREATE "Other Users/x"'), /NO/);

    // RENAME of the shared tree by the owner: grants follow the mailboxes.
    assert.match(await o.command("RENAME Projects Work"), /OK/);
    const listed = await g.command('LIST "" "Other Users/*"');
    assert.match(listed, new RegExp(`"${base}/Work"`));
    assert.match(listed, new RegExp(`"${base}/Work/Alpha"`));
    assert.doesNotMatch(listed, /Projects/);
    // RENAME by the grantee: into its own namespace is refused; within the owner's, with x and k, done.
    assert.match(await g.command(`RENAME "${base}/Work/Beta" Mine`), /NO \[CANNOT\]/);
    assert.match(await g.command(`RENAME "${base}/Work/Beta" "${base}/Work/Gamma"`), /OK/);
    assert.match(await o.command('LIST "" "Work/*"'), /"Work\/Gamma"/);
    assert.match(await g.command(`RENAME "${base}/Work/Alpha" "${base}/Work/A2"`), /NO \[NOPERM\]/);

    // A grantee with "a" may remove its own admin right (it is only an ACL entry); after that it can't administer.
    assert.match(await g.command(`SETACL "${base}/Work" ${grantee.user} -a`), /OK/);
    assert.match(await g.command(`GETACL "${base}/Work"`), /NO \[NOPERM\]/);
    assert.match(await g.command(`MYRIGHTS "${base}/Work"`), /lrswikxte\r\n/);

    // Deleting the grantee deletes its grants; deleting the owner deletes its shared mailboxes.
    await fixture.gateway.runtime.store.accounts.delete(grantee.id);
    assert.doesNotMatch(await o.command("GETACL Work"), new RegExp(grantee.user));
    await fixture.gateway.runtime.store.accounts.delete(owner.id);
    assert.doesNotMatch(await h.command('LIST "" "*"'), /Other Users/);
    assert.match(await h.command(`STATUS "${base}/Work" (MESSAGES)`), /NO \[NONEXISTENT\]/);
  } finally {
    o.close();
    g.close();
    h.close();
  }
});

test('shared folders owned by no user: "Shared/<folder>", grants, CREATE inside, its own quota root', async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { gateway } = fixture;
  const store = gateway.runtime.store;
  const user = await createAccount(gateway.runtime);
  const other = await createAccount(gateway.runtime);
  const folder = `team${Date.now() % 100000}`;
  assert.equal(await store.sharedFolders.create(folder, 100_000), true);
  assert.equal(await store.sharedFolders.create(folder.toUpperCase()), false);
  const root = (await store.accounts.byAddress(`#shared/${folder}`))!;
  const inbox = (await store.mailboxes.byName(root.id, "INBOX"))!;
  assert.deepEqual(await store.acl.set(inbox.id, user.user, "replace", "lrswikte"), {
    ok: true,
    rights: "lrswikte",
  });
  // The folder's login-less account can't log in, and is no one to grant to.
  const c = await RawClient.connect(gateway.port);
  assert.match(await c.login(`#shared/${folder}`, "!"), /NO/);
  c.close();
  const u = await login(gateway.port, user.user, user.pass);
  const o = await login(gateway.port, other.user, other.pass);
  const name = `Shared/${folder}`;
  try {
    assert.match(await u.command(`SETACL "${name}" "#shared/${folder}" lr`), /NO \[NOPERM\]/);
    const listed = await u.command('LIST "" "Shared*"');
    assert.match(listed, /\* LIST \(\\Noselect \\HasChildren\) "\/" "Shared"\r\n/);
    assert.match(listed, new RegExp(`\\* LIST \\(\\\\HasNoChildren\\) "/" "${name}"\r\n`));
    assert.match(await u.command(`MYRIGHTS "${name}"`), /lrswikte\r\n/);
    assert.match(await append(u, name, "to the team"), /ap OK \[APPENDUID/);
    assert.match(await u.command(`CREATE "${name}/Sub"`), /OK/);
    assert.match(await u.command('LIST "" "Shared/*"'), new RegExp(`"${name}/Sub"`));
    assert.match(await u.command(`SELECT "${name}"`), /\* 1 EXISTS[\s\S]*OK \[READ-WRITE\]/);
    assert.match(
      await u.command(`GETQUOTAROOT "${name}/Sub"`),
      new RegExp(`\\* QUOTAROOT "${name}/Sub" "${name}"\r\n\\* QUOTA "${name}" \\(STORAGE 1 97\\)`),
    );
    // Without a grant another user sees nothing of it.
    assert.doesNotMatch(await o.command('LIST "" "*"'), /Shared/);
    assert.match(await o.command(`SELECT "${name}"`), /NO \[NONEXISTENT\]/);
    assert.equal((await store.sharedFolders.list()).find((f) => f.name === folder)?.usage.messages, 1);
    assert.equal(await store.sharedFolders.delete(folder), true);
    assert.doesNotMatch(await u.command('LIST "" "*"'), /Shared/);
  } finally {
    u.close();
    o.close();
  }
});

test('a personal folder named "Shared" from before the namespaces stays reachable; new ones go to the namespace', async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { gateway } = fixture;
  const user = await createAccount(gateway.runtime);
  // Made directly in the store, as it would exist from before this release.
  await gateway.runtime.store.mailboxes.create(user.id, "Shared");
  const u = await login(gateway.port, user.user, user.pass);
  try {
    assert.match(await u.command("SELECT Shared"), /OK \[READ-WRITE\]/);
    assert.match(await append(u, "Shared", "legacy"), /ap OK/);
    assert.match(await u.command("STATUS Shared (MESSAGES)"), /\(MESSAGES 1\)/);
    assert.match(await u.command("CREATE Shared/New"), /NO \[NOPERM\]/);
    assert.match(await u.command("UNSELECT"), /OK/);
    assert.match(await u.command("RENAME Shared Legacy"), /OK/);
    assert.match(await u.command("STATUS Legacy (MESSAGES)"), /\(MESSAGES 1\)/);
  } finally {
    u.close();
  }
});

test("quota: a message a grantee adds to a shared mailbox counts against the owner", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const owner = await createAccount(fixture.gateway.runtime);
  const grantee = await createAccount(fixture.gateway.runtime);
  await fixture.gateway.runtime.store.accounts.setQuota(owner.id, 300);
  const o = await login(fixture.gateway.port, owner.user, owner.pass);
  const g = await login(fixture.gateway.port, grantee.user, grantee.pass);
  try {
    assert.match(await o.command("CREATE Drop"), /OK/);
    assert.match(await o.command(`SETACL Drop ${grantee.user} lri`), /OK/);
    const shared = `Other Users/${owner.user}/Drop`;
    assert.match(await append(g, shared, "one", "a1"), /a1 OK/);
    assert.equal((await fixture.gateway.runtime.store.accounts.usage(grantee.id)).bytes, 0);
    assert.ok((await fixture.gateway.runtime.store.accounts.usage(owner.id)).bytes > 0);
    // The owner's quota is what fills up.
    assert.match(await append(g, shared, "two", "a2"), /a2 NO \[OVERQUOTA\]/);
    assert.match(
      await g.command(`GETQUOTAROOT "${shared}"`),
      new RegExp(
        `\\* QUOTAROOT "${shared}" "Other Users/${owner.user}"\r\n\\* QUOTA "Other Users/${owner.user}" \\(STORAGE 1 0\\)`,
      ),
    );
    // Without "s"/"w" the flags of an APPEND are dropped, not refused.
    assert.match(await g.command(`SELECT "${shared}"`), /OK \[READ-ONLY\]/);
  } finally {
    o.close();
    g.close();
  }
});

test('negative rights: "-<identifier>" takes rights from what "anyone" and the grantee\'s entry give (RFC 4314 §2)', async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { gateway } = fixture;
  const owner = await createAccount(gateway.runtime);
  const bob = await createAccount(gateway.runtime);
  const carol = await createAccount(gateway.runtime);
  const o = await login(gateway.port, owner.user, owner.pass);
  const b = await login(gateway.port, bob.user, bob.pass);
  const c = await login(gateway.port, carol.user, carol.pass);
  const shared = `Other Users/${owner.user}/Board`;
  try {
    assert.match(await o.command("CREATE Board"), /OK/);
    assert.match(await o.command("SETACL Board anyone lrs"), /OK/);
    assert.match(await o.command(`SETACL Board -${bob.user} s`), /OK/);
    assert.match(
      await o.command("GETACL Board"),
      new RegExp(`\\* ACL "?Board"? ${owner.user} lrswipkxtea -${bob.user} s anyone lrs\\r\\n`),
    );
    assert.match(await b.command(`MYRIGHTS "${shared}"`), /\* MYRIGHTS "[^"]+" lr\r\n/);
    assert.match(await c.command(`MYRIGHTS "${shared}"`), /\* MYRIGHTS "[^"]+" lrs\r\n/);
    // Without "s" (nor "w", "t", "e") the SELECT is read-only for bob only.
    assert.match(await b.command(`SELECT "${shared}"`), /OK \[READ-ONLY\]/);
    assert.match(await c.command(`SELECT "${shared}"`), /OK \[READ-WRITE\]/);
    // A positive entry of bob's own does not undo the negative one.
    assert.match(await o.command(`SETACL Board ${bob.user} +s`), /OK/);
    assert.match(await b.command(`MYRIGHTS "${shared}"`), /lr\r\n/);
    // Taking "l" hides it from LIST; "-anyone" takes from everyone.
    assert.match(await o.command(`SETACL Board -${bob.user} +l`), /OK/);
    assert.doesNotMatch(await b.command('LIST "" "Other Users/*"'), /Board/);
    assert.match(await o.command("SETACL Board -anyone r"), /OK/);
    assert.match(await c.command(`MYRIGHTS "${shared}"`), /\* MYRIGHTS "[^"]+" ls\r\n/);
    // The owner keeps every right: no negative entry for it; unknown accounts as for positive ones.
    assert.match(await o.command(`SETACL Board -${owner.user} r`), /NO \[CANNOT\]/);
    assert.match(await o.command("SETACL Board -nobody@nowhere.example r"), /NO \[CANNOT\]/);
    assert.match(await o.command(`DELETEACL Board -${bob.user}`), /OK/);
    assert.match(await o.command("DELETEACL Board -anyone"), /OK/);
    assert.match(await b.command(`MYRIGHTS "${shared}"`), /\* MYRIGHTS "[^"]+" lrs\r\n/);
  } finally {
    o.close();
    b.close();
    c.close();
  }
});
