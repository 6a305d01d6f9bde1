/**
 * The same corpus APPENDed to Aerogram and to a private Dovecot (testkit's
 * startPrivateDovecot, Debian's package), the same SEARCH / SORT / ESORT /
 * THREAD commands to both: the answers (UID sets and orders, thread trees)
 * must be identical, except the differences listed in DELIBERATE, each with
 * its RFC reason.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { dovecotUnavailable, type PrivateDovecot, startPrivateDovecot } from "@aerogram/testkit";
import {
  type Backends,
  createAccount,
  type Gateway,
  RawClient,
  startBackends,
  startGateway,
} from "./helpers.ts";

const why = dovecotUnavailable(["imap"]);

function msg(headers: Record<string, string>, body: string): string {
  return `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
}

const mp = (boundary: string, parts: string[]) =>
  `--${boundary}\r\n${parts.join(`\r\n--${boundary}\r\n`)}\r\n--${boundary}--\r\n`;

/** Subjects, names, dates and references picked for the RFC 5256 rules (base subject, fallbacks, threading). */
const CORPUS: { text: string; internalDate: string }[] = [
  [
    "<m2@x>",
    "Re: Meeting",
    "Zed <zed@x.org>",
    "Thu, 2 Jan 2020 10:00:00 +0000",
    "<m1@x>",
    "Quarterly numbers attached.",
  ],
  ["<m1@x>", "Meeting", "alice@x.org", "Wed, 1 Jan 2020 10:00:00 +0000", null, "Let us meet on Friday."],
  [
    "<m3@x>",
    "[list] Fwd: Lunch (fwd)",
    "Xavier <bob@x.org>",
    "Fri, 3 Jan 2020 10:00:00 +0100",
    null,
    "Sandwich menu.",
  ],
  ["<m4@x>", "lunch", "carol@x.org", null, "<m3@x>", "Un café au lait."],
  ["<m5@x>", "Other", "dave@x.org", "Sat, 4 Jan 2020 10:00:00 -0500", "<missing@x>", "Unrelated matters."],
  ["<m6@x>", "Re: Lunch", "erin@x.org", "Mon, 6 Jan 2020 10:00:00 +0000", null, "Count me in."],
  ["<m7@x>", "Meeting", "fred@x.org", "Tue, 7 Jan 2020 10:00:00 +0000", null, "Another meeting, unrelated."],
  [
    "<m8@x>",
    "Re: re: RE: [fwd: Budget]",
    "=?UTF-8?Q?=C3=89mile?= <emile@x.org>",
    "Wed, 8 Jan 2020 09:00:00 +0000",
    "<m9@x>",
    "BUDGET draft v2",
  ],
  [
    "<m9@x>",
    "Budget",
    '"Zoë Q" <zoe@x.org>',
    "Tue, 7 Jan 2020 23:30:00 -0200",
    null,
    "budget draft v1, see attachment",
  ],
  ["<m8@x>", "Budget", "greg@x.org", "Thu, 9 Jan 2020 09:00:00 +0000", null, "Duplicate message id."],
  [null, "", "", "Fri, 10 Jan 2020 09:00:00 +0000", null, "No subject, no from, no message id."],
  [
    "<m12@x>",
    "Re: Budget",
    "hank@x.org",
    "Fri, 10 Jan 2020 09:00:00 +0000",
    "<m8@x> <m9@x>",
    "Reply to the budget thread.",
  ],
  [
    "<m13@x>",
    "Fw: Meeting",
    "ivy@x.org",
    "Sat, 11 Jan 2020 09:00:00 +0000",
    null,
    "forwarding the meeting note",
  ],
].map(([id, subject, from, date, refs, body], i) => {
  const headers: Record<string, string> = { To: `team${i}@x.org` };
  if (from) headers.From = from;
  if (subject !== null) headers.Subject = subject!;
  if (date) headers.Date = date;
  if (id) headers["Message-ID"] = id;
  if (refs) headers.References = refs;
  headers["MIME-Version"] = "1.0";
  let text: string;
  if (i === 8) {
    headers["Content-Type"] = 'multipart/mixed; boundary="b1"';
    text = msg(
      headers,
      mp("b1", [
        `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${body}`,
        "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Budget <b>table</b> inside</p>",
        'Content-Type: application/pdf; name="q1.pdf"\r\nContent-Disposition: attachment; filename="q1.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK',
      ]),
    );
  } else {
    headers["Content-Type"] = "text/plain; charset=utf-8";
    headers["Content-Transfer-Encoding"] = "8bit";
    text = msg(headers, `${body}\r\n`);
  }
  return { text, internalDate: `${String(12 - (i % 7)).padStart(2, "0")}-Feb-2020 10:00:00 +0000` };
});

