/**
 * The same SETACL / LIST / SELECT / STORE sequence by two users against
 * Aerogram and against a private Dovecot with its acl plugin and a shared
 * namespace "Other Users/<user>/" (libs/testkit startPrivateDovecot({ acl:
 * true })): every answer matches, after normalising what is only spelling
 * (quoting of atoms, the order of rights letters and of LIST lines, Dovecot's
 * obsolete "c"/"d" letters, response text), except the differences below,
 * which are asserted on both servers so they stay documented (per-user \Seen,
 * Dovecot's INDEXPVT private index and Aerogram's mailbox_seen, and a replacing
 * STORE with partial rights, whose flags without a right keep their values, are
 * compared step by step from step 31 on and answer alike, as do negative
 * rights, "-bob", from step 54 on):
 *
 *   STORE +FLAGS (\Deleted) with no "t" right, EXPUNGE with no "e" right:
 *     Dovecot answers OK and changes nothing; Aerogram NO [NOPERM] (RFC 4314 §4
 *     asks a STORE not to fail when SOME flag may be changed; none may here, and
 *     RFC 5530 gives NOPERM for exactly this).
 *   NAMESPACE: Aerogram also has the "Shared/" namespace of folders owned by no
 *     user; this Dovecot is configured without a public namespace.
 *   SETACL on the owner's own identifier: Dovecot answers OK and the owner keeps
 *     every right; Aerogram says so with NO [CANNOT] (the owner's rights are
 *     fixed, RFC 4314 §2).
 *   A mailbox the user has no right on at all: both answer NO as if it didn't
 *     exist (RFC 4314 §6 hides it); Aerogram adds [NONEXISTENT] (RFC 5530).
 *   Revoking a right: Aerogram applies it at the grantee's next command;
 *     Dovecot caches ACLs in the grantee's session, so the sequence compares a
 *     new session (RECONNECT), where both agree.
 *   SETACL for an identifier that is no account: Dovecot stores it; Aerogram
 *     answers NO [CANNOT] (a grant names an account row, so deleting the account
 *     deletes its grants and a later account with the address inherits nothing).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  dovecotUnavailable,
  type PrivateDovecot,
  requireServer,
  startPrivateDovecot,
} from "@aerogram/testkit";
import { type Backends, type Gateway, message, RawClient, startBackends, startGateway } from "./helpers.ts";

const OWNER = "alice@example.org";
const GRANTEE = "bob@example.org";
const PASSWORD = "acl-compare-pw";
const SHARED = `"Other Users/${OWNER}/Team"`;

let backends: Backends | undefined;
let gateway: Gateway | undefined;
let dovecot: PrivateDovecot | undefined;

before(async () => {
  if (dovecotUnavailable(["imap"])) return;
  backends = await startBackends();
  gateway = await startGateway(backends);
  for (const address of [OWNER, GRANTEE])
    await gateway.runtime.store.accounts.create({ address, password: PASSWORD });
  dovecot = await startPrivateDovecot({
    protocols: ["imap"],
    users: [OWNER, GRANTEE],
    password: PASSWORD,
    acl: true,
  });
});
after(async () => {
  await dovecot?.stop();
  await gateway?.close();
  await backends?.stop();
});

type Who = "owner" | "grantee";
const STEPS: [Who, string][] = [
  ["owner", "CREATE Team"],
  ["owner", "APPEND"],
  ["owner", `SETACL Team ${GRANTEE} lrs`],
  ["owner", "GETACL Team"],
  ["owner", "MYRIGHTS Team"],
  ["owner", `SETACL Team ${GRANTEE} lrz`],
  ["owner", `SETACL Nope ${GRANTEE} lr`],
  ["grantee", "NAMESPACE"],
  ["grantee", 'LIST "" "Other Users*"'],
  ["grantee", 'LIST "" "Other Users/%" RETURN (CHILDREN)'],
  ["grantee", `MYRIGHTS ${SHARED}`],
  ["grantee", `STATUS ${SHARED} (MESSAGES UNSEEN)`],
  ["grantee", `SELECT ${SHARED}`],
  ["grantee", "SEARCH UNSEEN"],
  ["grantee", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"],
  ["grantee", "STORE 1 +FLAGS (\\Seen)"],
  ["grantee", "STORE 1 +FLAGS (\\Deleted)"],
  ["grantee", "EXPUNGE"],
  ["grantee", `SETACL ${SHARED} ${GRANTEE} +a`],
  ["grantee", "UNSELECT"],
  // Not while selected: Dovecot 2.3 drops a session whose selected mailbox it was asked to delete.
  ["grantee", `DELETE ${SHARED}`],
  ["owner", "SELECT Team"],
  ["owner", "FETCH 1 (FLAGS)"],
  ["owner", `SETACL Team ${GRANTEE} -l`],
  // A new session: Dovecot's ACL cache lives as long as the session's process.
  ["grantee", "RECONNECT"],
  ["grantee", 'LIST "" "Other Users*"'],
  ["grantee", `MYRIGHTS ${SHARED}`],
  ["owner", `DELETEACL Team ${GRANTEE}`],
  ["grantee", `STATUS ${SHARED} (MESSAGES)`],
  ["owner", `SETACL Team ${OWNER} -a`],
  ["owner", `SETACL Team nobody@nowhere.example lr`],
  // Per-user \Seen (INDEXPVT there, mailbox_seen here) over more commands.
  ["owner", `SETACL Team ${GRANTEE} lrsw`],
  ["grantee", "RECONNECT"],
  ["grantee", `SELECT ${SHARED}`],
  ["grantee", "FETCH 1 (FLAGS)"],
  ["owner", "APPEND"],
  ["grantee", "NOOP"],
  ["grantee", "SEARCH UNSEEN"],
  ["grantee", "STORE 2 +FLAGS (\\Seen \\Flagged)"],
  ["owner", "FETCH 1:2 (FLAGS)"],
  ["grantee", `STATUS ${SHARED} (UNSEEN)`],
  ["owner", "STATUS Team (UNSEEN)"],
  ["owner", "STORE 2 +FLAGS (\\Seen)"],
  ["grantee", "FETCH 1:2 (FLAGS)"],
  ["grantee", "STORE 1 -FLAGS (\\Seen)"],
  ["owner", "SEARCH UNSEEN"],
  ["grantee", "SEARCH SEEN"],
  // A replacing STORE with only "s": the flags the grantee may not change keep their values.
  ["owner", `SETACL Team ${GRANTEE} lrs`],
  ["grantee", "RECONNECT"],
  ["grantee", `SELECT ${SHARED}`],
  ["grantee", "STORE 2 FLAGS ()"],
  ["grantee", "STORE 1 FLAGS (\\Seen \\Deleted \\Answered)"],
  ["grantee", "FETCH 1:2 (FLAGS)"],
  ["owner", "FETCH 1:2 (FLAGS)"],
  // Negative rights (RFC 4314 §2): "-bob" takes "s" and "w" from bob's own entry.
  // (This Dovecot refuses "anyone"/"authenticated": acl_anyone_allow is off.)
  ["owner", `SETACL Team ${GRANTEE} lrsw`],
  ["owner", `SETACL Team -${GRANTEE} sw`],
  ["grantee", "RECONNECT"],
  ["grantee", `MYRIGHTS ${SHARED}`],
  ["grantee", `SELECT ${SHARED}`],
  ["owner", `DELETEACL Team -${GRANTEE}`],
  ["grantee", "RECONNECT"],
  ["grantee", `MYRIGHTS ${SHARED}`],
];

/** Steps whose answers differ on purpose (see the file comment): index → [Aerogram, Dovecot]. */
const DIFFERENCES = new Map<number, [string, string]>([
  [
    7,
    [
      '* NAMESPACE (( /)) (("Other Users/" /)) ((Shared/ /))|OK',
      '* NAMESPACE (( /)) (("Other Users/" /)) NIL|OK',
    ],
  ],
  [16, ["NO [NOPERM]", "OK"]],
  [17, ["NO [NOPERM]", "OK"]],
  [28, ["NO [NONEXISTENT]", "NO"]],
  [29, ["NO [CANNOT]", "OK"]],
  [30, ["NO [CANNOT]", "OK"]],
]);

