/**
 * Every SMTP limit set through its environment variable (libs/config, the
 * same path as a deployment: loadConfig → optionsFromRuntime), low enough to
 * trip over a real socket: the documented reply and the
 * aerogram_smtp_limit_refusals_total{limit} count for each. Three services on
 * one database, each with the variables of one group, because the limits
 * interfere (the per-recipient rate would cut a 100-recipient message short,
 * the shorter of the idle timeout and the command deadline trips first).
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { loadConfig } from "@aerogram/config";
import type { Runtime } from "@aerogram/runtime";
import { createTestDatabase, requireServer, startS3 } from "@aerogram/testkit";
import { DEFAULT_OPTIONS, optionsFromLimits } from "../src/options.ts";
import { messageCount, openSession, runtimeFor, SmtpTalk, startService } from "./support.ts";

/** The value of aerogram_smtp_limit_refusals_total for one limit (0 when never counted). */
async function refusals(runtime: Runtime, limit: string): Promise<number> {
  const text = await runtime.metrics.metrics();
  const m = new RegExp(`^aerogram_smtp_limit_refusals_total\\{limit="${limit}"[^}]*\\} (\\d+)$`, "m").exec(
    text,
  );
  return m ? Number(m[1]) : 0;
}

async function setUp(t: TestContext) {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return undefined;
  const db = await createTestDatabase();
  const s3 = await startS3();
  const services: { runtime: Runtime; stop(): Promise<void> }[] = [];
  t.after(async () => {
    for (const s of services) {
      await s.stop();
      await s.runtime.close();
    }
    await s3.stop();
    await db.drop();
  });
  /** A service configured by `env` alone (SMTP_PORT=0 and the test servers come from runtimeFor). */
  return async (name: string, env: Record<string, string>) => {
    const runtime = await runtimeFor(db, s3, `smtp-limits-${name}`, env);
    const { port, stop } = await startService(runtime);
    services.push({ runtime, stop });
    return { runtime, port };
  };
}

test("the service's built-in defaults are the configuration's defaults", () => {
  const fromConfig = optionsFromLimits(loadConfig({}).protocolLimits.smtp);
  for (const [key, value] of Object.entries(fromConfig))
    assert.deepEqual(DEFAULT_OPTIONS[key as keyof typeof DEFAULT_OPTIONS], value, key);
});

