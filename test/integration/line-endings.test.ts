/**
 * Bare-LF mail over the wire (issue 15 part 2): the same message APPENDed with
 * bare LF line endings and delivered over SMTP with a bare-LF 8bit body is
 * served with CRLF everywhere (RFC 9051 §2.3.1, RFC 5322 §2.3), with sizes that
 * agree between RFC822.SIZE, BODY[], BODY[HEADER] + BODY[TEXT], partials,
 * POP3 LIST and RETR; and the IMAP answers are compared with Dovecot's for
 * the same APPEND (its imap binary, pre-authenticated over a pipe).
 *
 * A message stored before delivery normalised line endings (bare LFs in its
 * blob) is still served consistently: IMAP as stored, POP3 with CRLF.
 *
 * Runs `npm start`'s main with SMTP-in, IMAP and POP3 on a real Postgres
 * database and a filesystem blob directory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { toIndexColumns } from "@aerogram/delivery";
import { indexMessageSync } from "@aerogram/mime";
import { Store } from "@aerogram/store";
import {
  cleanEnv,
  createTestDatabase,
  DOVECOT_IMAP,
  dovecotPreauth,
  type RunningProcess,
  requireServer,
  runTsProcess,
  startTsProcess,
  type TestDatabase,
  TextClient,
  tempDir,
} from "@aerogram/testkit";

const MAIN = "services/aerogram/src/main.ts";
const MAILCTL = "services/admin/src/mailctl.ts";

const HEADER = [
  "From: Script <script@example.net>",
  "To: lf@example.com",
  "Subject: bare LF from a script",
  "Date: Mon, 3 Mar 2025 10:15:00 +0100",
  "Message-ID: <lf-1@example.net>",
  "MIME-Version: 1.0",
  "Content-Type: multipart/mixed; boundary=lfb",
];
const BODY = [
  "--lfb",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  "",
  "Grüße aus Köln",
  "second line",
  "",
  "--lfb",
  "Content-Type: text/plain",
  "",
  "part two",
  "--lfb--",
  "",
];
/** The message as a script writes it: every line ends in a bare LF. */
const LF_MESSAGE = Buffer.from([...HEADER, "", ...BODY].join("\n"));
const CRLF_MESSAGE = Buffer.from([...HEADER, "", ...BODY].join("\r\n"));

const ITEMS =
  "RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[1.MIME] BODY.PEEK[1] BODY.PEEK[]<0.40>";

interface Fetched {
  size: number;
  /** Section (as named in the answer, e.g. "BODY[1.MIME]", "BODY[]<0>") → bytes as latin1. */
  sections: Map<string, string>;
}

/** Reads the "* n FETCH (...)" answers of one FETCH command (items with literals and RFC822.SIZE). */
function parseFetch(text: string): Map<number, Fetched> {
  const out = new Map<number, Fetched>();
  const re = /\* (\d+) FETCH \(/g;
  let m: RegExpExecArray | null = re.exec(text);
  while (m !== null) {
    const seq = Number(m[1]);
    const f: Fetched = { size: -1, sections: new Map() };
    let pos = re.lastIndex;
    for (;;) {
      while (text[pos] === " ") pos++;
      if (text[pos] === ")") break;
      const size = /^RFC822\.SIZE (\d+)/.exec(text.slice(pos, pos + 40));
      if (size) {
        f.size = Number(size[1]);
        pos += size[0].length;
        continue;
      }
      const item = /^(BODY\[[^\]]*\](?:<\d+>)?) \{(\d+)\}\r\n/.exec(text.slice(pos, pos + 200));
      if (item) {
        const start = pos + item[0].length;
        f.sections.set(item[1]!, text.slice(start, start + Number(item[2])));
        pos = start + Number(item[2]);
        continue;
      }
      // an item this test doesn't read (FLAGS, UID): skip one atom or list
      const other = /^\S+ (\([^)]*\)|\S+)/.exec(text.slice(pos));
      assert.ok(other, `unexpected FETCH data at ${JSON.stringify(text.slice(pos, pos + 60))}`);
      pos += other[0].length;
    }
    out.set(seq, f);
    re.lastIndex = pos;
    m = re.exec(text);
  }
  return out;
}

function assertCrlf(what: string, s: string): void {
  assert.equal(/(^|[^\r])\n/.test(s), false, `${what} has a bare LF`);
}

/** Dovecot's answers to APPEND of `message` then FETCH `ITEMS`, or null when its imap binary is missing. */
function dovecotFetch(message: Buffer, work: string): Map<number, Fetched> | null {
  const dovecot = dovecotPreauth(work);
  if (dovecot === null) return null;
  // APPEND in one session, FETCH in a second one (APPEND completes asynchronously)
  dovecot.session(
    Buffer.concat([
      Buffer.from(`a APPEND INBOX {${message.length}+}\r\n`),
      message,
      Buffer.from("\r\nz LOGOUT\r\n"),
    ]),
  );
  const out = dovecot.session(Buffer.from(`s SELECT INBOX\r\nf FETCH 1 (${ITEMS})\r\nz LOGOUT\r\n`));
  const text = out.toString("latin1");
  assert.match(text, /f OK/, `Dovecot answered: ${text}`);
  return parseFetch(text);
}