const sortRights = (r: string) => [...r.replace(/[cd]/g, "")].sort().join("");

/** One answer, with spelling differences normalised away. */
function normalise(text: string, tag: string): string {
  const lines = text.split("\r\n").filter((l) => l !== "");
  const tagged = lines.find((l) => l.startsWith(`${tag} `)) ?? "(no answer)";
  const status = /^\S+ (OK|NO|BAD)(?: \[([^\]]+)\])?/.exec(tagged);
  const code = status?.[2]?.split(" ")[0];
  // The tagged OK of a SELECT keeps its code (READ-WRITE), other codes are noise (APPENDUID...).
  const result = status
    ? `${status[1]}${code && (status[1] !== "OK" || code.startsWith("READ")) ? ` [${code}]` : ""}`
    : tagged;
  const data: string[] = [];
  for (const raw of lines) {
    if (!raw.startsWith("* ")) continue;
    let l = raw.replace(/"([^"\s()]*)"/g, "$1");
    // MAILBOXID: OBJECTID (RFC 8474), which this Dovecot 2.3 does not offer.
    if (
      /^\* (OK \[(UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ|UNSEEN|MAILBOXID)|CAPABILITY|\d+ RECENT|FLAGS )/.test(l)
    )
      continue;
    if (l.startsWith("* OK [PERMANENTFLAGS")) l = l.replace(/\] .*/, "]");
    l = l.replace(/^(\* MYRIGHTS .+) (\S+)$/, (_, head: string, r: string) => `${head} ${sortRights(r)}`);
    if (l.startsWith("* ACL ")) {
      const [, , name, ...pairs] = l.split(" ");
      const entries: string[] = [];
      for (let i = 0; i + 1 < pairs.length; i += 2) entries.push(`${pairs[i]} ${sortRights(pairs[i + 1]!)}`);
      l = `* ACL ${name} ${entries.sort().join(" ")}`;
    }
    l = l.replace(/\\Recent ?/g, "").replace(/ \)/g, ")");
    // The order of flags in a FLAGS list is not significant (RFC 9051 §2.3.2).
    l = l.replace(/FLAGS \(([^)]*)\)/, (_, list: string) => `FLAGS (${list.split(" ").sort().join(" ")})`);
    // Dovecot may announce a flag change another session made and then answer the
    // FETCH with the same line: one line says the same.
    if (!data.includes(l)) data.push(l);
  }
  data.sort();
  return [...data, result].join("|");
}

