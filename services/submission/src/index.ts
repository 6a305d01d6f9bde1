/**
 * services/submission (issue 19): authenticated mail submission on 587
 * (STARTTLS) and 465 (implicit TLS): local recipients delivered now, remote
 * ones queued for services/outbound.
 */
import { dkimSecret } from "@aerogram/dkim";
import type { Runtime, ServiceStarter } from "@aerogram/runtime";
import { type SubmissionOptions, submissionOptions } from "./options.ts";
import { SubmissionService } from "./submission.ts";

export { type AcceptContext, acceptMessage } from "./accept-message.ts";
export { isLoopback } from "./connection.ts";
export { fromAddresses, prepareHead, splitHead } from "./message-headers.ts";
export { type SubmissionOptions, submissionOptions } from "./options.ts";
export { maySendAs, type SenderPolicy } from "./sender-policy.ts";
export { SubmissionService } from "./submission.ts";

/** The DKIM key-encryption secret the runtime's configuration gives. */
export function runtimeDkimSecret(runtime: Runtime): string | undefined {
  const c = runtime.config;
  return dkimSecret({
    configured: c.dkimEncryptionKey,
    dataDir: c.dataDir,
    embedded: c.database.url === undefined,
  });
}

export function startSubmissionService(runtime: Runtime, overrides: Partial<SubmissionOptions> = {}) {
  return new SubmissionService(runtime, submissionOptions(runtime, runtimeDkimSecret(runtime), overrides));
}

export const startSubmission: ServiceStarter = (runtime) => startSubmissionService(runtime).start();
