/**
 * RETR's whole-blob read: from the file when blobs are on the filesystem
 * (exact length, a blob longer than its recorded size falls back to
 * streaming, a missing one is BlobNotFoundError), and through the store
 * otherwise.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BlobNotFoundError, FsBlobStore } from "@aerogram/blobstore";
import { tempDir } from "@aerogram/testkit";
import { filesystemBlobPath, readWholeBlob } from "../src/message-read.ts";

test("whole-blob reads on the filesystem and through the store", async (t) => {
  const dir = await tempDir("aerogram-pop3-read-");
  t.after(() => dir.remove());
  const store = new FsBlobStore({ dir: dir.path });
  const content = Buffer.from("Subject: x\r\n\r\n.dot\r\nbody\r\n");
  const { key } = await store.putBuffer(content);
  const path = filesystemBlobPath({ kind: "fs", dir: dir.path });
  assert.ok(path);
  assert.deepEqual(await readWholeBlob(store, key, content.length, path), content);
  // Recorded larger than it is: still the whole blob.
  assert.deepEqual(await readWholeBlob(store, key, content.length + 10, path), content);
  // Longer than recorded: undefined, so the caller streams it.
  assert.equal(await readWholeBlob(store, key, content.length - 1, path), undefined);
  // Without a path (S3): through the store, whatever the length.
  assert.deepEqual(await readWholeBlob(store, key, 1), content);
  const missing = "0".repeat(64);
  await assert.rejects(readWholeBlob(store, missing, 10, path), BlobNotFoundError);
  await assert.rejects(readWholeBlob(store, missing, 10), BlobNotFoundError);
});
