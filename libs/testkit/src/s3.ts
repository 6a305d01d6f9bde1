/** A real S3-compatible server (s3rver) per test file, in a child process (s3rver-process.mjs says why). */
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { uniqueId } from "./servers.ts";
import { tempDir } from "./temp.ts";

export interface TestS3 {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/** Starts s3rver on a free loopback port with one bucket. */
export async function startS3(): Promise<TestS3> {
  const { path: directory } = await tempDir("aerogram-s3-");
  // Bucket names must be DNS-valid: lowercase letters, digits and hyphens.
  const bucket = `aerogram-t-${uniqueId()}`;
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", join(import.meta.dirname, "s3rver-process.mjs"), directory, bucket],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`s3rver did not start within 30 s: ${stderr}`)),
        30_000,
      );
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const line = /^(\{.*\})\n/.exec(out);
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line[1]!) as { port: number }).port);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited (${code}) before listening: ${stderr}`));
      });
    });
  } catch (err) {
    child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