async function runSequence(port: number): Promise<string[]> {
  const clients: Record<Who, RawClient> = {
    owner: await RawClient.connect(port),
    grantee: await RawClient.connect(port),
  };
  try {
    assert.match(await clients.owner.login(OWNER, PASSWORD), /OK/);
    assert.match(await clients.grantee.login(GRANTEE, PASSWORD), /OK/);
    const answers: string[] = [];
    let n = 0;
    for (const [who, command] of STEPS) {
      const client = clients[who];
      const tag = `s${++n}`;
      if (command === "RECONNECT") {
        client.close();
        clients[who] = await RawClient.connect(port);
        answers.push(normalise(await clients[who].login(GRANTEE, PASSWORD), "t1"));
      } else if (command === "APPEND") {
        const text = message("first");
        client.write(`${tag} APPEND Team {${text.length}+}\r\n${text}\r\n`);
        answers.push(normalise(await client.response(tag), tag));
      } else answers.push(normalise(await client.command(command, tag), tag));
      // Dovecot's vfile ACL cache revalidates by the dovecot-acl file's mtime (1 s
      // resolution): give a changed ACL a second before the other user asks.
      if (/^(SETACL|DELETEACL) /.test(command)) await new Promise((r) => setTimeout(r, 1100));
    }
    return answers;
  } finally {
    clients.owner.close();
    clients.grantee.close();
  }
}

test("SETACL/LIST/SELECT/STORE by two users: Aerogram answers as Dovecot's acl plugin with a shared namespace", {
  timeout: 120_000,
}, async (t) => {
  const why = dovecotUnavailable(["imap"]);
  if (why) return t.skip(why);
  if (!(await requireServer(t, "postgres"))) return;
  const ours = await runSequence(gateway!.port);
  const theirs = await runSequence(dovecot!.ports.imap!);
  if (process.env.ACL_COMPARE_PRINT)
    for (let i = 0; i < STEPS.length; i++)
      console.log(i, STEPS[i], "\n  ours:   ", ours[i], "\n  dovecot:", theirs[i]);
  for (let i = 0; i < STEPS.length; i++) {
    const step = `${i}: ${STEPS[i]![0]} ${STEPS[i]![1]}`;
    const difference = DIFFERENCES.get(i);
    if (difference) {
      assert.equal(ours[i], difference[0], `ours, documented difference at ${step}`);
      assert.equal(theirs[i], difference[1], `Dovecot, documented difference at ${step}`);
    } else assert.equal(ours[i], theirs[i], `at ${step}`);
  }
  // The sequence says something: the shared folder was listed, read and refused.
  assert.match(ours[8]!, new RegExp(`\\* LIST \\(\\\\HasNoChildren\\) / "Other Users/${OWNER}/Team"`));
  assert.match(ours[20]!, /NO \[NOPERM\]$/);
  assert.match(ours[5]!, /^BAD$/);
  // The grantee's \Seen is its own; a FLAGS replace without "w" keeps \Flagged.
  assert.equal(ours[22], "* 1 FETCH (FLAGS ())|OK");
  assert.equal(ours[50], "* 2 FETCH (FLAGS (\\Flagged))|OK");
});
