/**
 * Bare-LF mail is stored with CRLF line endings (issue 15 part 2): the blob is
 * the served bytes, its key is the hash of those bytes whatever the source's
 * chunking or line endings, and the index's sizes and offsets are of them.
 * Needs no server: a filesystem blob store in a temporary directory.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { hasBareLf, resolveSection } from "@aerogram/mime";
import { Delivery } from "../src/index.ts";

const LF_MESSAGE = [
  "From: a@remote.test",
  "Subject: bare LF",
  "MIME-Version: 1.0",
  "Content-Type: multipart/mixed; boundary=b",
  "",
  "--b",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  "",
  "Grüße",
  "--b--",
  "",
].join("\n");

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("a bare-LF message is stored, keyed and indexed as its CRLF form, from a buffer or any chunking", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aerogram-crlf-"));
  const blobs = createBlobStore({ kind: "fs", dir });
  t.after(async () => {
    await blobs.close();
    await rm(dir, { recursive: true, force: true });
  });
  const delivery = new Delivery({ store: undefined as never, blobs, events: undefined as never });
  const lf = Buffer.from(LF_MESSAGE);
  const crlf = Buffer.from(LF_MESSAGE.replace(/\n/g, "\r\n"));
  const expectedKey = createHash("sha256").update(crlf).digest("hex");

  const fromBuffer = await delivery.storeBlob(lf);
  // chunks of 1..7 bytes: a CR at a chunk end with its LF in the next one
  const chunks: Buffer[] = [];
  for (let i = 0, n = 1; i < lf.length; i += n, n = (n % 7) + 1) chunks.push(lf.subarray(i, i + n));
  const fromStream = await delivery.storeBlob(Readable.from(chunks));
  const crlfChunks: Buffer[] = [];
  for (let i = 0; i < crlf.length; i += 3) crlfChunks.push(crlf.subarray(i, i + 3));
  const fromCrlf = await delivery.storeBlob(Readable.from(crlfChunks));

  for (const blob of [fromBuffer, fromStream, fromCrlf]) {
    assert.equal(blob.key, expectedKey, "the key is the hash of the CRLF bytes");
    assert.equal(blob.size, crlf.length);
    assert.equal(blob.index.size, crlf.length);
    assert.equal(blob.index.lines, crlf.toString("latin1").split("\r\n").length - 1);
  }
  const stored = await collect(await blobs.get(expectedKey));
  assert.ok(stored.equals(crlf), "the blob is the CRLF message");
  assert.equal(hasBareLf(stored), false);

  const part = resolveSection(fromStream.index, "1");
  assert.ok(part);
  assert.equal(
    stored.subarray(part.read.offset, part.read.offset + part.read.length).toString(),
    "Grüße",
    "BODY[1] by the index's offsets",
  );
  const mime = resolveSection(fromStream.index, "1.MIME");
  assert.ok(mime);
  assert.equal(
    stored.subarray(mime.read.offset, mime.read.offset + mime.read.length).toString(),
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
  );
});
