/**
 * Fuzzing the SMTP command and DATA path over a real socket: a SmtpInService
 * on a real runtime (its own database and s3rver bucket, NATS and Redis under
 * unique prefixes) gets random and grammar-shaped conversations (commands
 * with odd arguments and parameters, pipelining, bare LF, NULs, 8-bit bytes,
 * over-long lines, DATA with random bodies and dot lines). After every case a
 * fresh connection must still be greeted and answered NOOP with 250, and the
 * process must not have thrown: an uncaught exception fails the test run.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import { optionsFromRuntime, SmtpInService } from "@aerogram/smtp-in";
import {
  backendEnv,
  createTestDatabase,
  requireServer,
  startS3,
  type TestDatabase,
  type TestS3,
} from "@aerogram/testkit";
import fc from "fast-check";
import { knob, ReplyReader, report } from "./support.ts";

/** Cases (each one to three conversations at once); a case takes ~0.5 s, so fewer than FUZZ_RUNS. */
const RUNS = knob("SMTP_FUZZ_RUNS", 40, 1500);
let db: TestDatabase | undefined;
let s3: TestS3 | undefined;
let runtime: Runtime | undefined;
let service: SmtpInService | undefined;
let stop: (() => Promise<void>) | undefined;
let port = 0;

after(async () => {
  await stop?.();
  await runtime?.close();
  await s3?.stop();
  await db?.drop();
});

/** Greeting and NOOP on a fresh connection: the server is alive and answering. */
async function probe(): Promise<void> {
  const socket = connect({ host: "127.0.0.1", port });
  const reader = new ReplyReader(socket);
  socket.setTimeout(30_000, () => socket.destroy());
  try {
    const greeting = await reader.next();
    assert.match(greeting ?? "(closed)", /^220 /);
    socket.write("NOOP\r\n");
    assert.match((await reader.next()) ?? "(closed)", /^250/);
    socket.write("QUIT\r\n");
  } finally {
    socket.destroy();
  }
}

/** Sends one conversation and waits until the server has answered it all (or closed). */
async function converse(parts: readonly Buffer[]): Promise<number> {
  const socket = connect({ host: "127.0.0.1", port });
  const reader = new ReplyReader(socket);
  let replies = 0;
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  socket.setTimeout(30_000, () => socket.destroy());
  socket.on("error", () => {});
  // Wait for the greeting: talking first is refused (anti-spam "early talker" rule), which would
  // end every case before its commands reached the parser.
  if ((await reader.next()) === undefined) return 0;
  for (const p of parts) if (!socket.destroyed) socket.write(p);
  // Leave DATA if we are in it, then QUIT: the server closes, which ends the case.
  if (!socket.destroyed) socket.write("\r\n.\r\nQUIT\r\n");
  const counting = (async () => {
    while ((await reader.next()) !== undefined) replies++;
  })();
  await closed;
  await counting;
  return replies;
}

