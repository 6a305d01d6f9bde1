/**
 * libs/spam without rspamd: the policy's decisions (actions, DMARC policies
 * and pct sampling, the strictest wins), the headers, and the client against
 * misbehaving HTTP servers over real sockets (garbage, an unknown action, an
 * HTTP error, a server that never answers, nothing listening): every one a
 * failure value, never a throw.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { test } from "node:test";
import {
  dmarcDecision,
  parseCheckReply,
  RspamdClient,
  spamDecision,
  spamHeaders,
  strictest,
} from "../src/index.ts";

const verdict = (action: string, score = 1) =>
  parseCheckReply(
    JSON.stringify({ action, score, required_score: 15, symbols: { A_B: {}, "bad sym\r\n": {} } }),
  );

test("rspamd actions map to SMTP decisions", () => {
  assert.equal(spamDecision(verdict("reject"), "deliver").kind, "reject");
  for (const a of ["soft reject", "greylist"]) {
    const d = spamDecision(verdict(a), "deliver");
    assert.ok(d.kind === "tempfail" && d.code === 451 && d.enhanced === "4.7.1");
  }
  for (const a of ["add header", "rewrite subject"])
    assert.deepEqual(spamDecision(verdict(a), "deliver"), {
      kind: "deliver",
      junk: true,
      reason: "spam_junk",
    });
  assert.deepEqual(spamDecision(verdict("no action"), "deliver"), {
    kind: "deliver",
    junk: false,
    reason: "spam_clean",
  });
  const down = { ok: false as const, reason: "timeout" as const, detail: "x" };
  assert.equal(spamDecision(down, "deliver").kind, "deliver");
  const t = spamDecision(down, "tempfail");
  assert.ok(t.kind === "tempfail" && t.enhanced === "4.3.0");
  assert.equal(spamDecision(undefined, "tempfail").kind, "deliver", "not configured: not scanned");
});

test("DMARC: reject, quarantine, none; pct softens outside the sample; only fail counts", () => {
  const fail = (policy: string, pct?: number) => ({ result: "fail", policy, pct });
  assert.equal(dmarcDecision(fail("reject"), 99.9).kind, "reject");
  assert.deepEqual(dmarcDecision(fail("reject", 50), 50), {
    kind: "deliver",
    junk: true,
    reason: "dmarc_quarantine",
  });
  assert.equal(dmarcDecision(fail("reject", 50), 49.9).kind, "reject");
  assert.deepEqual(dmarcDecision(fail("quarantine"), 0), {
    kind: "deliver",
    junk: true,
    reason: "dmarc_quarantine",
  });
  assert.deepEqual(dmarcDecision(fail("quarantine", 0), 0), {
    kind: "deliver",
    junk: false,
    reason: "dmarc_none",
  });
  assert.equal(dmarcDecision({ result: "pass", policy: "reject", pct: 100 }, 0).kind, "deliver");
  assert.equal(dmarcDecision({ result: "temperror", policy: "reject", pct: 100 }, 0).kind, "deliver");
  assert.equal(
    strictest(dmarcDecision(fail("quarantine"), 0), spamDecision(verdict("reject"), "deliver")).kind,
    "reject",
  );
});

test("X-Spam headers: folded symbol list, only safe symbol names", () => {
  const h = spamHeaders(verdict("add header", 20.5), "mx.test");
  assert.match(
    h,
    /^X-Spam-Flag: YES\r\nX-Spam-Score: 20\.50\r\nX-Spam-Action: add header\r\nX-Spam-Status: Yes, score=20\.50 required=15\.00\r\n tests=A_B\r\n$/,
  );
  const many = parseCheckReply(
    JSON.stringify({
      action: "no action",
      score: 0,
      required_score: 15,
      symbols: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`SYMBOL_NUMBER_${i}`, {}])),
    }),
  );
  for (const line of spamHeaders(many, "mx").split("\r\n")) assert.ok(line.length <= 78, line);
});

test("garbage from rspamd is a bad_response", () => {
  assert.equal(parseCheckReply("<html>").ok, false);
  assert.equal(parseCheckReply("null").ok, false);
  assert.equal(parseCheckReply(JSON.stringify({ action: "explode" })).ok, false);
  const r = parseCheckReply(JSON.stringify({ action: "reject", score: "NaN" }));
  assert.ok(r.ok && r.verdict.score === 0);
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

test("the client over sockets: garbage, HTTP errors, a silent server, nothing listening", async (t) => {
  const seen: Record<string, string | string[] | undefined>[] = [];
  const garbage = await serve((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on("end", () => res.end("this is not json"));
  });
  const error = await serve((req, res) => {
    req.resume();
    req.on("end", () => {
      res.statusCode = 500;
      res.end("{}");
    });
  });
  const silent = await serve(() => {});
  t.after(() => {
    for (const s of [garbage, error, silent]) s.server.closeAllConnections();
    for (const s of [garbage, error, silent]) s.server.close();
  });
  const meta = {
    ip: "192.0.2.1",
    helo: "evil\r\nInjected: yes",
    from: "",
    rcpt: ["a@x.test", "b@x.test"],
    queueId: "q1",
  };
  const msg = Buffer.from("Subject: x\r\n\r\nbody\r\n");
  const g = await new RspamdClient({ url: garbage.url, timeoutMs: 5000 }).check(msg, meta);
  assert.deepEqual(g.ok ? "ok" : g.reason, "bad_response");
  assert.equal(seen[0]!.helo, "evilInjected: yes", "no CR/LF reaches the request headers");
  assert.equal(
    seen[0]!.rcpt,
    "a@x.test, b@x.test",
    "one Rcpt header per recipient (node joins them when reading)",
  );
  const e = await new RspamdClient({ url: error.url, timeoutMs: 5000 }).check(msg, meta);
  assert.equal(e.ok ? "ok" : e.reason, "bad_response");
  const s = await new RspamdClient({ url: silent.url, timeoutMs: 300 }).check(msg, meta);
  assert.equal(s.ok ? "ok" : s.reason, "timeout");
  const closed = await new RspamdClient({ url: "http://127.0.0.1:1", timeoutMs: 5000 }).check(msg, meta);
  assert.equal(closed.ok ? "ok" : closed.reason, "unreachable");
  const l = await new RspamdClient({ url: error.url, timeoutMs: 5000 }).learn("spam", msg);
  assert.equal(l.ok, false);
});
