import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { startS3, tempDir } from "@aerogram/testkit";
import { createBlobStore, FsBlobStore, S3BlobStore } from "../src/index.ts";

describe("createBlobStore", () => {
  it("builds an FsBlobStore for kind fs", async () => {
    const dir = await tempDir("aerogram-blobs-");
    const store = createBlobStore({ kind: "fs", dir: dir.path });
    try {
      assert.ok(store instanceof FsBlobStore);
      assert.equal(store.dir, dir.path);
      const content = randomBytes(64);
      const { key } = await store.putBuffer(content);
      assert.ok((await store.read(key)).equals(content));
    } finally {
      await store.close();
      await dir.remove();
    }
  });

  it("builds an S3BlobStore for kind s3", async () => {
    const s3 = await startS3();
    const store = createBlobStore({
      kind: "s3",
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      region: s3.region,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    try {
      assert.ok(store instanceof S3BlobStore);
      await store.ping();
      const content = randomBytes(64);
      const { key } = await store.putBuffer(content);
      assert.ok((await store.read(key)).equals(content));
    } finally {
      await store.close();
      await s3.stop();
    }
  });
});
