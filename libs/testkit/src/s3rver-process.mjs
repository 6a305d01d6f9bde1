// One s3rver in a process of its own (startS3 in index.ts runs it): node
// --openssl-legacy-provider s3rver-process.mjs <directory> <bucket>.
//
// Why a process: s3rver 3.7 encrypts ListObjectsV2 continuation tokens with
// DES, which Node's OpenSSL 3 offers only with the legacy provider, and that
// can only be switched on at process start. In the test process every listing
// of more than one page (over 1000 objects) failed with a 500.
//
// Prints {"port": n} once listening; exits when its stdin closes (the test
// process ended, however it ended) or on SIGTERM.
import S3rver from "s3rver";

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket, configs: [] }],
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => {});
  process.exit(0);
}
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