const COMMANDS = [
  'UID SEARCH BODY "budget"',
  'UID SEARCH TEXT "budget"',
  'UID SEARCH CHARSET UTF-8 BODY "CAFÉ"',
  'UID SEARCH TEXT "x.org"',
  'UID SEARCH BODY "unrelated" NOT FROM "fred"',
  'UID SEARCH OR BODY "friday" SUBJECT "lunch"',
  'UID SEARCH SUBJECT "budget"',
  'UID SEARCH FROM "zoe"',
  "UID SEARCH HEADER Message-ID m8",
  "UID SEARCH HEADER References m9",
  'UID SEARCH BODY "budget table"',
  'UID SEARCH BODY "<b>"',
  'UID SEARCH BODY "q1.pdf"',
  'UID SEARCH TEXT "q1.pdf"',
  'UID SEARCH RETURN (MIN MAX COUNT ALL) TEXT "meeting"',
  "UID SORT (SUBJECT) UTF-8 ALL",
  "UID SORT (REVERSE SUBJECT) UTF-8 ALL",
  "UID SORT (DATE) UTF-8 ALL",
  "UID SORT (REVERSE DATE) UTF-8 ALL",
  "UID SORT (ARRIVAL) UTF-8 ALL",
  "UID SORT (FROM) UTF-8 ALL",
  "UID SORT (TO) UTF-8 ALL",
  "UID SORT (CC) UTF-8 ALL",
  "UID SORT (SIZE) UTF-8 ALL",
  "UID SORT (DISPLAYFROM) UTF-8 ALL",
  "UID SORT (DISPLAYTO) UTF-8 ALL",
  "UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
  'UID SORT (DATE) UTF-8 BODY "budget"',
  "SORT (SUBJECT) UTF-8 ALL",
  "UID SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL",
  "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
  "UID THREAD REFERENCES UTF-8 ALL",
  'UID THREAD REFERENCES UTF-8 NOT SUBJECT "lunch"',
  "THREAD REFERENCES UTF-8 ALL",
];

/**
 * Where we answer differently on purpose: command → why. Dovecot without an
 * FTS plugin matches BODY against HTML source; we match the HTML's text (tags
 * dropped, entities decoded), as Dovecot itself does once an FTS plugin with
 * its HTML parser is on. RFC 9051 §6.4.4 says only "contains the specified
 * string in the body"; what the user can see and type is its text.
 */
const DELIBERATE: Record<string, string> = {
  'UID SEARCH BODY "budget table"': "HTML searched as text: the words are adjacent once <b> is dropped",
  'UID SEARCH BODY "<b>"': "HTML searched as text: markup is not text",
};

/** The untagged answer lines of a command, with the ESEARCH tag blanked. */
function answer(response: string): string {
  return response
    .split("\r\n")
    .filter((l) => /^\* (SEARCH|SORT|THREAD|ESEARCH)\b/.test(l))
    .map((l) => l.replace(/\(TAG "[^"]*"\)/, '(TAG "-")'))
    .join("\n");
}

let backends: Backends;
let gateway: Gateway;
let dovecot: PrivateDovecot;
const answers: { ours: string[]; theirs: string[] } = { ours: [], theirs: [] };

before(async () => {
  if (why) return;
  backends = await startBackends();
  gateway = await startGateway(backends);
  dovecot = await startPrivateDovecot({ protocols: ["imap"], users: ["cmp"], password: "pw" });
});
after(async () => {
  await gateway?.close();
  await backends?.stop();
  await dovecot?.stop();
});

test("SEARCH/SORT/THREAD answers match Dovecot's on the same corpus", { skip: why }, async () => {
  const account = await createAccount(gateway.runtime, "pw");
  answers.ours = await appendAndAsk(gateway.port, account.user, "pw");
  answers.theirs = await appendAndAsk(dovecot.ports.imap!, "cmp", "pw");
  if (process.env.SEARCH_COMPARE_PRINT)
    for (const [i, c] of COMMANDS.entries())
      console.log(`${c}\n  ${answers.ours[i]}\n  ${answers.theirs[i]}`);
  const differences: string[] = [];
  COMMANDS.forEach((command, i) => {
    if (answers.ours[i] === answers.theirs[i]) return;
    if (DELIBERATE[command]) return;
    differences.push(`${command}\n  ours:    ${answers.ours[i]}\n  dovecot: ${answers.theirs[i]}`);
  });
  assert.equal(differences.join("\n"), "", "answers differ");
  // the comparison compared something
  assert.ok(answers.ours.filter((a) => a.length > 10).length > COMMANDS.length / 2);
});

async function appendAndAsk(port: number, user: string, pass: string): Promise<string[]> {
  const c = await RawClient.connect(port);
  try {
    assert.match(await c.login(user, pass), /OK/);
    for (const m of CORPUS) {
      c.write(`a APPEND INBOX "${m.internalDate}" {${Buffer.byteLength(m.text)}}\r\n`);
      await c.readUntil((t) => t.includes("+ "));
      c.take();
      c.write(`${m.text}\r\n`);
      assert.match(await c.response("a"), /a OK/);
    }
    assert.match(await c.command("SELECT INBOX"), /OK/);
    const out: string[] = [];
    for (const command of COMMANDS) out.push(answer(await c.command(command)));
    return out;
  } finally {
    c.close();
  }
}
