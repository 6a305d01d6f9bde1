import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeEvent, encodeEvent, type MailboxEvent, toMailboxEvent } from "../src/index.ts";

const valid: MailboxEvent = {
  account: 3,
  mailbox: 9,
  kind: "expunge",
  modseq: "18446744073709551615",
  uids: [4],
};
const bytes = (s: string) => new TextEncoder().encode(s);

test("an event survives encode and decode unchanged", () => {
  assert.deepEqual(decodeEvent(bytes(encodeEvent(valid))), valid);
  assert.equal(encodeEvent(valid), JSON.stringify(valid), "compact JSON on the wire");
});

test("decode ignores payloads that are not events", () => {
  for (const payload of [
    bytes("not json"),
    bytes("null"),
    bytes("[1,2]"),
    bytes(JSON.stringify({ ...valid, account: "3" })),
    bytes(JSON.stringify({ ...valid, modseq: 5 })),
    bytes(JSON.stringify({ ...valid, modseq: "-5" })),
    bytes(JSON.stringify({ ...valid, kind: "nope" })),
    bytes(JSON.stringify({ ...valid, uids: "1:3" })),
    bytes(JSON.stringify({ ...valid, name: 7 })),
    new Uint8Array([0xff, 0xfe, 0x7b]),
  ]) {
    assert.equal(decodeEvent(payload), undefined, new TextDecoder().decode(payload));
  }
});

test("unknown fields are dropped, optional ones kept only when present", () => {
  assert.deepEqual(toMailboxEvent({ ...valid, extra: { deep: true } }), valid);
  const { uids: _, ...withoutUids } = valid;
  assert.deepEqual(toMailboxEvent(withoutUids), withoutUids);
  assert.equal("uids" in (toMailboxEvent(withoutUids) ?? {}), false);
});
