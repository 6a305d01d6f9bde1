/**
 * The behaviour every BlobStore must have, written once and run against each
 * implementation (see fs.test.ts and s3.test.ts), so the stores cannot drift.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BlobNotFoundError, type BlobStore } from "../src/index.ts";
import {
  chunkedStream,
  collectKeys,
  failingSource,
  generatedContent,
  hashStream,
  sha256,
} from "./helpers.ts";

export interface ContractFixture {
  store: BlobStore;
  /** Files left where the store spools puts; must be none once a put has settled. */
  scratchFiles(): Promise<string[]>;
  teardown(): Promise<void>;
}

const LARGE_SIZE = 20 * 1024 * 1024;

export function blobStoreContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fixture: ContractFixture | undefined;
    const store = (): BlobStore => {
      assert.ok(fixture, "fixture was not set up");
      return fixture.store;
    };

    before(async () => {
      fixture = await setup();
    });
    after(async () => {
      await fixture?.teardown();
    });

    it("round-trips a stream byte for byte, keyed by its SHA-256", async () => {
      const content = randomBytes(150_000);
      const result = await store().put(chunkedStream(content));
      assert.deepEqual(result, { key: sha256(content), size: content.length, created: true });
      assert.ok(Buffer.from(await store().read(result.key)).equals(content));
      const streamed = await hashStream(await store().get(result.key));
      assert.deepEqual(streamed, { key: result.key, size: content.length });
    });

    it("stores the same content once: the second put reports created:false", async () => {
      const content = randomBytes(10_000);
      const first = await store().put(chunkedStream(content));
      const second = await store().put(chunkedStream(content));
      assert.equal(first.created, true);
      assert.deepEqual(second, { key: first.key, size: content.length, created: false });
    });

    it("putBuffer and put agree on keys and see each other's blobs", async () => {
      const a = randomBytes(5_000);
      const viaBuffer = await store().putBuffer(a);
      assert.deepEqual(viaBuffer, { key: sha256(a), size: a.length, created: true });
      assert.deepEqual(await store().put(chunkedStream(a)), { ...viaBuffer, created: false });

      const b = randomBytes(5_000);
      const viaStream = await store().put(chunkedStream(b));
      assert.deepEqual(await store().putBuffer(new Uint8Array(b)), { ...viaStream, created: false });
      assert.ok((await store().read(viaBuffer.key)).equals(a));
    });

    it("stores an empty blob", async () => {
      const result = await store().put(chunkedStream(Buffer.alloc(0)));
      assert.deepEqual(result, { key: sha256(new Uint8Array(0)), size: 0, created: true });
      assert.equal((await store().read(result.key)).length, 0);
      assert.equal((await store().read(result.key, 0, 10)).length, 0);
      assert.deepEqual(await store().stat(result.key), { size: 0 });
    });

    it("reads ranges: start, middle, end, past the end, empty", async () => {
      const content = randomBytes(1000);
      const { key } = await store().putBuffer(content);
      const range = async (offset: number, length: number) =>
        Buffer.from(await store().read(key, offset, length));

      assert.ok((await range(0, 10)).equals(content.subarray(0, 10)), "start");
      assert.ok((await range(400, 123)).equals(content.subarray(400, 523)), "middle");
      assert.ok((await range(990, 10)).equals(content.subarray(990)), "last bytes exactly");
      assert.ok((await range(995, 100)).equals(content.subarray(995)), "running past the end is cut");
      assert.ok((await range(0, 1000)).equals(content), "the whole blob as a range");
      assert.equal((await range(500, 0)).length, 0, "zero length");
      assert.equal((await range(1000, 10)).length, 0, "offset at the end");
      assert.equal((await range(5000, 10)).length, 0, "offset beyond the end");
      assert.ok((await store().read(key, 900)).equals(content.subarray(900)), "offset without length");

      const streamed = await hashStream(await store().getRange(key, 100, 200));
      assert.deepEqual(streamed, { key: sha256(content.subarray(100, 300)), size: 200 });
    });

    it("rejects malformed keys and ranges instead of guessing", async () => {
      await assert.rejects(store().get("../../etc/passwd"), TypeError);
      await assert.rejects(store().stat("ABC"), TypeError);
      await assert.rejects(store().delete(`${"a".repeat(64)}/x`), TypeError);
      const { key } = await store().putBuffer(randomBytes(10));
      await assert.rejects(store().getRange(key, -1, 5), RangeError);
      await assert.rejects(store().getRange(key, 0, -5), RangeError);
      await assert.rejects(store().getRange(key, 1.5, 5), RangeError);
    });

    it("puts a 20 MB stream without buffering it and reads it back intact", async () => {
      const generated = generatedContent(LARGE_SIZE);
      const result = await store().put(generated.stream);
      assert.deepEqual(result, { key: generated.digest(), size: LARGE_SIZE, created: true });
      assert.deepEqual(await hashStream(await store().get(result.key)), {
        key: result.key,
        size: LARGE_SIZE,
      });
      const tail = await store().read(result.key, LARGE_SIZE - 100, 1000);
      assert.equal(tail.length, 100);
      assert.deepEqual(await store().stat(result.key), { size: LARGE_SIZE });
      assert.deepEqual(await fixture?.scratchFiles(), [], "no spool files left behind");
    });

    it("a source that fails midway stores nothing and leaves no spool file", async () => {
      const before = await collectKeys(store().list());
      const boom = new Error("client went away");
      await assert.rejects(store().put(failingSource(boom)), (err) => err === boom);
      assert.deepEqual(await collectKeys(store().list()), before);
      assert.deepEqual(await fixture?.scratchFiles(), []);
    });

    it("concurrent puts of the same content agree and leave one intact blob", async () => {
      const content = randomBytes(300_000);
      const results = await Promise.all([1, 2, 3, 4].map(() => store().put(chunkedStream(content))));
      for (const r of results) assert.equal(r.key, sha256(content));
      assert.ok(results.some((r) => r.created));
      assert.ok((await store().read(sha256(content))).equals(content));
      assert.deepEqual(await fixture?.scratchFiles(), []);
    });

    it("missing blobs: get, getRange and read reject with BlobNotFoundError; stat is undefined", async () => {
      const missing = sha256(randomBytes(32));
      const notFound = (err: unknown) => err instanceof BlobNotFoundError && err.key === missing;
      await assert.rejects(store().get(missing), notFound);
      await assert.rejects(store().getRange(missing, 0, 10), notFound);
      await assert.rejects(store().getRange(missing, 0, 0), notFound);
      await assert.rejects(store().getRange(missing, 100, 10), notFound);
      await assert.rejects(store().read(missing), notFound);
      assert.equal(await store().stat(missing), undefined);
    });

    it("stat reports the size", async () => {
      const { key } = await store().putBuffer(randomBytes(4321));
      assert.deepEqual(await store().stat(key), { size: 4321 });
    });

    it("delete removes a blob and is idempotent", async () => {
      const content = randomBytes(2000);
      const { key } = await store().putBuffer(content);
      await store().delete(key);
      assert.equal(await store().stat(key), undefined);
      await assert.rejects(store().get(key), BlobNotFoundError);
      await store().delete(key);
      await store().delete(sha256(randomBytes(8)));
      assert.equal((await store().putBuffer(content)).created, true, "a deleted blob can be stored again");
    });

    it("list yields every stored key and no deleted one", async () => {
      const kept = await Promise.all([1, 2, 3].map(() => store().putBuffer(randomBytes(100))));
      const deleted = await store().putBuffer(randomBytes(100));
      await store().delete(deleted.key);
      const listed = await collectKeys(store().list());
      for (const { key } of kept) assert.ok(listed.includes(key), `${key} listed`);
      assert.ok(!listed.includes(deleted.key));
      assert.equal(new Set(listed).size, listed.length, "no duplicates");
      for (const key of listed) assert.match(key, /^[0-9a-f]{64}$/);
    });

    it("ping resolves while the store is usable", async () => {
      await store().ping();
    });
  });
}