const domain = fc.oneof(
  fc.constantFrom(
    "example.com",
    "remote.test",
    "[127.0.0.1]",
    "[IPv6:::1]",
    "",
    "..",
    "xn--bcher-kva.example",
  ),
  fc.domain(),
  fc.string({ maxLength: 30 }),
);
const mailbox = fc.oneof(
  fc.constantFrom(
    "fuzz@example.com",
    "FUZZ@EXAMPLE.COM",
    "nobody@example.com",
    '"quoted local"@example.com',
    "@a,@b:x@example.com",
  ),
  fc.tuple(fc.string({ maxLength: 20 }), domain).map(([l, d]) => `${l}@${d}`),
  fc.emailAddress(),
);
const param = fc.oneof(
  fc.constantFrom(
    "SIZE=100",
    "SIZE=99999999999999999999",
    "SIZE=-1",
    "BODY=8BITMIME",
    "BODY=BINARYMIME",
    "SMTPUTF8",
    "AUTH=<>",
    "RET=FULL",
    "ENVID=x",
    "NOTIFY=NEVER",
    "X=Y",
  ),
  fc.string({ maxLength: 20 }),
);
const commandLine = fc.oneof(
  fc.tuple(fc.constantFrom("EHLO", "HELO", "ehlo", "LHLO"), domain).map(([c, d]) => `${c} ${d}`),
  fc
    .tuple(
      fc.constantFrom("MAIL FROM:", "mail from:", "MAIL FROM: ", "MAIL FROM"),
      fc.oneof(mailbox, fc.constant("")),
      fc.array(param, { maxLength: 3 }),
      fc.boolean(),
    )
    .map(([c, m, ps, angle]) => `${c}${angle ? `<${m}>` : m}${ps.length ? ` ${ps.join(" ")}` : ""}`),
  fc
    .tuple(fc.constantFrom("RCPT TO:", "rcpt to:", "RCPT TO: "), mailbox, fc.array(param, { maxLength: 2 }))
    .map(([c, m, ps]) => `${c}<${m}>${ps.length ? ` ${ps.join(" ")}` : ""}`),
  fc.constantFrom(
    "DATA",
    "BDAT 10 LAST",
    "RSET",
    "NOOP",
    "NOOP x",
    "VRFY fuzz",
    "EXPN list",
    "HELP",
    "STARTTLS",
    "AUTH PLAIN",
    "AUTH LOGIN",
    "TURN",
    "ETRN x",
    "QUIT",
    "",
    " ",
    "\0",
    "DATA DATA",
  ),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.integer({ min: 500, max: 5000 }).map((n) => `NOOP ${"x".repeat(n)}`),
);
const dataBody = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ".",
        "..",
        ".x",
        "From: a@b",
        "Subject: fuzz",
        "",
        "\0",
        "Content-Type: multipart/mixed; boundary=b",
        "--b",
        "--b--",
      ),
      fc.string({ maxLength: 100 }),
      fc.string({ unit: "binary", maxLength: 100 }),
      fc.integer({ min: 900, max: 3000 }).map((n) => "y".repeat(n)),
    ),
    { maxLength: 30 },
  )
  .map((lines) => `${lines.join("\r\n")}\r\n.\r\n`);
const conversation = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: commandLine.map((l) => Buffer.from(`${l}\r\n`, "utf8")) },
    { weight: 1, arbitrary: commandLine.map((l) => Buffer.from(`${l}\n`, "utf8")) },
    { weight: 2, arbitrary: dataBody.map((b) => Buffer.from(`DATA\r\n${b}`, "utf8")) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(mailbox, dataBody)
        .map(([from, b]) =>
          Buffer.from(`MAIL FROM:<${from}>\r\nRCPT TO:<fuzz@example.com>\r\nDATA\r\n${b}`, "utf8"),
        ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 500 }).map((u) => Buffer.from(u)) },
  ),
  { maxLength: 12 },
);

test("random SMTP conversations never crash SMTP-in; it keeps answering NOOP", {
  timeout: 15 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  db = await createTestDatabase();
  s3 = await startS3();
  runtime = await createRuntime(
    loadConfig(
      backendEnv({
        databaseUrl: db.url,
        s3,
        nats: true,
        redis: true,
        settings: { DATABASE_POOL_MAX: "4", MAIL_HOSTNAME: "mx.fuzz.test", SMTP_PORT: "0" },
      }),
    ),
    { service: "smtp-fuzz" },
  );
  await runtime.store.accounts.create({ address: "fuzz@example.com", password: "pw" });
  service = new SmtpInService(
    runtime,
    optionsFromRuntime(runtime, {
      authTimeBoxMs: 500,
      // No DNS from a fuzzer: every lookup fails at once (SPF/DKIM/DMARC give none/temperror).
      resolver: async () => {
        throw Object.assign(new Error("no DNS in the fuzzer"), { code: "ENOTFOUND" });
      },
      rateLimits: {
        connectionsPerIp: 1000,
        messagesPerMinutePerIp: 100_000,
        messagesPerMinutePerRecipient: 100_000,
      },
    }),
  );
  const handle = await service.start();
  stop = () => handle.drain(0);
  port = service.ports()[0]!;
  await probe();

  let cases = 0;
  let replies = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  await fc.assert(
    fc.asyncProperty(fc.array(conversation, { minLength: 1, maxLength: 3 }), async (conversations) => {
      cases += conversations.length;
      for (const n of await Promise.all(conversations.map(converse))) replies += n;
      await probe();
    }),
    { numRuns: RUNS, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
  );
  const { rows } = await runtime.store.pool.query<{ n: string }>("SELECT count(*) AS n FROM messages");
  report("fuzz-smtp", {
    cases,
    replies,
    delivered: Number(rows[0]!.n),
    heapGrowthMB: Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e6),
  });
});
