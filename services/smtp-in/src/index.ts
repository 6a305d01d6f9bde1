/**
 * services/smtp-in: the MX front door. RFC 5321 with PIPELINING,
 * SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and STARTTLS; per-recipient
 * checks; delivery into Postgres + the blob store exactly once; then 250.
 */
import type { ServiceStarter } from "@aerogram/runtime";
import { optionsFromRuntime, SmtpInService } from "./smtp-in.ts";

export { endpointFromConfig, type SmtpEndpointOptions, type SmtpInOptions } from "./options.ts";
export { DEFAULT_RATE_LIMITS, type RateLimitOptions } from "./rate-limits.ts";
export { optionsFromRuntime, reverseName, SmtpInService } from "./smtp-in.ts";

export const startSmtpIn: ServiceStarter = (runtime) =>
  new SmtpInService(runtime, optionsFromRuntime(runtime)).start();
export { type DataCallback, type DataTransactionReport, runDataTransaction } from "./data-transaction.ts";
// The submission service (services/submission) speaks the same SMTP with the same connection class.
export { DEFAULT_DEADLINES, SmtpDeadlines } from "./deadlines.ts";
export { type SpooledMessage, spoolMessage } from "./message-spool.ts";
export { AerogramSmtpConnection } from "./protocol-connection.ts";
export { localError, SmtpReply } from "./smtp-errors.ts";
export { SmtpListeners } from "./smtp-listeners.ts";
export { AerogramSmtpServer, type BaseWiringOptions, baseServerOptions } from "./smtp-server-wiring.ts";
export { receivedHeader, rfc5322Date } from "./trace-headers.ts";
