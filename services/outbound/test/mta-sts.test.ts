/**
 * MTA-STS (RFC 8461): policy parsing, MX patterns, discovery and caching
 * with a stub resolver and a stub HTTPS fetch; and a worker delivering over
 * the MX path to a local TLS server under `enforce` (a certificate it can't
 * verify, or an MX the policy doesn't name → deferred, nothing sent in the
 * clear), with a trusted certificate (delivered over TLS), and under `testing`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  createTestDatabase,
  requireServer,
  type SmtpSink,
  selfSignedCertificate,
  startSmtpSink,
  type TestDatabase,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";
import { createWorker, MtaSts, mxMatches, parsePolicy } from "../src/index.ts";

const POLICY =
  "version: STSv1\r\nmode: enforce\r\nmx: localhost\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n";

test("policy parsing (§3.2) and MX patterns (§4.1)", () => {
  assert.deepEqual(parsePolicy(POLICY), {
    mode: "enforce",
    mx: ["localhost", "*.mx.example.net"],
    maxAgeSeconds: 86400,
  });
  assert.equal(parsePolicy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n"), undefined);
  assert.equal(parsePolicy("version: STSv1\nmode: enforce\nmax_age: 1\n"), undefined, "enforce needs mx");
  assert.equal(parsePolicy("version: STSv1\nmode: sometimes\nmx: a\nmax_age: 1\n"), undefined);
  assert.equal(parsePolicy("version: STSv1\nmode: none\nmax_age: 99999999999\n")?.maxAgeSeconds, 31_557_600);
  assert.ok(mxMatches("*.mx.example.net", "a.mx.example.net."));
  assert.ok(!mxMatches("*.mx.example.net", "a.b.mx.example.net"), "one label only");
  assert.ok(!mxMatches("*.mx.example.net", "mx.example.net"));
  assert.ok(mxMatches("localhost", "LOCALHOST"));
});

test("discovery and cache: fetched once per id, refetched when the TXT id changes, kept when fetching fails", async () => {
  let id = "20261207";
  let fetches = 0;
  let failFetch = false;
  const sts = new MtaSts({
    txt: async (name) => {
      assert.equal(name, "_mta-sts.example.net");
      return [["v=STSv1; id=", id]];
    },
    fetch: async (url) => {
      assert.equal(url, "https://mta-sts.example.net/.well-known/mta-sts.txt");
      fetches++;
      if (failFetch) throw new Error("unreachable");
      return POLICY;
    },
  });
  assert.equal((await sts.policyFor("example.net"))?.mode, "enforce");
  await sts.policyFor("example.net");
  assert.equal(fetches, 1);
  id = "20261208";
  failFetch = true;
  assert.equal(
    (await sts.policyFor("example.net"))?.mode,
    "enforce",
    "the cached policy stands while unexpired",
  );
  assert.equal(fetches, 2);
  const none = new MtaSts({
    txt: async () => {
      throw Object.assign(new Error("nx"), { code: "ENOTFOUND" });
    },
    fetch: async () => POLICY,
  });
  assert.equal(await none.policyFor("example.org"), undefined, "no TXT record: no policy");
});

describe("a worker on the MX path under MTA-STS", () => {
  let db: TestDatabase;
  let runtime: Runtime;
  let sink: SmtpSink;
  let cert: Buffer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres"))) return;
    db = await createTestDatabase();
    dir = await tempDir("aerogram-mta-sts-");
    const files = selfSignedCertificate(dir.path, "localhost");
    cert = readFileSync(files.certFile);
    sink = await startSmtpSink({ tls: { key: readFileSync(files.keyFile), cert } });
    runtime = await createRuntime(
      loadConfig({
        DATABASE_URL: db.url,
        BLOB_DIR: `${dir.path}/blobs`,
        NATS_SUBJECT_PREFIX: `t${uniqueId()}`,
        LOG_LEVEL: "silent",
      }),
      { service: "mta-sts-test" },
    );
  });
  after(async () => {
    await sink?.close();
    await runtime?.close();
    await db?.drop();
    await dir?.remove();
  });

  const enqueue = async (domain: string) => {
    const blob = await new Delivery(runtime).storeBlob(
      Buffer.from("From: a@local.test\r\nSubject: sts\r\n\r\nx\r\n"),
    );
    const [id] = await runtime.store.outbound.enqueue({
      blobKey: blob.key,
      size: blob.size,
      sender: "a@local.test",
      senderAccountId: null,
      messageId: null,
      byDomain: new Map([[domain, [`rcpt@${domain}`]]]),
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    return id!;
  };
  const worker = (policy: string, trust: boolean) =>
    createWorker(runtime, {
      routes: new Map(),
      mx: async () => [{ exchange: "localhost", priority: 10 }],
      mxPort: sink.port,
      mtaSts: new MtaSts({ txt: async () => [["v=STSv1; id=1"]], fetch: async () => policy }),
      ...(trust ? { tlsCa: cert } : {}),
      timeoutMs: 5000,
      retryScheduleMs: [60_000],
    });

  test("enforce with a certificate we cannot verify: deferred, nothing delivered", async () => {
    const id = await enqueue("enforced.test");
    await worker(POLICY, false).drainDue();
    const entry = await runtime.store.outbound.get(id);
    assert.ok(entry, "still queued");
    assert.match(entry.lastError ?? "", /certificate|self.signed|TLS/i);
    assert.equal(sink.messages.length, 0);
    await runtime.store.outbound.remove(id);
  });

  test("enforce with an MX the policy does not name: deferred", async () => {
    const id = await enqueue("elsewhere.test");
    await worker(POLICY.replace("mx: localhost\r\n", ""), true).drainDue();
    assert.match((await runtime.store.outbound.get(id))?.lastError ?? "", /MTA-STS: no MX/);
    assert.equal(sink.messages.length, 0);
    await runtime.store.outbound.remove(id);
  });

  test("enforce with a verifiable certificate: delivered over TLS", async () => {
    await enqueue("trusted.test");
    await worker(POLICY, true).drainDue();
    assert.equal(sink.messages.length, 1);
    assert.equal(sink.tlsTransactions, 1);
  });

  test("testing mode: delivered with opportunistic TLS despite the certificate", async () => {
    await enqueue("testing.test");
    await worker(POLICY.replace("mode: enforce", "mode: testing"), false).drainDue();
    assert.equal(sink.messages.length, 2);
    assert.equal(sink.tlsTransactions, 2);
  });
});