let db: TestDatabase | undefined;
let dir: { path: string; remove(): Promise<void> };
let server: RunningProcess | undefined;
let ports: { smtp: number; imap: number; pop3: number };
const PASSWORD = "line-endings-pw";

before(async () => {
  dir = await tempDir("aerogram-lf-");
});
after(async () => {
  await server?.stop("SIGTERM");
  await db?.drop();
  await dir.remove();
});

test("bare-LF mail from APPEND and SMTP is served with CRLF and consistent sizes over IMAP and POP3, as Dovecot serves it", {
  timeout: 180_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  db = await createTestDatabase();
  const env = cleanEnv({
    DATABASE_URL: db.url,
    DATA_DIR: dir.path,
    BLOB_DIR: join(dir.path, "blobs"),
    AEROGRAM_SERVICES: "smtp-in,imap,pop3",
    SMTP_PORT: "0",
    IMAP_PORT: "0",
    POP3_PORT: "0",
    HTTP_PORT: "0",
    DEMO_ACCOUNT: "false",
  });
  const add = await runTsProcess(MAILCTL, ["add", "lf@example.com", "--password", PASSWORD], env);
  assert.equal(add.code, 0, add.stderr);
  server = startTsProcess(MAIN, [], env);
  const [, smtp] = await server.waitFor(/smtp \S+:(\d+)/, 60_000);
  const [, imap] = await server.waitFor(/IMAP\s+\S+:(\d+)/);
  const [, pop3] = await server.waitFor(/pop3 \S+:(\d+)/);
  ports = { smtp: Number(smtp), imap: Number(imap), pop3: Number(pop3) };

  // 1. APPEND the bare-LF message
  const c = await TextClient.open(ports.imap);
  await c.expect(/^\* OK.*\r\n/);
  await c.say(`a LOGIN lf@example.com ${PASSWORD}`, /a OK.*\r\n/);
  c.write(`b APPEND INBOX {${LF_MESSAGE.length}+}\r\n`);
  c.write(LF_MESSAGE);
  c.write("\r\n");
  await c.expect(/b OK .*\r\n/);

  // 2. SMTP: CRLF header lines, an 8bit body whose lines end in bare LF
  const s = await TextClient.open(ports.smtp);
  await s.expect(/^220 .*\r\n/);
  await s.say("EHLO script.example.net", /250 .*\r\n/);
  await s.say("MAIL FROM:<script@example.net> BODY=8BITMIME", /250 .*\r\n/);
  await s.say("RCPT TO:<lf@example.com>", /250 .*\r\n/);
  await s.say("DATA", /354 .*\r\n/);
  s.write(
    Buffer.concat([
      Buffer.from(`${HEADER.join("\r\n")}\r\n\r\n`),
      // the CRLF of "<CRLF>.<CRLF>" ends the last line (RFC 5321 §4.1.1.4)
      Buffer.from(BODY.join("\n").replace(/\n$/, "")),
      Buffer.from("\r\n.\r\n"),
    ]),
  );
  await s.expect(/250 .*\r\n/, 60_000);
  await s.quit("QUIT");

  // 3. FETCH both
  await c.say("c SELECT INBOX", /c OK.*\r\n/);
  c.write(`d FETCH 1:2 (${ITEMS})\r\n`);
  const answer = await c.expect(/[\s\S]*d OK [^\r]*\r\n/);
  await c.quit("z LOGOUT");
  const fetched = parseFetch(answer);
  const appended = fetched.get(1);
  const delivered = fetched.get(2);
  assert.ok(appended && delivered, answer);

  for (const [name, f] of [
    ["APPEND", appended],
    ["SMTP", delivered],
  ] as const) {
    const full = f.sections.get("BODY[]")!;
    for (const [section, bytes] of f.sections) assertCrlf(`${name} ${section}`, bytes);
    assert.equal(f.size, Buffer.byteLength(full, "latin1"), `${name}: RFC822.SIZE is the length of BODY[]`);
    assert.equal(
      f.sections.get("BODY[HEADER]")! + f.sections.get("BODY[TEXT]")!,
      full,
      `${name}: HEADER + TEXT`,
    );
    assert.equal(f.sections.get("BODY[]<0>"), full.slice(0, 40), `${name}: partial <0.40>`);
    assert.equal(
      f.sections.get("BODY[1.MIME]"),
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    assert.equal(
      f.sections.get("BODY[1]"),
      Buffer.from("Grüße aus Köln\r\nsecond line\r\n").toString("latin1"),
    );
  }
  assert.equal(
    appended.sections.get("BODY[]"),
    CRLF_MESSAGE.toString("latin1"),
    "APPEND: the CRLF form of the message",
  );
  assert.equal(appended.size, CRLF_MESSAGE.length);
  assert.equal(
    delivered.sections.get("BODY[TEXT]"),
    appended.sections.get("BODY[TEXT]"),
    "SMTP and APPEND: the same body",
  );

  // 4. POP3 serves the same bytes and sizes
  const p = await TextClient.open(ports.pop3);
  await p.expect(/^\+OK.*\r\n/);
  await p.say("USER lf@example.com", /\+OK.*\r\n/);
  await p.say(`PASS ${PASSWORD}`, /\+OK.*\r\n/);
  const list = await p.say("LIST", /\+OK[^\r]*\r\n[\s\S]*?\r\n\.\r\n/);
  const sizes = [...list.matchAll(/^(\d+) (\d+)\r$/gm)].map((x) => [Number(x[1]), Number(x[2])]);
  assert.deepEqual(sizes, [
    [1, appended.size],
    [2, delivered.size],
  ]);
  for (const [n, f] of [
    [1, appended],
    [2, delivered],
  ] as const) {
    p.write(`RETR ${n}\r\n`);
    const retr = await p.expect(/\+OK[^\r]*\r\n[\s\S]*?\r\n\.\r\n/);
    const body = retr
      .slice(retr.indexOf("\r\n") + 2, -3)
      .split("\r\n")
      .map((l) => (l.startsWith(".") ? l.slice(1) : l))
      .join("\r\n");
    assert.equal(body, f.sections.get("BODY[]"), `POP3 RETR ${n} is BODY[]`);
  }
  await p.quit("QUIT");

  // 5. A message stored before delivery normalised line endings (its blob has
  // bare LFs, its index describes those bytes) is still served consistently
  const blobs = createBlobStore({ kind: "fs", dir: join(dir.path, "blobs") });
  const store = await Store.open({ url: db.url, poolMax: 1 });
  try {
    const account = (await store.accounts.byAddress("lf@example.com"))!;
    const inbox = (await store.mailboxes.byName(account.id, "INBOX"))!;
    const put = await blobs.putBuffer(LF_MESSAGE);
    await store.messages.append([
      {
        mailboxId: inbox.id,
        messages: [
          {
            blobKey: put.key,
            size: put.size,
            internalDate: new Date(),
            flags: [],
            index: toIndexColumns(indexMessageSync(LF_MESSAGE)),
          },
        ],
      },
    ]);
  } finally {
    await store.close();
    await blobs.close();
  }
  const old = await TextClient.open(ports.imap);
  await old.expect(/^\* OK.*\r\n/);
  await old.say(`a LOGIN lf@example.com ${PASSWORD}`, /a OK.*\r\n/);
  await old.say("b SELECT INBOX", /b OK.*\r\n/);
  old.write(`c FETCH 3 (${ITEMS})\r\n`);
  const oldAnswer = parseFetch(await old.expect(/[\s\S]*c OK [^\r]*\r\n/)).get(3);
  await old.quit("z LOGOUT");
  assert.ok(oldAnswer);
  assert.equal(
    oldAnswer.sections.get("BODY[]"),
    LF_MESSAGE.toString("latin1"),
    "an old blob: served as stored",
  );
  assert.equal(oldAnswer.size, LF_MESSAGE.length);
  assert.equal(
    oldAnswer.sections.get("BODY[HEADER]")! + oldAnswer.sections.get("BODY[TEXT]")!,
    LF_MESSAGE.toString("latin1"),
  );
  assert.equal(
    oldAnswer.sections.get("BODY[1]"),
    Buffer.from("Grüße aus Köln\nsecond line\n").toString("latin1"),
  );
  const p2 = await TextClient.open(ports.pop3);
  await p2.expect(/^\+OK.*\r\n/);
  await p2.say("USER lf@example.com", /\+OK.*\r\n/);
  await p2.say(`PASS ${PASSWORD}`, /\+OK.*\r\n/);
  const list3 = await p2.say("LIST 3", /\+OK[^\r]*\r\n/);
  assert.equal(list3, `+OK 3 ${CRLF_MESSAGE.length}`, "POP3 sizes an old blob in its CRLF form");
  p2.write("RETR 3\r\n");
  const retr3 = await p2.expect(/\+OK[^\r]*\r\n[\s\S]*?\r\n\.\r\n/);
  assert.equal(
    retr3.slice(retr3.indexOf("\r\n") + 2, -3),
    CRLF_MESSAGE.toString("latin1"),
    "and sends it with CRLF",
  );
  await p2.quit("QUIT");

  // 6. Dovecot, given the same APPEND, answers the same
  const reference = dovecotFetch(LF_MESSAGE, join(dir.path, "dovecot"));
  if (reference === null) {
    assert.ok(process.env.CI !== "true", `${DOVECOT_IMAP} is missing (apt-get install dovecot-imapd)`);
    t.diagnostic(`${DOVECOT_IMAP} missing: not compared with Dovecot`);
    return;
  }
  const theirs = reference.get(1);
  assert.ok(theirs, "Dovecot answered the FETCH");
  assert.equal(appended.size, theirs.size, "RFC822.SIZE as Dovecot's");
  assert.deepEqual([...appended.sections.keys()].sort(), [...theirs.sections.keys()].sort());
  for (const [section, bytes] of theirs.sections) {
    assert.equal(appended.sections.get(section), bytes, `${section} as Dovecot's`);
  }
});
