import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "@aerogram/testkit";
import { FsBlobStore } from "../src/index.ts";
import { blobStoreContract } from "./contract.ts";
import { collectKeys, entries, sha256 } from "./helpers.ts";

blobStoreContract("FsBlobStore", async () => {
  const dir = await tempDir("aerogram-blobs-");
  const store = new FsBlobStore({ dir: dir.path });
  return {
    store,
    scratchFiles: () => entries(store.tmpDir),
    async teardown() {
      await store.close();
      await dir.remove();
    },
  };
});

describe("FsBlobStore layout", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: FsBlobStore;
  before(async () => {
    dir = await tempDir("aerogram-blobs-");
    store = new FsBlobStore({ dir: dir.path });
  });
  after(() => dir.remove());

  it("stores blobs at dir/ab/cd/<sha256>", async () => {
    const content = randomBytes(100);
    const { key } = await store.putBuffer(content);
    const path = join(dir.path, key.slice(0, 2), key.slice(2, 4), key);
    assert.equal(store.pathOf(key), path);
    assert.equal((await stat(path)).size, 100);
    assert.deepEqual(await entries(store.tmpDir), []);
  });

  it("list ignores the temp dir and anything that is not a blob", async () => {
    const { key } = await store.putBuffer(randomBytes(10));
    // A crash leftover in tmp/ and foreign files must not be reported (or garbage-collected).
    await writeFile(join(store.tmpDir, "leftover.part"), "partial");
    await writeFile(join(dir.path, "README"), "not a blob");
    const misplaced = sha256(randomBytes(10));
    await mkdir(join(dir.path, "00", "00"), { recursive: true });
    await writeFile(join(dir.path, "00", "00", misplaced), "wrong fan-out dir");
    const listed = await collectKeys(store.list());
    assert.ok(listed.includes(key));
    assert.ok(!listed.includes(misplaced));
    assert.ok(listed.every((k) => /^[0-9a-f]{64}$/.test(k)));
  });

  it("list of a directory that does not exist yet is empty", async () => {
    const fresh = new FsBlobStore({ dir: join(dir.path, "not-yet") });
    assert.deepEqual(await collectKeys(fresh.list()), []);
  });

  it("ping rejects when the directory cannot be used", async () => {
    const file = join(dir.path, "a-file");
    await writeFile(file, "x");
    await assert.rejects(new FsBlobStore({ dir: file }).ping(), { code: "ENOTDIR" });
  });
});
