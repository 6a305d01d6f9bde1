/**
 * The outbound tests' shared setup: a runtime on a fresh test database and a
 * private s3rver, with one local sender account (whose INBOX receives the
 * DSNs), and the teardown that undoes it.
 */
import { loadConfig } from "@aerogram/config";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import { createTestDatabase, startS3, uniqueId } from "@aerogram/testkit";

export interface OutboundFixture {
  runtime: Runtime;
  senderId: number;
  inboxId: number;
  stop(): Promise<void>;
}

export async function startOutboundFixture(service: string, poolMax: number): Promise<OutboundFixture> {
  const db = await createTestDatabase();
  const s3 = await startS3();
  const runtime = await createRuntime(
    loadConfig({
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: String(poolMax),
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      NATS_SUBJECT_PREFIX: `t${uniqueId()}`,
      MAIL_HOSTNAME: "out.test.example",
      LOG_LEVEL: "silent",
    }),
    { service },
  );
  const account = await runtime.store.accounts.create({
    address: "sender@local.test",
    password: "pw-pw-pw-pw",
  });
  const inboxId = (await runtime.store.mailboxes.byName(account.id, "INBOX"))!.id;
  return {
    runtime,
    senderId: account.id,
    inboxId,
    async stop() {
      await runtime.close();
      await s3.stop();
      await db.drop();
    },
  };
}
