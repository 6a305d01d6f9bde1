/**
 * The pure parts of outbound delivery: the route table, MX selection with
 * the implicit-MX fallback and null MX, the retry schedule, the DSN format.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildDsn, mailHosts, nextAttemptDelayMs, parseRoutes, routeFor, statusOf } from "../src/index.ts";

const dnsError = (code: string) => Object.assign(new Error(code), { code });

test("OUTBOUND_ROUTES: exact domain first, then *, with optional smarthost credentials", () => {
  const t = parseRoutes(
    "example.net=127.0.0.1:2526, *=relay:s%40cret@smarthost.example:587,v6.test=[::1]:25",
  );
  assert.deepEqual(routeFor(t, "EXAMPLE.net"), { host: "127.0.0.1", port: 2526 });
  assert.deepEqual(routeFor(t, "other.org"), {
    host: "smarthost.example",
    port: 587,
    auth: { user: "relay", pass: "s@cret" },
  });
  assert.deepEqual(routeFor(t, "v6.test"), { host: "::1", port: 25 });
  assert.equal(routeFor(parseRoutes("a.test=h:25"), "b.test"), undefined);
  assert.equal(parseRoutes(undefined).size, 0);
  assert.throws(() => parseRoutes("example.net"), /expected domain=host:port/);
  assert.throws(() => parseRoutes("example.net=host"), /expected host:port/);
  assert.throws(() => parseRoutes("example.net=host:99999"), /expected host:port/);
});

test("MX hosts by preference; no MX → the domain itself (RFC 5321 §5.1); null MX and NXDOMAIN are permanent", async () => {
  const mx = await mailHosts("a.test", async () => [
    { exchange: "mx2.a.test", priority: 20 },
    { exchange: "mx1.a.test.", priority: 10 },
  ]);
  assert.deepEqual(mx, { ok: true, hosts: ["mx1.a.test", "mx2.a.test"] });
  assert.deepEqual(
    await mailHosts("b.test", async () => {
      throw dnsError("ENODATA");
    }),
    { ok: true, hosts: ["b.test"] },
  );
  const nullMx = await mailHosts("c.test", async () => [{ exchange: "", priority: 0 }]);
  assert.equal(nullMx.ok, false);
  assert.equal(!nullMx.ok && nullMx.permanent, true);
  const nx = await mailHosts("d.test", async () => {
    throw dnsError("ENOTFOUND");
  });
  assert.equal(!nx.ok && nx.permanent, true);
  const servfail = await mailHosts("e.test", async () => {
    throw dnsError("ESERVFAIL");
  });
  assert.equal(!servfail.ok && servfail.permanent, false);
});

test("retry schedule: the n-th delay after attempt n, the last one repeating", () => {
  const s = [300_000, 600_000, 3_600_000];
  assert.equal(nextAttemptDelayMs(s, 1), 300_000);
  assert.equal(nextAttemptDelayMs(s, 2), 600_000);
  assert.equal(nextAttemptDelayMs(s, 3), 3_600_000);
  assert.equal(nextAttemptDelayMs(s, 40), 3_600_000);
});

test("status codes: the enhanced code of the reply when its class matches, else the generic one", () => {
  assert.equal(statusOf(550, "550 5.1.1 no such user"), "5.1.1");
  assert.equal(statusOf(550, "550 mailbox unavailable"), "5.0.0");
  assert.equal(statusOf(451, "451 4.7.1 greylisted"), "4.7.1");
  assert.equal(statusOf(550, "550 4.7.1 confused"), "5.0.0");
});

test("DSN: RFC 3464 multipart/report with a per-recipient block and the original headers", () => {
  const { bytes, messageId } = buildDsn({
    reportingMta: "mx.example.com",
    to: "alice@example.com",
    originalMessageId: "<orig@example.com>",
    originalHeaders: "From: alice@example.com\nSubject: hi\n",
    arrivalDate: new Date("2026-12-01T10:00:00Z"),
    recipients: [
      {
        recipient: "bob@remote.test",
        status: "5.1.1",
        diagnostic: "smtp; 550 5.1.1 no",
        remoteMta: "mx.remote.test",
      },
    ],
    kind: "rejected",
  });
  const text = bytes.toString();
  assert.match(messageId, /^<dsn\.[^@]+@mx\.example\.com>$/);
  const boundary = /boundary="([^"]+)"/.exec(text)![1]!;
  assert.match(text, /^From: Mail Delivery System <MAILER-DAEMON@mx\.example\.com>\r\n/);
  assert.match(text, /\r\nAuto-Submitted: auto-replied\r\n/);
  assert.match(text, /\r\nIn-Reply-To: <orig@example\.com>\r\n/);
  assert.equal(text.split(`--${boundary}\r\n`).length, 4, "three parts");
  assert.match(
    text,
    /Content-Type: message\/delivery-status\r\n[\s\S]*Reporting-MTA: dns; mx\.example\.com\r\n/,
  );
  assert.match(
    text,
    /Final-Recipient: rfc822; bob@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.remote\.test\r\nDiagnostic-Code: smtp; 550 5\.1\.1 no\r\n/,
  );
  assert.match(
    text,
    /Content-Type: text\/rfc822-headers\r\n[\s\S]*\r\nFrom: alice@example\.com\r\nSubject: hi\r\n/,
  );
  assert.ok(text.endsWith(`--${boundary}--\r\n`));
  assert.doesNotMatch(text, /(?<!\r)\n/, "CRLF line endings only");
});
