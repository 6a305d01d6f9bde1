import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
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

  it("a torn file left under a key by a crash is replaced by the next put of that content", async () => {
    // A put names the file before its flush; a power cut in between can leave
    // a torn file under the real key. The next put of the same content must
    // not trust that name (EEXIST): it checks the content and replaces it.
    const content = randomBytes(5000);
    const key = sha256(content);
    await mkdir(join(dir.path, key.slice(0, 2), key.slice(2, 4)), { recursive: true });
    await writeFile(store.pathOf(key), content.subarray(0, 1234));
    const put = await store.putBuffer(content);
    assert.deepEqual(put, { key, size: 5000, created: true });
    assert.ok((await readFile(store.pathOf(key))).equals(content));
    assert.deepEqual(await entries(store.tmpDir), []);
    // The same through the streaming put, with an empty leftover.
    const streamed = randomBytes(70_000); // more than one read chunk when checked
    const streamedKey = sha256(streamed);
    await mkdir(join(dir.path, streamedKey.slice(0, 2), streamedKey.slice(2, 4)), { recursive: true });
    await writeFile(store.pathOf(streamedKey), "");
    assert.equal(
      (await store.put(Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]))).created,
      true,
    );
    assert.ok((await store.read(streamedKey)).equals(streamed));
  });

  it("an intact file under the key is kept: created false, the content untouched", async () => {
    const content = randomBytes(70_000);
    const first = await store.putBuffer(content);
    const inode = (await stat(store.pathOf(first.key))).ino;
    const again = await store.putBuffer(content);
    assert.deepEqual(again, { key: first.key, size: 70_000, created: false });
    assert.equal((await stat(store.pathOf(first.key))).ino, inode);
    assert.deepEqual(await entries(store.tmpDir), []);
  });

  it("a flushed blob carries the durable mark; a re-put trusts only a marked file of the right size", async () => {
    const ownerWrite = async (key: string) => (await stat(store.pathOf(key))).mode & 0o200;
    // Both put paths mark what they flushed.
    const buffered = await store.putBuffer(randomBytes(3000));
    assert.equal(await ownerWrite(buffered.key), 0);
    const streamed = await store.put(Readable.from([randomBytes(3000)]));
    assert.equal(await ownerWrite(streamed.key), 0);
    // An unmarked intact file (a blob from before the mark, or another process's
    // put still in flight) is read back, flushed, kept and then marked.
    const content = randomBytes(9000);
    const { key } = await store.putBuffer(content);
    await chmod(store.pathOf(key), 0o640);
    const inode = (await stat(store.pathOf(key))).ino;
    assert.deepEqual(await store.putBuffer(content), { key, size: 9000, created: false });
    assert.equal((await stat(store.pathOf(key))).ino, inode);
    assert.equal(await ownerWrite(key), 0);
    // A marked file whose size is not the content's is not trusted: replaced.
    // (Unmarked to cut it short, marked again: a non-root owner may not write a 0440 file.)
    await chmod(store.pathOf(key), 0o640);
    await truncate(store.pathOf(key), 100);
    await chmod(store.pathOf(key), 0o440);
    assert.deepEqual(await store.putBuffer(content), { key, size: 9000, created: true });
    assert.ok((await readFile(store.pathOf(key))).equals(content));
    assert.equal(await ownerWrite(key), 0);
    // The same through the streaming put, with an unmarked torn file.
    await chmod(store.pathOf(key), 0o640);
    await truncate(store.pathOf(key), 100);
    assert.equal((await store.put(Readable.from([content]))).created, true);
    assert.ok((await readFile(store.pathOf(key))).equals(content));
    assert.deepEqual(await entries(store.tmpDir), []);
  });

  it("concurrent puts of the same new content in one process: one writes, the others find it marked", async () => {
    const content = randomBytes(20_000);
    const puts = await Promise.all([
      store.putBuffer(content),
      store.putBuffer(content),
      store.put(Readable.from([content])),
      store.putBuffer(content),
    ]);
    assert.equal(puts.filter((p) => p.created).length, 1);
    assert.ok((await readFile(store.pathOf(puts[0]!.key))).equals(content));
    assert.deepEqual(await entries(store.tmpDir), []);
  });

  it("concurrent puts into new fan-out directories all land intact", async () => {
    const contents = Array.from({ length: 40 }, () => randomBytes(3000));
    const puts = await Promise.all(
      contents.map((c, i) => (i % 2 ? store.putBuffer(c) : store.put(Readable.from([c])))),
    );
    for (const [i, put] of puts.entries()) {
      assert.equal(put.created, true);
      assert.ok((await readFile(store.pathOf(put.key))).equals(contents[i]!));
    }
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
