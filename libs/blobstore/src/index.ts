export { createBlobStore } from "./factory.ts";
export { FsBlobStore, type FsBlobStoreOptions } from "./fs.ts";
export { BlobReadCache, withReadCache } from "./read-cache.ts";
export { S3BlobStore, type S3BlobStoreOptions } from "./s3.ts";
export * from "./types.ts";
