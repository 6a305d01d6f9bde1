/**
 * Blob store on S3 or an S3-compatible service (MinIO, Ceph, R2, s3rver): the
 * shared store behind horizontally scaled gateways. Objects are named
 * `<prefix><sha256>` and never rewritten, so they need no locking.
 */
import { createReadStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { assertBlobKey, sha256Hex } from "./keys.ts";
import { assertRange, emptyStream, readIntoBuffer } from "./reading.ts";
import { removeQuietly, type SpooledContent, spoolPath, spoolToFile } from "./spool.ts";
import { BLOB_KEY_RE, BlobNotFoundError, type BlobStore, type PutResult } from "./types.ts";

export interface S3BlobStoreOptions {
  bucket: string;
  region: string;
  /** Custom endpoint (MinIO, s3rver, ...); unset for AWS. */
  endpoint?: string | undefined;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers want. */
  forcePathStyle?: boolean;
  /** Static credentials; when either is unset the SDK's default chain (env, profile, instance role) is used. */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Prepended to every object name, e.g. "blobs/", to share a bucket. */
  prefix?: string;
  /** Local directory for spooling puts while they are hashed; default os.tmpdir(). */
  spoolDir?: string;
  /**
   * Blobs larger than this go up as a multipart upload of parts this size
   * (at least 5 MiB, S3's minimum part). Default 8 MiB.
   */
  partSize?: number;
  /** Objects per ListObjectsV2 page in list() (default 1000, S3's maximum). */
  listPageSize?: number;
  /** TCP connect timeout in ms (default 5000). */
  connectionTimeoutMs?: number;
  /**
   * Time allowed from sending a request until its response headers arrive, and the longest a
   * connection may sit idle (including a download paused by a slow reader), in ms (default 60000).
   */
  requestTimeoutMs?: number;
}

const MiB = 1024 * 1024;
const MIN_PART_SIZE = 5 * MiB;
const MAX_PARTS = 10_000;
/** Parts uploaded in parallel; lib-storage buffers at most queueSize × partSize bytes per upload. */
const UPLOAD_QUEUE_SIZE = 4;

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly spoolDir: string;
  readonly partSize: number;
  readonly listPageSize: number;
  readonly #client: S3Client;
  readonly #endpointLabel: string;
  #spoolDirReady: Promise<unknown> | undefined;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? "";
    this.spoolDir = options.spoolDir ?? tmpdir();
    this.partSize = Math.max(options.partSize ?? 8 * MiB, MIN_PART_SIZE);
    this.listPageSize = options.listPageSize ?? 1000;
    this.#endpointLabel = options.endpoint ?? `AWS S3 (${options.region})`;
    const timeout = options.requestTimeoutMs ?? 60_000;
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
      // The SDK's standard strategy: 3 attempts with jittered backoff on throttling and 5xx.
      maxAttempts: 3,
      // Without timeouts a blackholed endpoint hangs a delivery or /readyz forever. The socket
      // timeout also ends downloads whose body stalls after the headers arrived.
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        requestTimeout: timeout,
        throwOnRequestTimeout: true,
        socketTimeout: timeout,
      },
      // Newer SDKs send streaming uploads as aws-chunked bodies with trailing CRC checksums,
      // which many S3-compatible servers reject. We send our own SHA-256 on single puts instead.
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
  }

  /** The object name of a blob. */
  objectKey(key: string): string {
    assertBlobKey(key);
    return this.prefix + key;
  }

  async put(content: Readable | AsyncIterable<Uint8Array>): Promise<PutResult> {
    const spooled = await spoolToFile(content, spoolPath(await this.#ensureSpoolDir()), { durable: false });
    try {
      if (await this.#objectExists(spooled.key))
        return { key: spooled.key, size: spooled.size, created: false };
      if (spooled.size <= this.partSize) {
        // Bounded by partSize, and a Buffer body lets the SDK retry the request (it never retries streams).
        await this.#putObject(spooled.key, await readFile(spooled.path));
      } else {
        await this.#multipartUpload(spooled);
      }
      return { key: spooled.key, size: spooled.size, created: true };
    } finally {
      await removeQuietly(spooled.path);
    }
  }

  async putBuffer(content: Uint8Array): Promise<PutResult> {
    const key = sha256Hex(content);
    if (await this.#objectExists(key)) return { key, size: content.byteLength, created: false };
    await this.#putObject(key, content);
    return { key, size: content.byteLength, created: true };
  }

  get(key: string): Promise<Readable> {
    return this.getRange(key, 0, Number.POSITIVE_INFINITY);
  }

  async getRange(key: string, offset: number, length: number): Promise<Readable> {
    assertRange(offset, length);
    const objectKey = this.objectKey(key);
    if (length === 0) {
      // HTTP ranges cannot be empty, but a missing blob must still be reported.
      if (!(await this.#objectExists(key))) throw new BlobNotFoundError(key);
      return emptyStream();
    }
    const range =
      offset === 0 && length === Number.POSITIVE_INFINITY
        ? undefined
        : `bytes=${offset}-${length === Number.POSITIVE_INFINITY ? "" : offset + length - 1}`;
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, ...(range ? { Range: range } : {}) }),
      );
      const body = toReadable(out.Body);
      if (range && out.ContentRange?.endsWith("/0")) {
        // An empty object has no satisfiable range; S3 says 416, but some compatible servers
        // (s3rver) answer 206 and promise a byte they never send. Don't wait for it.
        body.destroy();
        return emptyStream();
      }
      return body;
    } catch (err) {
      if (isMissingObject(err)) throw new BlobNotFoundError(key);
      // S3 answers 416 when the range starts at or past the end (an empty blob has no satisfiable
      // range at all); S3 checks the key first, so the blob exists and the answer is "no bytes".
      if (errorName(err) === "InvalidRange" || httpStatus(err) === 416) return emptyStream();
      throw err;
    }
  }

  read(key: string, offset?: number, length?: number): Promise<Buffer> {
    return readIntoBuffer(this, key, offset, length);
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const out = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isMissingObject(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 deletes are idempotent: a missing object is a success.
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async *list(opts: { startAfter?: string } = {}): AsyncIterable<string> {
    // Pages follow continuation tokens, which stay valid while objects are deleted under them.
    const pages = paginateListObjectsV2(
      { client: this.#client, pageSize: this.listPageSize },
      {
        Bucket: this.bucket,
        ...(this.prefix ? { Prefix: this.prefix } : {}),
        ...(opts.startAfter ? { StartAfter: this.prefix + opts.startAfter } : {}),
      },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(this.prefix.length);
        // Other objects sharing the bucket or prefix are not ours to report (or garbage-collect).
        if (key !== undefined && BLOB_KEY_RE.test(key)) yield key;
      }
    }
  }

  async ping(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // Name the bucket and endpoint: a bare "ECONNREFUSED" or "NotFound" on /readyz says too little.
      throw new Error(
        `S3 bucket ${this.bucket} at ${this.#endpointLabel} is not usable: ${errorSummary(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  async #objectExists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async #putObject(key: string, body: Uint8Array): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: body,
        ContentLength: body.byteLength,
        // The key is the SHA-256, so S3 can verify end to end that it stored exactly these bytes.
        ChecksumSHA256: Buffer.from(key, "hex").toString("base64"),
        ContentType: "application/octet-stream",
      }),
    );
  }

  /** Streams a spooled file up in parts; lib-storage retries parts and aborts the upload on failure. */
  async #multipartUpload(spooled: SpooledContent): Promise<void> {
    const body = createReadStream(spooled.path);
    try {
      const upload = new Upload({
        client: this.#client,
        params: {
          Bucket: this.bucket,
          Key: this.objectKey(spooled.key),
          Body: body,
          ContentType: "application/octet-stream",
        },
        // S3 allows at most 10,000 parts; grow the part size rather than fail on a huge blob.
        partSize: Math.max(this.partSize, Math.ceil(spooled.size / MAX_PARTS)),
        queueSize: UPLOAD_QUEUE_SIZE,
      });
      await upload.done();
    } finally {
      // A failed upload stops reading midway; release the file descriptor.
      body.destroy();
    }
  }

  #ensureSpoolDir(): Promise<string> {
    this.#spoolDirReady ??= mkdir(this.spoolDir, { recursive: true }).catch((err: unknown) => {
      this.#spoolDirReady = undefined;
      throw err;
    });
    return this.#spoolDirReady.then(() => this.spoolDir);
  }
}

/** The SDK's GetObject body is a Node stream in Node, but typed as a union of runtimes' stream types. */
function toReadable(body: unknown): Readable {
  if (body instanceof Readable) return body;
  if (body === undefined) return emptyStream();
  if (body instanceof ReadableStream) return Readable.fromWeb(body as WebReadableStream);
  throw new TypeError("unexpected S3 response body type");
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/**
 * GetObject says NoSuchKey; HEAD responses have no body, so HeadObject can only say
 * NotFound (404). NoSuchBucket is deliberately not "missing": it is a misconfiguration.
 */
function isMissingObject(err: unknown): boolean {
  const name = errorName(err);
  if (name === "NoSuchKey" || name === "NotFound") return true;
  return httpStatus(err) === 404 && name !== "NoSuchBucket";
}

function errorSummary(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = httpStatus(err);
  const code = (err as NodeJS.ErrnoException).code;
  const message = err.message || err.name;
  return [message, code && !message.includes(code) ? code : "", status ? `HTTP ${status}` : ""]
    .filter(Boolean)
    .join(", ");
}
