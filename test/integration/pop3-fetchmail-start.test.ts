/**
 * The first-run promise of POP3: fetchmail pulls mail delivered through SMTP-in from
 * `npm start`. The real main (embedded PGlite, filesystem blobs, in-process
 * limiter) runs as a child process on ports it picks itself and prints in its
 * banner; nodemailer delivers three messages to the demo account (one with
 * lines starting with "."), and Debian's fetchmail downloads them over POP3
 * without keep, handing each to an MDA that writes a file.
 *
 * Byte identity: each file is exactly what RETR served (fetchmail gives the
 * MDA LF line ends, so compared in that form), and that is the message as
 * sent, byte for byte, behind SMTP-in's trace headers. Then the maildrop is
 * empty.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { cleanEnv, startTsProcess, tempDir } from "@aerogram/testkit";
import nodemailer from "nodemailer";

const MAIN = "services/aerogram/src/main.ts";
const DEMO = "demo@example.com";

const SENT = [
  ["From: Friend <friend@example.net>", "To: demo@example.com", "Subject: one", "", "first message", ""],
  [
    "From: Friend <friend@example.net>",
    "To: demo@example.com",
    "Subject: dots",
    "Message-ID: <dots@example.net>",
    "",
    ".a line starting with a dot",
    "..two dots",
    ".",
    ". space after the dot",
    "end",
    "",
  ],
  [
    "From: Friend <friend@example.net>",
    "To: demo@example.com",
    "Subject: three",
    "",
    ...Array.from({ length: 200 }, (_, i) => `line ${i} ${"y".repeat(60)}`),
    "",
  ],
].map((lines) => lines.join("\r\n"));

/** A line-at-a-time POP3 conversation over a raw socket. */
class Pop3 {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.waiter?.();
    });
  }
  static async open(port: number): Promise<Pop3> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
      s.once("error", reject);
    });
    const c = new Pop3(socket);
    assert.match(await c.read(false), /^\+OK/);
    return c;
  }
  /** The next response: up to CRLF, or for a multi-line +OK up to CRLF.CRLF. */
  async read(multi: boolean): Promise<string> {
    for (;;) {
      const first = this.buffer.indexOf("\r\n");
      if (first !== -1) {
        const last = multi && this.buffer[0] === 0x2b ? this.buffer.indexOf("\r\n.\r\n", first) : first - 3;
        const end = last === -1 ? -1 : last + 5;
        if (end !== -1) {
          const out = this.buffer.subarray(0, end).toString("latin1");
          this.buffer = this.buffer.subarray(end);
          return out;
        }
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
  cmd(line: string, multi = false): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.read(multi);
  }
  close(): void {
    this.socket.destroy();
  }
}

async function login(port: number, password: string): Promise<Pop3> {
  const c = await Pop3.open(port);
  assert.match(await c.cmd(`USER ${DEMO}`), /^\+OK/);
  assert.match(await c.cmd(`PASS ${password}`), /^\+OK/);
  return c;
}

/** RETR's body un-stuffed, in the LF form fetchmail hands to an MDA. */
function asMdaGetsIt(retr: string): string {
  const body = retr.slice(retr.indexOf("\r\n") + 2, -3);
  return body.replace(/^\./gm, "").replace(/\r\n/g, "\n");
}

test("fetchmail pulls mail delivered through SMTP-in from npm start", { timeout: 240_000 }, async (t) => {
  const dir = await tempDir("aerogram-pop3-start-");
  t.after(() => dir.remove());
  const server = startTsProcess(
    MAIN,
    [],
    cleanEnv({
      DATA_DIR: join(dir.path, "data"),
      SMTP_PORT: "0",
      POP3_PORT: "0",
      IMAP_PORT: "0",
      HTTP_PORT: "0",
      EMBEDDED_PG_PORT: "0",
    }),
  );
  t.after(() => server.stop("SIGKILL"));
  // Starting PGlite and compiling main takes a while on a loaded machine.
  const [, password] = await server.waitFor(/Demo account: demo@example\.com {2}password: (\S+)/, 150_000);
  const port = (re: RegExp) => Number(server.stdout().match(re)?.[1]);
  const smtpPort = port(/^ {2}smtp 127\.0\.0\.1:(\d+)/m);
  const pop3Port = port(/^ {2}pop3 127\.0\.0\.1:(\d+)/m);
  assert.ok(smtpPort > 0 && pop3Port > 0, server.stdout());

  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  try {
    for (const raw of SENT) {
      const info = await transport.sendMail({
        envelope: { from: "friend@example.net", to: [DEMO] },
        raw: Buffer.from(raw),
      });
      assert.match(info.response, /^250 /);
    }
  } finally {
    transport.close();
  }

  // What the gateway serves: the three messages, each the sent bytes behind SMTP-in's trace headers.
  const served: string[] = [];
  const peek = await login(pop3Port, password!);
  try {
    assert.match(await peek.cmd("STAT"), /^\+OK 3 \d+\r\n$/);
    for (let n = 1; n <= SENT.length; n++) served.push(asMdaGetsIt(await peek.cmd(`RETR ${n}`, true)));
    assert.match(await peek.cmd("QUIT"), /^\+OK/);
  } finally {
    peek.close();
  }
  const sentLf = SENT.map((m) => m.replace(/\r\n/g, "\n"));
  for (const [i, m] of served.entries()) {
    assert.ok(m.endsWith(`\n${sentLf[i]}`), `message ${i + 1} is the sent one behind trace headers:\n${m}`);
    assert.match(m, /^Received: from /);
  }

  // fetchmail without keep, each message to a file through the MDA.
  const out = join(dir.path, "mail");
  const rc = join(dir.path, "fetchmailrc");
  await writeFile(
    rc,
    [
      "set no syslog",
      "set no bouncemail",
      "set invisible",
      `poll 127.0.0.1 service ${pop3Port} protocol pop3 uidl auth password`,
      `  user "${DEMO}" there with password "${password}" is "local" here`,
      "  nokeep fetchall no rewrite sslproto ''",
      `  mda "/bin/sh -c 'mkdir -p ${out} && cat > ${out}/$$'"`,
      "",
    ].join("\n"),
  );
  await chmod(rc, 0o600);
  const args = ["-f", rc, "--idfile", join(dir.path, "fetchids"), "--pidfile", join(dir.path, "pid"), "-v"];
  const run = await new Promise<{ code: number; log: string }>((resolve) => {
    execFile("fetchmail", args, { env: { ...process.env, HOME: dir.path }, timeout: 60_000 }, (e, so, se) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 99) : 0, log: `${so}\n${se}` }),
    );
  });
  assert.equal(run.code, 0, run.log);
  const files = await readdir(out);
  const fetched = await Promise.all(files.map((f) => readFile(join(out, f), "latin1")));
  assert.deepEqual(fetched.sort(), [...served].sort(), run.log);

  // Without keep, QUIT applied the deletions: the maildrop is empty.
  const after = await login(pop3Port, password!);
  try {
    assert.equal(await after.cmd("STAT"), "+OK 0 0\r\n");
    assert.match(await after.cmd("QUIT"), /^\+OK/);
  } finally {
    after.close();
  }
  assert.equal(await server.stop("SIGTERM"), 0, "clean exit on SIGTERM");
});
