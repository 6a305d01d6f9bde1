import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { startS3, type TestS3, tempDir } from "@aerogram/testkit";
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { S3BlobStore, type S3BlobStoreOptions } from "../src/index.ts";
import { blobStoreContract } from "./contract.ts";
import { chunkedStream, collectKeys, entries, generatedContent } from "./helpers.ts";

function storeOptions(s3: TestS3, extra: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions {
  return {
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...extra,
  };
}

function rawClient(s3: TestS3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
}

blobStoreContract("S3BlobStore", async () => {
  const s3 = await startS3();
  const spool = await tempDir("aerogram-spool-");
  const store = new S3BlobStore(storeOptions(s3, { spoolDir: spool.path }));
  return {
    store,
    scratchFiles: () => entries(spool.path),
    async teardown() {
      await store.close();
      await s3.stop();
      await spool.remove();
    },
  };
});

describe("S3BlobStore specifics", () => {
  let s3: TestS3;
  let client: S3Client;
  before(async () => {
    s3 = await startS3();
    client = rawClient(s3);
  });
  after(async () => {
    client.destroy();
    await s3.stop();
  });

  it("names objects <prefix><sha256> and lists only its own keys", async () => {
    const store = new S3BlobStore(storeOptions(s3, { prefix: "blobs/" }));
    try {
      const { key } = await store.putBuffer(randomBytes(100));
      const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `blobs/${key}` }));
      assert.equal(head.ContentLength, 100);
      // Objects outside the prefix, and non-blob names inside it, belong to someone else.
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "other/readme.txt", Body: "x" }));
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "blobs/notes.txt", Body: "x" }));
      assert.deepEqual(await collectKeys(store.list()), [key]);
    } finally {
      await store.close();
    }
  });

  it("list follows continuation tokens across pages", async (t) => {
    // Real pages from s3rver: 5 blobs and junk at 2 objects a page. (Run in the test process,
    // s3rver failed every truncated page: its DES-encrypted tokens need OpenSSL's legacy provider.)
    const store = new S3BlobStore(storeOptions(s3, { prefix: "p/", listPageSize: 2 }));
    try {
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) keys.push((await store.putBuffer(randomBytes(10))).key);
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "p/junk", Body: "x" }));
      const send = t.mock.method(S3Client.prototype, "send");
      assert.deepEqual(await collectKeys(store.list()), [...keys].sort());
      const listCalls = send.mock.calls.filter((c) => c.arguments[0] instanceof ListObjectsV2Command);
      assert.equal(listCalls.length, 3, "six objects at two a page");
    } finally {
      await store.close();
    }
  });

  it("uploads blobs larger than the part size as a streamed multipart upload", async (t) => {
    const send = t.mock.method(S3Client.prototype, "send");
    const store = new S3BlobStore(storeOptions(s3, { partSize: 5 * 1024 * 1024 }));
    try {
      const generated = generatedContent(12 * 1024 * 1024);
      const { key } = await store.put(generated.stream);
      assert.equal(key, generated.digest());
      const commands = send.mock.calls.map((call) => (call.arguments[0] as object).constructor.name);
      assert.deepEqual(commands, [
        "HeadObjectCommand",
        "CreateMultipartUploadCommand",
        "UploadPartCommand",
        "UploadPartCommand",
        "UploadPartCommand",
        "CompleteMultipartUploadCommand",
      ]);
      const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
      assert.equal(head.ContentLength, 12 * 1024 * 1024);
      assert.deepEqual(await store.stat(key), { size: 12 * 1024 * 1024 });
    } finally {
      await store.close();
    }
  });

  it("sends small blobs as one PutObject carrying their SHA-256 for the server to verify", async (t) => {
    const send = t.mock.method(S3Client.prototype, "send");
    const store = new S3BlobStore(storeOptions(s3));
    try {
      const { key } = await store.put(chunkedStream(randomBytes(70_000)));
      const puts = send.mock.calls
        .map((call) => call.arguments[0])
        .filter((command) => command instanceof PutObjectCommand);
      assert.equal(puts.length, 1);
      assert.equal(puts[0]?.input.ChecksumSHA256, Buffer.from(key, "hex").toString("base64"));
      assert.equal(puts[0]?.input.ContentLength, 70_000);
    } finally {
      await store.close();
    }
  });

  it("ping against a server that accepts but never answers times out instead of hanging", async () => {
    // Stands in for a wedged S3 or a proxy that holds connections open.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as AddressInfo;
    const store = new S3BlobStore({
      ...storeOptions(s3, { connectionTimeoutMs: 1000, requestTimeoutMs: 500 }),
      endpoint: `http://127.0.0.1:${port}`,
    });
    try {
      const started = Date.now();
      await assert.rejects(store.ping(), /is not usable: .*(timed out|requestTimeout)/);
      // Three attempts of 500 ms plus backoff.
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    } finally {
      await store.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("ping against a stopped server rejects promptly, naming the bucket", async () => {
    const dead = await startS3();
    await dead.stop();
    const store = new S3BlobStore(storeOptions(dead, { connectionTimeoutMs: 1000, requestTimeoutMs: 2000 }));
    try {
      const started = Date.now();
      await assert.rejects(store.ping(), (err: Error) => {
        assert.match(err.message, new RegExp(`S3 bucket ${dead.bucket} at ${dead.endpoint} is not usable`));
        return true;
      });
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    } finally {
      await store.close();
    }
  });
});
