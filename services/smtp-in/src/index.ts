/**
 * services/smtp-in: the MX front door. RFC 5321 with PIPELINING,
 * SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and STARTTLS; per-recipient
 * checks; delivery into Postgres + the blob store exactly once; then 250.
 * The SMTP server pieces it shares with submission live in libs/smtp.
 */
import type { ServiceStarter } from "@aerogram/runtime";
import { optionsFromRuntime, SmtpInService } from "./smtp-in.ts";

export type { SmtpInOptions } from "./options.ts";
export { DEFAULT_RATE_LIMITS, type RateLimitOptions } from "./rate-limits.ts";
export { optionsFromRuntime, reverseName, SmtpInService } from "./smtp-in.ts";

export const startSmtpIn: ServiceStarter = (runtime) =>
  new SmtpInService(runtime, optionsFromRuntime(runtime)).start();
