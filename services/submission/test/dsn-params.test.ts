/**
 * RFC 3461 end to end (issue 19): a nodemailer client submits with DSN
 * parameters (RET, ENVID, NOTIFY, ORCPT) over the submission port; they are
 * kept on the queue row, and the worker, delivering to a local SMTP server
 * without DSN, honours them: NOTIFY=SUCCESS gives a "relayed" notice with
 * the ENVID and ORCPT, NOTIFY=NEVER on a refused recipient gives no bounce.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseRoutes } from "@aerogram/outbound";
import { requireServer, type SmtpSink, startSmtpSink } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import { type Harness, inbox, startHarness } from "./support.ts";

const PASSWORD = "dsn password 1";

describe("DSN parameters through submission", () => {
  let h: Harness;
  let sink: SmtpSink;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres")) || !(await requireServer(t as never, "redis"))) return;
    h = await startHarness();
    sink = await startSmtpSink({ noDsn: true, reject: ["refused@far.test"] });
    await h.runtime.store.accounts.create({ address: "dora@local.test", password: PASSWORD });
  });
  after(async () => {
    await sink?.close();
    await h?.close();
  });

  /** nodemailer's `dsn` message option (RET, ENVID, NOTIFY, ORCPT); its typings lack it. */
  const send = (mail: nodemailer.SendMailOptions & { dsn: Record<string, unknown> }) => {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: h.port,
      secure: false,
      tls: { rejectUnauthorized: false },
      auth: { user: "dora@local.test", pass: PASSWORD },
    });
    return transport.sendMail(mail as nodemailer.SendMailOptions).finally(() => transport.close());
  };

  test("NOTIFY=SUCCESS,FAILURE with ORCPT and ENVID: queued with them; a relayed notice comes back", async () => {
    const before = (await inbox(h.runtime, "dora@local.test")).length;
    const info = await send({
      from: "dora@local.test",
      to: "friend@far.test",
      subject: "tell me when it leaves",
      text: "hello",
      dsn: { id: "dora-42", return: "headers", notify: ["success", "failure"], recipient: "friend@far.test" },
    });
    assert.match(info.response, /^250 2\.0\.0/);
    const [row] = await h.runtime.store.outbound.list({ domain: "far.test" });
    assert.ok(row);
    assert.equal(row.dsnRet, "HDRS");
    assert.equal(row.dsnEnvid, "dora-42");
    assert.deepEqual(row.recipientDsn, {
      "friend@far.test": { notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;friend@far.test" },
    });
    await h.worker({ routes: parseRoutes(`far.test=127.0.0.1:${sink.port}`), delayNoticeMs: 0 }).drainDue();
    assert.deepEqual(sink.messages.at(-1)!.to, ["friend@far.test"]);
    const box = await inbox(h.runtime, "dora@local.test");
    assert.equal(box.length, before + 1);
    const notice = box.at(-1)!;
    assert.match(notice, /Subject: Successful Mail Delivery Report/);
    assert.match(notice, /Original-Envelope-Id: dora-42\r\n/);
    assert.match(
      notice,
      /Original-Recipient: rfc822;friend@far\.test\r\nFinal-Recipient: rfc822; friend@far\.test\r\nAction: relayed\r\nStatus: 2\.0\.0/,
    );
    assert.match(notice, /Content-Type: text\/rfc822-headers[\s\S]*Subject: tell me when it leaves/);
  });

  test("NOTIFY=NEVER: a refused recipient produces no bounce", async () => {
    const before = (await inbox(h.runtime, "dora@local.test")).length;
    await send({
      from: "dora@local.test",
      to: "refused@far.test",
      subject: "fire and forget",
      text: "hello",
      dsn: { notify: "never" },
    });
    const sent = sink.messages.length;
    await h.worker({ routes: parseRoutes(`far.test=127.0.0.1:${sink.port}`), delayNoticeMs: 0 }).drainDue();
    assert.equal(sink.messages.length, sent, "refused at the remote");
    assert.equal((await h.runtime.store.outbound.list({ domain: "far.test" })).length, 0, "done with it");
    assert.equal((await inbox(h.runtime, "dora@local.test")).length, before, "and no DSN");
  });
});
