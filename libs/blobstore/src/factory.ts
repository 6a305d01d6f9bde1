import type { Config } from "@aerogram/config";
import { FsBlobStore } from "./fs.ts";
import { S3BlobStore } from "./s3.ts";
import type { BlobStore } from "./types.ts";

/** The blob store the configuration asks for: S3 when a bucket is set, else a local directory. */
export function createBlobStore(config: Config["blobs"]): BlobStore {
  switch (config.kind) {
    case "s3":
      return new S3BlobStore({
        bucket: config.bucket,
        region: config.region,
        endpoint: config.endpoint,
        forcePathStyle: config.forcePathStyle,
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
      });
    case "fs":
      return new FsBlobStore({ dir: config.dir });
  }
}
