/**
 * Issue 15's newcomer run as a test: `npm start` on the embedded default (the
 * real main as a child process, PGlite in DATA_DIR) under concurrent load, all
 * through real sockets. 8 SMTP senders deliver 10 messages each to the demo
 * account while two IMAP sessions poll it, a POP3 client logs in again and
 * again, and fetchmail (keep, keep, nokeep, nokeep) and `curl pop3://` (LIST,
 * RETR) work on a second account. Every SMTP answer must be 250, every POP3
 * login +OK, and afterwards IMAP and POP3 must each show every message exactly
 * once. Before the session server, this setup refused mail with 550 5.7.1 and
 * failed POP3 logins with 42P05 (prepared statement already exists).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { cleanEnv, runTsProcess, startTsProcess, tempDir } from "@aerogram/testkit";
import { ImapSession, Pop3Session, sendMessages } from "./mail-load.ts";

const MAIN = "services/aerogram/src/main.ts";
const MAILCTL = "services/admin/src/mailctl.ts";
const DEMO = "demo@example.com";
const FETCHER = "fetcher@example.org";
const FETCHER_PASSWORD = "fetch-me-1";
const SENDERS = 8;
const PER_SENDER = 10;
const SEEDED = 5;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 120_000, maxBuffer: 16 << 20 }, (e, so, se) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 99) : 0, out: `${so}\n${se}` }),
    );
  });
}

const subjectsOf = (texts: string[]) =>
  texts.map((t) => /^Subject: (.*)$/m.exec(t.replace(/\r\n/g, "\n"))?.[1] ?? "?").sort();

test("npm start on the embedded database under concurrent SMTP, IMAP, POP3, fetchmail and curl", {
  timeout: 600_000,
}, async (t) => {
  const dir = await tempDir("aerogram-concurrent-");
  t.after(() => dir.remove());
  const env = cleanEnv({
    DATA_DIR: join(dir.path, "data"),
    SMTP_PORT: "0",
    POP3_PORT: "0",
    IMAP_PORT: "0",
    HTTP_PORT: "0",
    EMBEDDED_PG_PORT: "0",
  });
  const server = startTsProcess(MAIN, [], env);
  t.after(() => server.stop("SIGKILL"));
  const [, password] = await server.waitFor(/Demo account: demo@example\.com {2}password: (\S+)/, 180_000);
  const port = (re: RegExp) => Number(server.stdout().match(re)?.[1]);
  const smtpPort = port(/^ {2}smtp +127\.0\.0\.1:(\d+)/m);
  const imapPort = port(/^ {2}imap +127\.0\.0\.1:(\d+)/im);
  const pop3Port = port(/^ {2}pop3 +127\.0\.0\.1:(\d+)/m);
  assert.ok(smtpPort > 0 && imapPort > 0 && pop3Port > 0, server.stdout());

  // mailctl against the running server (it connects to its embedded database).
  const add = await runTsProcess(MAILCTL, ["add", FETCHER, "--password", FETCHER_PASSWORD], env);
  assert.equal(add.code, 0, add.stderr);
  const seeded = await sendMessages(smtpPort, FETCHER, "seed", SEEDED);
  assert.deepEqual(
    seeded.answers.map((a) => a.slice(0, 3)),
    Array(SEEDED).fill("250"),
    seeded.answers.join("\n"),
  );

  let loading = true;
  const loadErrors: string[] = [];

  // Two IMAP sessions polling the demo INBOX while mail arrives.
  const imapPoller = async (n: number) => {
    const s = await ImapSession.open(imapPort);
    try {
      const login = await s.cmd(`LOGIN ${DEMO} ${password}`);
      if (login.status !== "OK") loadErrors.push(`imap ${n} LOGIN: ${login.text}`);
      const select = await s.cmd("SELECT INBOX");
      if (select.status !== "OK") loadErrors.push(`imap ${n} SELECT: ${select.text}`);
      while (loading) {
        for (const c of ["NOOP", "UID SEARCH ALL", "STATUS INBOX (MESSAGES UIDNEXT)"]) {
          const r = await s.cmd(c);
          if (r.status !== "OK") loadErrors.push(`imap ${n} ${c}: ${r.text}`);
        }
      }
      await s.cmd("LOGOUT");
    } finally {
      s.close();
    }
  };

  // One POP3 client logging in to the demo maildrop over and over.
  let pop3Logins = 0;
  const pop3Loop = async () => {
    while (loading) {
      const s = await Pop3Session.open(pop3Port);
      try {
        const user = await s.cmd(`USER ${DEMO}`);
        const pass = await s.cmd(`PASS ${password}`);
        if (!user.startsWith("+OK") || !pass.startsWith("+OK"))
          loadErrors.push(`pop3 login: ${user} ${pass}`);
        else pop3Logins++;
        const stat = await s.cmd("STAT");
        if (!stat.startsWith("+OK")) loadErrors.push(`pop3 STAT: ${stat}`);
        const quit = await s.cmd("QUIT");
        if (!quit.startsWith("+OK")) loadErrors.push(`pop3 QUIT: ${quit}`);
      } finally {
        s.close();
      }
    }
  };

  // fetchmail keep, keep, nokeep, nokeep and curl LIST/RETR on the second account.
  const fetchEnv = { ...process.env, HOME: dir.path };
  const fetchmail = async (name: string, keep: boolean) => {
    const out = join(dir.path, `mail-${name}`);
    await mkdir(out, { recursive: true });
    const rc = join(dir.path, `fetchmailrc-${name}`);
    await writeFile(
      rc,
      [
        "set no syslog",
        "set no bouncemail",
        "set invisible",
        `poll 127.0.0.1 service ${pop3Port} protocol pop3 uidl auth password`,
        `  user "${FETCHER}" there with password "${FETCHER_PASSWORD}" is "local" here`,
        `  ${keep ? "keep" : "nokeep"} fetchall no rewrite sslproto ''`,
        `  mda "/bin/sh -c 'cat > ${out}/$$'"`,
        "",
      ].join("\n"),
    );
    await chmod(rc, 0o600);
    const r = await run(
      "fetchmail",
      ["-f", rc, "--idfile", join(dir.path, `ids-${name}`), "--pidfile", join(dir.path, `pid-${name}`), "-v"],
      fetchEnv,
    );
    const files = await readdir(out);
    return { ...r, mails: await Promise.all(files.map((f) => readFile(join(out, f), "latin1"))) };
  };
  const curl = (path: string) =>
    run(
      "curl",
      [
        "-sS",
        "--max-time",
        "60",
        "-u",
        `${FETCHER}:${FETCHER_PASSWORD}`,
        `pop3://127.0.0.1:${pop3Port}/${path}`,
      ],
      process.env,
    );

  const fetching = (async () => {
    const seededSubjects = Array.from({ length: SEEDED }, (_, i) => `seed-${i}`).sort();
    const keep1 = await fetchmail("keep1", true);
    assert.equal(keep1.code, 0, keep1.out);
    assert.deepEqual(subjectsOf(keep1.mails), seededSubjects, keep1.out);
    const list = await curl("");
    assert.equal(list.code, 0, list.out);
    assert.equal(list.out.trim().split(/\r?\n/).length, SEEDED, list.out);
    const retr = await curl("3");
    assert.equal(retr.code, 0, retr.out);
    assert.match(retr.out, /^Subject: seed-\d$/m);
    const keep2 = await fetchmail("keep2", true);
    assert.equal(keep2.code, 0, keep2.out);
    assert.deepEqual(subjectsOf(keep2.mails), seededSubjects, keep2.out);
    const nokeep1 = await fetchmail("nokeep1", false);
    assert.equal(nokeep1.code, 0, nokeep1.out);
    assert.deepEqual(subjectsOf(nokeep1.mails), seededSubjects, nokeep1.out);
    const nokeep2 = await fetchmail("nokeep2", false);
    assert.equal(nokeep2.code, 1, `fetchmail says "no mail" (1) after nokeep: ${nokeep2.out}`);
    assert.equal(nokeep2.mails.length, 0);
    const empty = await curl("");
    assert.equal(empty.code, 0, empty.out);
    assert.equal(empty.out.trim(), "");
  })();

  const pollers = [imapPoller(1), imapPoller(2), pop3Loop()];
  const senders = await Promise.all(
    Array.from({ length: SENDERS }, (_, s) => sendMessages(smtpPort, DEMO, `load${s}`, PER_SENDER)),
  );
  await fetching.finally(() => {
    loading = false;
  });
  loading = false;
  await Promise.all(pollers);

  const answers = senders.flatMap((s) => s.answers);
  assert.equal(answers.length, SENDERS * PER_SENDER);
  const refused = answers.filter((a) => !a.startsWith("250"));
  assert.deepEqual(refused, [], `every SMTP answer is 250; got ${refused.length} others`);
  assert.deepEqual(loadErrors, []);
  assert.ok(pop3Logins > 0, "the POP3 client logged in during the load");

  // Exactly once: IMAP lists every subject once, POP3 counts the same messages.
  const expected = Array.from({ length: SENDERS }, (_, s) =>
    Array.from({ length: PER_SENDER }, (_, i) => `load${s}-${i}`),
  )
    .flat()
    .sort();
  const imap = await ImapSession.open(imapPort);
  try {
    assert.equal((await imap.cmd(`LOGIN ${DEMO} ${password}`)).status, "OK");
    assert.equal((await imap.cmd("SELECT INBOX")).status, "OK");
    const fetched = await imap.cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert.equal(fetched.status, "OK");
    const subjects = [...fetched.text.matchAll(/^Subject: (\S+)\r$/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(subjects, expected);
    await imap.cmd("LOGOUT");
  } finally {
    imap.close();
  }
  const pop = await Pop3Session.open(pop3Port);
  try {
    assert.match(await pop.cmd(`USER ${DEMO}`), /^\+OK/);
    assert.match(await pop.cmd(`PASS ${password}`), /^\+OK/);
    assert.match(await pop.cmd("STAT"), new RegExp(`^\\+OK ${expected.length} \\d+\\r\\n$`));
    const uidl = await pop.cmd("UIDL", true);
    const uids = uidl
      .split("\r\n")
      .slice(1, -2)
      .map((l) => l.split(" ")[1]);
    assert.equal(new Set(uids).size, expected.length, "distinct UIDLs");
    await pop.cmd("QUIT");
  } finally {
    pop.close();
  }
  // The session server's watchdog never had to fail a waiter (no 40P01 behind the services' backs).
  assert.doesNotMatch(server.stdout() + server.stderr(), /"component":"embedded-pg"/);
  assert.equal(await server.stop("SIGTERM"), 0, "clean exit on SIGTERM");
});
