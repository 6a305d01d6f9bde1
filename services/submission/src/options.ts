/**
 * Submission's settings: everything an operator may change comes from
 * libs/config (SUBMISSION_*, SEND_LIMIT_*); tests override any of it.
 */
import { type Runtime, runtimeTls } from "@aerogram/runtime";
import {
  DEFAULT_DEADLINES,
  endpointFromConfig,
  type SmtpDeadlines,
  type SmtpEndpointOptions,
} from "@aerogram/smtp";
import type { SendLimitOptions } from "./send-limits.ts";
import type { SenderPolicy } from "./sender-policy.ts";

/** Ports: RFC 6409 587 (dev 5587), STARTTLS when TLS is configured; RFC 8314 465 (dev 4465), needs TLS. */
export interface SubmissionOptions extends SmtpEndpointOptions {
  /** AUTH over plain text from non-loopback clients (dev only). */
  allowInsecureAuth: boolean;
  maxMessageBytes: number;
  /** The deployment default; accounts and domains may override it (store senderPolicies). */
  senderPolicy: SenderPolicy;
  /** How long an account's effective sender policy is cached (a change reaches new sessions within it). */
  senderPolicyCacheMs: number;
  limits: SendLimitOptions;
  /**
   * A message for remote recipients only whose copies (its size times its
   * recipient domains) total at most this is kept in the queue rows instead
   * of the blob store (SUBMISSION_INLINE_QUEUE_MAX_BYTES; 0: never).
   */
  inlineQueueMaxBytes: number;
  /** How long a queued message is retried before it bounces (OUTBOUND_MAX_AGE). */
  queueMaxAgeMs: number;
  /** The DKIM key-encryption secret; undefined: no signing. */
  dkimSecret: string | undefined;
  socketTimeoutMs: number;
  deadlines: ConstructorParameters<typeof SmtpDeadlines>[0];
  spoolMemoryBytes: number;
  dedupeWindowSeconds: number;
}

export function submissionOptions(
  runtime: Runtime,
  dkimSecret: string | undefined,
  overrides: Partial<SubmissionOptions> = {},
): SubmissionOptions {
  const c = runtime.config;
  return {
    port: c.submission.port,
    securePort: c.submission.securePort,
    ...endpointFromConfig(c, runtimeTls(runtime)),
    allowInsecureAuth: c.submission.allowInsecureAuth,
    maxMessageBytes: c.submission.maxMessageBytes,
    senderPolicy: c.submission.senderPolicy,
    senderPolicyCacheMs: 5000,
    limits: c.submission.limits,
    inlineQueueMaxBytes: c.submission.inlineQueueMaxBytes,
    queueMaxAgeMs: c.outbound.maxAgeMs,
    dkimSecret,
    socketTimeoutMs: 5 * 60_000,
    deadlines: DEFAULT_DEADLINES,
    spoolMemoryBytes: 1024 * 1024,
    dedupeWindowSeconds: 24 * 3600,
    ...overrides,
  };
}
