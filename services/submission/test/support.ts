/**
 * Fixtures: a submission service and an outbound worker on one real runtime
 * (own database — Postgres, or PGlite for the *.embedded.test.ts twins via
 * TEST_DATABASE — s3rver bucket, NATS prefix, Redis prefix), a TLS
 * certificate, swaks as the client, and a look into an account's INBOX.
 */
import { execFile } from "node:child_process";
import { createWorker, type OutboundWorker, type WorkerOptions } from "@aerogram/outbound";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  selfSignedCertificate,
  startTestBackend,
  type TestDatabase,
  type TestS3,
  tempDir,
} from "@aerogram/testkit";
import { type SubmissionOptions, SubmissionService, submissionOptions } from "../src/index.ts";

export const DKIM_SECRET = "test-dkim-secret-0123456789";

export interface Harness {
  runtime: Runtime;
  db: TestDatabase;
  s3: TestS3;
  /** 587-style (STARTTLS) and 465-style (implicit TLS) ports. */
  port: number;
  securePort: number;
  start(overrides?: Partial<SubmissionOptions>): Promise<{ port: number; stop(): Promise<void> }>;
  worker(overrides?: Partial<WorkerOptions>): OutboundWorker;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const backend = await startTestBackend({ nats: true, redis: true });
  const { db, s3 } = backend;
  const dir = await tempDir("aerogram-submission-");
  const tls = selfSignedCertificate(dir.path, "submit.test.example");
  const config = backend.config({
    DATABASE_POOL_MAX: "6",
    MAIL_HOSTNAME: "submit.test.example",
    SMTP_PORT: "0",
    SUBMISSION_PORT: "0",
    SUBMISSIONS_PORT: "0",
    TLS_CERT_FILE: tls.certFile,
    TLS_KEY_FILE: tls.keyFile,
    DKIM_ENCRYPTION_KEY: DKIM_SECRET,
    LOG_LEVEL: "silent",
    ...env,
  });
  const runtime = await createRuntime(config, { service: "submission-test" });
  const stops: (() => Promise<void>)[] = [];
  const start = async (overrides: Partial<SubmissionOptions> = {}) => {
    const service = new SubmissionService(runtime, submissionOptions(runtime, DKIM_SECRET, overrides));
    const handle = await service.start();
    const stop = () => handle.drain(0);
    stops.push(stop);
    return { port: service.ports()[0]!, ports: service.ports(), stop };
  };
  const main = await start();
  return {
    runtime,
    db,
    s3,
    port: main.port,
    securePort: main.ports[1]!,
    start,
    worker: (overrides = {}) =>
      createWorker(runtime, {
        pollMs: 50,
        leaseMs: 5000,
        timeoutMs: 5000,
        retryScheduleMs: [60_000],
        ...overrides,
      }),
    async close() {
      for (const s of stops) await s();
      await runtime.close();
      await backend.stop();
      await dir.remove();
    },
  };
}

export interface SwaksResult {
  code: number;
  output: string;
}

/** Runs swaks (the Debian package) and returns its transcript. */
export function swaks(args: string[]): Promise<SwaksResult> {
  return new Promise((resolve) => {
    execFile(
      "swaks",
      ["--hide-informational", "--timeout", "20", ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** The raw messages in an account's INBOX, oldest first. */
export async function inbox(runtime: Runtime, address: string): Promise<string[]> {
  const account = await runtime.store.accounts.byAddress(address);
  if (!account) throw new Error(`no account ${address}`);
  const box = await runtime.store.mailboxes.byName(account.id, "INBOX");
  const { rows } = await runtime.store.pool.query<{ blob_key: string }>(
    "SELECT blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid",
    [box!.id],
  );
  return Promise.all(rows.map(async (r) => (await runtime.blobs.read(r.blob_key)).toString("utf8")));
}
