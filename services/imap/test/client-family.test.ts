/**
 * Client families (issue 17, seed lessons 2 and 10): recognised from ID or, for
 * Outlook which sends none, from its tags; commands and bytes counted per family
 * in the metrics, over a real socket.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { ClientRecognizer, familyFromId, outlookLikeTag } from "../src/client-family.ts";
import { createAccount, gatewayPerFile, RawClient } from "./helpers.ts";

test("ID fields name the family; unknown clients are 'other'", () => {
  const cases: [string[], string][] = [
    [["name", "Thunderbird", "version", "128.3"], "thunderbird"],
    [["NAME", "Mac OS X Mail", "os", "Mac OS X"], "apple"],
    [["name", "iPhone Mail", "os", "iOS", "vendor", "Apple Inc"], "ios"],
    [["name", "com.fsck.k9", "os", "android"], "android"],
    [["name", "K-9 Mail"], "android"],
    [["name", "NeoMutt"], "mutt"],
    [["name", "Microsoft Outlook"], "outlook"],
    [["name", "imaptest"], "other"],
  ];
  for (const [flat, family] of cases) {
    const pairs: [string, string][] = [];
    for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
    assert.equal(familyFromId(pairs), family, JSON.stringify(flat));
  }
});

test("Outlook's random four-character tags, not counters", () => {
  for (const tag of ["9gkq", "x2fz", "h0oa"]) assert.ok(outlookLikeTag(tag), tag);
  for (const tag of ["1", "a001", "ab12", "A001", "1.1", "1234", "tag1x"])
    assert.ok(!outlookLikeTag(tag), tag);
  const outlook = new ClientRecognizer();
  outlook.onTag("9gkq");
  outlook.onTag("x2fz");
  assert.equal(outlook.family, "outlook");
  const counter = new ClientRecognizer();
  counter.onTag("a001");
  counter.onTag("a002");
  assert.equal(counter.family, "other");
  // ID overrides a guess from tags, whenever it comes.
  const identified = new ClientRecognizer();
  identified.onTag("9gkq");
  identified.onTag("x2fz");
  identified.onId([["name", "Thunderbird"]]);
  assert.equal(identified.family, "thunderbird");
});

const fixture = gatewayPerFile();

async function metric(name: string, labels: RegExp): Promise<number> {
  const text = await fixture.gateway.runtime.metrics.metrics();
  const line = text.split("\n").find((l) => l.startsWith(name) && labels.test(l));
  return line ? Number(line.split(" ").pop()) : 0;
}

test("commands and bytes are counted per family over a socket", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { user, pass } = await createAccount(fixture.gateway.runtime);
  const before = await metric("aerogram_imap_client_commands_total", /family="thunderbird"/);
  const beforeOut = await metric(
    "aerogram_imap_client_bytes_total",
    /family="thunderbird".*direction="out"|direction="out".*family="thunderbird"/,
  );
  const client = await RawClient.connect(fixture.gateway.port);
  assert.match(await client.command('ID ("name" "Thunderbird" "version" "128.3")'), /OK/);
  assert.match(await client.login(user, pass), /OK/);
  assert.match(await client.command("SELECT INBOX"), /OK/);
  assert.match(await client.command("NOOP"), /OK/);
  client.socket.end();
  const after = await metric("aerogram_imap_client_commands_total", /family="thunderbird"/);
  assert.equal(after - before, 4);
  const out = await metric(
    "aerogram_imap_client_bytes_total",
    /family="thunderbird".*direction="out"|direction="out".*family="thunderbird"/,
  );
  assert.ok(out - beforeOut > 100, `bytes out ${out - beforeOut}`);

  const outlook = await RawClient.connect(fixture.gateway.port);
  const outlookBefore = await metric("aerogram_imap_client_commands_total", /family="outlook"/);
  assert.match(await outlook.command("CAPABILITY", "9gkq"), /OK/);
  assert.match(await outlook.command("NOOP", "x2fz"), /OK/);
  assert.match(await outlook.command("NOOP", "p7rw"), /OK/);
  outlook.socket.end();
  // The first command is counted before the tags decide (as "other"); the next ones as outlook.
  assert.equal((await metric("aerogram_imap_client_commands_total", /family="outlook"/)) - outlookBefore, 2);
});
