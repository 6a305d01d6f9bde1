/**
 * The sender policy per account and per domain (issue 19), over real sockets:
 * swaks and nodemailer authenticate on the submission port and try MAIL
 * FROM / From: addresses while an operator changes the account's and the
 * domain's policy in the store (what `mailctl sender-policy` writes). The
 * deployment default (SUBMISSION_SENDER_POLICY=account) applies without
 * overrides; a domain row widens it; an account row wins over its domain's.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import { type Harness, startHarness, swaks } from "./support.ts";

const PASSWORD = "policy password 1";

describe("sender policy per account and domain", () => {
  let h: Harness;
  let port: number;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres")) || !(await requireServer(t as never, "redis"))) return;
    h = await startHarness();
    // No cache: each new session sees the operator's change at once.
    port = (await h.start({ senderPolicyCacheMs: 0 })).port;
    for (const address of ["carol@policy.test", "dave@policy.test", "app@policy.test", "erin@other.test"]) {
      await h.runtime.store.accounts.create({ address, password: PASSWORD });
    }
  });
  after(async () => {
    await h?.close();
  });

  const id = async (address: string) => (await h.runtime.store.accounts.byAddress(address))!.id;

  /** swaks as `user`, MAIL FROM and From: `from`, to a local account. */
  const send = (user: string, from: string, headerFrom = from) =>
    swaks([
      "--server",
      `127.0.0.1:${port}`,
      "--auth",
      "PLAIN",
      "--auth-user",
      user,
      "--auth-password",
      PASSWORD,
      "--from",
      from,
      "--header",
      `From: ${headerFrom}`,
      "--to",
      "erin@other.test",
    ]);

  test("default (account): only the login's own address; a domain row widens it to the domain", async () => {
    const denied = await send("carol@policy.test", "sales@policy.test");
    assert.notEqual(denied.code, 0);
    assert.match(denied.output, /550 5\.7\.1 Not authorised to send as <sales@policy\.test>/);
    assert.equal((await send("carol@policy.test", "carol@policy.test")).code, 0);

    await h.runtime.store.senderPolicies.setForDomain("policy.test", "domain");
    const allowed = await send("carol@policy.test", "sales@policy.test");
    assert.equal(allowed.code, 0, allowed.output);
    // Another domain stays refused, in the envelope and in the header.
    const foreign = await send("carol@policy.test", "carol@other.test");
    assert.match(foreign.output, /550 5\.7\.1 Not authorised to send as <carol@other\.test>/);
    const header = await send("carol@policy.test", "carol@policy.test", "boss@other.test");
    assert.match(header.output, /550 5\.7\.1 Not authorised to send as <boss@other\.test>/);
    // The other domain's accounts keep the deployment default.
    const erin = await send("erin@other.test", "x@other.test");
    assert.match(erin.output, /550 5\.7\.1/);
  });

  test("an account's own row wins over its domain's, both ways", async () => {
    await h.runtime.store.senderPolicies.setForDomain("policy.test", "domain");
    assert.equal(
      await h.runtime.store.senderPolicies.setForAccount(await id("dave@policy.test"), "account"),
      true,
    );
    const narrowed = await send("dave@policy.test", "sales@policy.test");
    assert.match(narrowed.output, /550 5\.7\.1 Not authorised to send as <sales@policy\.test>/);
    assert.equal(
      (await send("carol@policy.test", "sales@policy.test")).code,
      0,
      "the domain row still applies to carol",
    );

    // "any": an application account may send as anyone (nodemailer, as a client library would).
    await h.runtime.store.senderPolicies.setForAccount(await id("app@policy.test"), "any");
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      ignoreTLS: true,
      auth: { user: "app@policy.test", pass: PASSWORD },
    });
    try {
      const info = await transport.sendMail({
        from: "Newsletter <news@elsewhere.test>",
        to: "erin@other.test",
        subject: "from an app account",
        text: "hello",
      });
      assert.match(info.response, /^250 2\.0\.0/);
      // Clearing the row brings the domain's policy back: news@elsewhere.test is refused.
      await h.runtime.store.senderPolicies.setForAccount(await id("app@policy.test"), null);
      await assert.rejects(
        transport.sendMail({ from: "news@elsewhere.test", to: "erin@other.test", text: "again" }),
        (err: { responseCode?: number; response?: string }) =>
          err.responseCode === 550 && /5\.7\.1/.test(err.response ?? ""),
      );
    } finally {
      transport.close();
    }
  });
});