test("SMTP limits from the environment: each trips with its documented reply and metric", async (t) => {
  const serviceWith = await setUp(t);
  if (!serviceWith) return;

  await t.test(
    "SMTP_MAX_CONNECTIONS_PER_IP, SMTP_MESSAGES_PER_MINUTE_PER_IP/_RECIPIENT: 421 4.7.0, 451 4.7.1",
    async () => {
      const { runtime, port } = await serviceWith("rates", {
        SMTP_MAX_CONNECTIONS_PER_IP: "2",
        SMTP_MESSAGES_PER_MINUTE_PER_IP: "4",
        SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT: "2",
      });
      await runtime.store.accounts.create({ address: "rate1@example.com", password: "pw" });
      await runtime.store.accounts.create({ address: "rate2@example.com", password: "pw" });
      const one = await openSession(port);
      const two = await openSession(port);
      const third = await SmtpTalk.open(port);
      assert.match(
        await third.reply(),
        /^421 4\.7\.0 Too many connections from your address/,
        "the third connection from one IP",
      );
      assert.ok(await third.waitClosed());
      assert.equal(await refusals(runtime, "connections_per_ip"), 1);
      two.close();

      // Per recipient: the third message within the minute to rate1 is deferred; rate2 still takes mail.
      for (let i = 0; i < 3; i++) {
        assert.match(await one.cmd("MAIL FROM:<s@remote.test>"), /^250/);
        const r = await one.cmd("RCPT TO:<rate1@example.com>");
        if (i < 2) assert.match(r, /^250/);
        else assert.match(r, /^451 4\.7\.1 Recipient is receiving too much mail/);
        // Another recipient in the same transaction still gets through.
        if (i === 2) assert.match(await one.cmd("RCPT TO:<rate2@example.com>"), /^250/);
        assert.match(await one.cmd("RSET"), /^250/);
      }
      assert.equal(await refusals(runtime, "messages_per_recipient"), 1);
      // Per IP: four MAIL FROMs in the minute, the fifth is deferred.
      assert.match(await one.cmd("MAIL FROM:<s@remote.test>"), /^250/);
      assert.match(await one.cmd("RSET"), /^250/);
      assert.match(
        await one.cmd("MAIL FROM:<s@remote.test>"),
        /^451 4\.7\.1 Too many messages from your address/,
      );
      assert.equal(await refusals(runtime, "messages_per_ip"), 1);
      one.close();
    },
  );

  await t.test(
    "SMTP_MAX_RECIPIENTS, SMTP_MAX_MESSAGE_BYTES, SMTP_MAX_LINE_OCTETS, SMTP_COMMAND/DATA_DEADLINE_MS; 0 turns the rates off",
    async () => {
      const { runtime, port } = await serviceWith("sizes", {
        SMTP_MAX_CONNECTIONS_PER_IP: "0",
        SMTP_MESSAGES_PER_MINUTE_PER_IP: "0",
        SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT: "0",
        SMTP_MAX_RECIPIENTS: "100",
        SMTP_MAX_MESSAGE_BYTES: "4096",
        SMTP_MAX_LINE_OCTETS: "2000",
        SMTP_COMMAND_DEADLINE_MS: "1500",
        SMTP_DATA_DEADLINE_MS: "1500",
        SMTP_DATA_MIN_BYTES_PER_SECOND: "1000000",
      });
      const account = await runtime.store.accounts.create({ address: "many@example.com", password: "pw" });
      const inbox = (await runtime.store.mailboxes.byName(account.id, "INBOX"))!.id;
      for (let k = 0; k < 101; k++) await runtime.store.accounts.addAlias(account.id, `many${k}@example.com`);

      // Rates off: more connections than the default test limits, and 101 RCPTs to one account.
      const sessions = await Promise.all(Array.from({ length: 4 }, () => openSession(port)));
      for (const s of sessions.slice(1)) s.close();
      const s = sessions[0]!;

      assert.match(await s.cmd("MAIL FROM:<big@remote.test> SIZE=5000"), /^552 5\.3\.4 /, "declared SIZE");
      assert.equal(await refusals(runtime, "message_size"), 1);

      assert.match(await s.cmd("MAIL FROM:<s@remote.test>"), /^250/);
      for (let k = 0; k < 100; k++) assert.match(await s.cmd(`RCPT TO:<many${k}@example.com>`), /^250/);
      assert.match(await s.cmd("RCPT TO:<many100@example.com>"), /^452 4\.5\.3 /, "the 101st recipient");
      assert.equal(await refusals(runtime, "recipients"), 1);
      assert.match(await s.cmd("DATA"), /^354/);
      // A 1500-octet line is within SMTP_MAX_LINE_OCTETS=2000 (the RFC's 1000 would refuse it).
      s.write(`Subject: long line\r\n\r\n${"a".repeat(1500)}\r\n.\r\n`);
      assert.match(await s.reply(), /^250 /);
      assert.equal(await messageCount(runtime, inbox), 1, "one copy for the account and its aliases");

      const dataMessage = async (body: string) => {
        assert.match(await s.cmd("MAIL FROM:<s@remote.test>"), /^250/);
        assert.match(await s.cmd("RCPT TO:<many@example.com>"), /^250/);
        assert.match(await s.cmd("DATA"), /^354/);
        s.write(`Subject: limits\r\n\r\n${body}\r\n.\r\n`);
        return s.reply();
      };
      assert.match(await dataMessage("b".repeat(2500)), /^500 5\.5\.2 Line too long \(over 2000 octets\)/);
      assert.equal(await refusals(runtime, "line_length"), 1);
      assert.match(await dataMessage(`${"c".repeat(100)}\r\n`.repeat(60)), /^552 5\.3\.4 /, "6 KB of DATA");
      assert.equal(await refusals(runtime, "message_size"), 2);
      assert.equal(await messageCount(runtime, inbox), 1, "nothing over a limit was delivered");

      assert.match(await s.cmd("QUIT"), /^221 /);

      // The command deadline: a client that says nothing for SMTP_COMMAND_DEADLINE_MS.
      const quiet = await openSession(port);
      assert.match(await quiet.reply(5000), /^421 4\.4\.2 .*timeout exceeded/);
      assert.ok(await quiet.waitClosed());
      assert.equal(await refusals(runtime, "command_deadline"), 1);

      // The DATA deadline: no whole message within SMTP_DATA_DEADLINE_MS of the 354.
      const slow = await openSession(port);
      assert.match(await slow.cmd("MAIL FROM:<s@remote.test>"), /^250/);
      assert.match(await slow.cmd("RCPT TO:<many@example.com>"), /^250/);
      assert.match(await slow.cmd("DATA"), /^354/);
      slow.write("Subject: never finished\r\n");
      assert.match(await slow.reply(5000), /^421 4\.4\.2 .*timeout exceeded/);
      assert.ok(await slow.waitClosed());
      assert.equal(await refusals(runtime, "data_deadline"), 1);
      assert.equal(await messageCount(runtime, inbox), 1);
    },
  );

  await t.test("SMTP_IDLE_TIMEOUT_MS: 421 4.4.2 after that long without a byte", async () => {
    const { runtime, port } = await serviceWith("idle", {
      SMTP_IDLE_TIMEOUT_MS: "800",
      SMTP_COMMAND_DEADLINE_MS: "60000",
    });
    const s = await openSession(port);
    const started = Date.now();
    assert.match(await s.reply(5000), /^421 4\.4\.2 Timeout - closing connection/);
    assert.ok(Date.now() - started >= 700, "not before the idle timeout");
    assert.ok(await s.waitClosed());
    assert.equal(await refusals(runtime, "idle_timeout"), 1);
    assert.equal(await refusals(runtime, "command_deadline"), 0);
  });

  await t.test(
    "SMTP_GREETING_DELAY_MS: the 220 waits; a client talking first gets 421 You talk too soon",
    async () => {
      const { port } = await serviceWith("greeting", { SMTP_GREETING_DELAY_MS: "1500" });
      const patient = await SmtpTalk.open(port);
      const started = Date.now();
      assert.match(await patient.reply(10_000), /^220 /);
      assert.ok(Date.now() - started >= 1400, "not before the greeting delay");
      patient.close();
      const early = await SmtpTalk.open(port);
      early.write("EHLO early.test\r\n");
      assert.match(await early.reply(10_000), /^421 .*You talk too soon/);
      assert.ok(await early.waitClosed());
    },
  );

  await t.test(
    "SMTP_RECIPIENT_CACHE_MS: RCPT reuses a found account for that long; 0 looks it up every time",
    async () => {
      const cached = await serviceWith("rcpt-cache", { SMTP_RECIPIENT_CACHE_MS: "600000" });
      const uncached = await serviceWith("rcpt-no-cache", { SMTP_RECIPIENT_CACHE_MS: "0" });
      const acct = await cached.runtime.store.accounts.create({
        address: "cached@example.com",
        password: "pw",
      });
      const rcpt = async (port: number) => {
        const s = await openSession(port);
        assert.match(await s.cmd("MAIL FROM:<c@remote.test>"), /^250/);
        const reply = await s.cmd("RCPT TO:<cached@example.com>");
        s.close();
        return reply;
      };
      assert.match(await rcpt(cached.port), /^250/);
      assert.match(await rcpt(uncached.port), /^250/);
      await cached.runtime.store.accounts.setDisabled(acct.id, true);
      assert.match(await rcpt(cached.port), /^250/, "within the period: the cached answer");
      assert.match(await rcpt(uncached.port), /^550 5\.2\.1/, "without the cache: disabled at once");
    },
  );
});
