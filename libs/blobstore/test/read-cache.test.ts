import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { tempDir } from "@aerogram/testkit";
import { BlobReadCache, FsBlobStore } from "../src/index.ts";
import { blobStoreContract } from "./contract.ts";
import { entries } from "./helpers.ts";

// The cache in front of a store is still a BlobStore in every respect.
blobStoreContract("BlobReadCache over FsBlobStore", async () => {
  const dir = await tempDir("aerogram-blobs-");
  const fs = new FsBlobStore({ dir: dir.path });
  return {
    store: new BlobReadCache(fs, 1024 * 1024),
    scratchFiles: () => entries(fs.tmpDir),
    async teardown() {
      await fs.close();
      await dir.remove();
    },
  };
});

describe("BlobReadCache", () => {
  it("serves a range read again from memory, evicts least recently used past its budget", async () => {
    const dir = await tempDir("aerogram-blobs-");
    const fs = new FsBlobStore({ dir: dir.path });
    const cache = new BlobReadCache(fs, 10_000);
    try {
      const a = randomBytes(4000);
      const b = randomBytes(4000);
      const c = randomBytes(4000);
      const keys = [];
      for (const data of [a, b, c]) keys.push((await cache.putBuffer(data)).key);
      const [ka, kb, kc] = keys as [string, string, string];
      assert.deepEqual(await cache.read(ka, 0, 4000), a);
      assert.deepEqual(await cache.read(ka, 0, 4000), a);
      assert.deepEqual([cache.hits, cache.misses], [1, 1]);
      assert.deepEqual(await cache.read(ka, 10, 20), a.subarray(10, 30)); // another range: its own entry
      assert.deepEqual(await cache.read(kb, 0, 4000), b);
      assert.ok(cache.cachedBytes <= 10_000);
      await cache.read(ka, 0, 4000); // a is now the most recently used
      assert.deepEqual(await cache.read(kc, 0, 4000), c); // over budget: b goes, not a
      assert.ok(cache.cachedBytes <= 10_000, `cached ${cache.cachedBytes}`);
      const misses = cache.misses;
      await cache.read(ka, 0, 4000);
      assert.equal(cache.misses, misses);
      await cache.read(kb, 0, 4000);
      assert.equal(cache.misses, misses + 1);
      // A whole-blob read (no length) and big ranges pass through uncached.
      assert.deepEqual(await cache.read(ka), a);
      assert.equal(cache.misses, misses + 1);
      // Deleting drops the key's ranges; a read then reports the blob missing.
      await cache.delete(ka);
      await assert.rejects(cache.read(ka, 0, 4000), /not found/);
    } finally {
      await fs.close();
      await dir.remove();
    }
  });
});
