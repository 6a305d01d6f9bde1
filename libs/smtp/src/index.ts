/**
 * libs/smtp: the SMTP server pieces SMTP-in and submission share — the
 * smtp-server connection with our RFC 5321 fixes, listeners with drain,
 * deadlines, the DATA transaction and its spool, replies with enhanced
 * status codes, the Received trace header and the endpoint options.
 */
export { type DataCallback, type DataTransactionReport, runDataTransaction } from "./data-transaction.ts";
export { DEFAULT_DEADLINES, type SmtpDeadlineOptions, SmtpDeadlines } from "./deadlines.ts";
export { endpointFromConfig, type SmtpEndpointOptions } from "./endpoint.ts";
export type { SmtpLimitName } from "./limit-names.ts";
export { type SpooledMessage, type SpoolOptions, spoolMessage } from "./message-spool.ts";
export {
  AerogramSmtpConnection,
  BoundedCommandStream,
  MAX_COMMAND_LINE_OCTETS,
} from "./protocol-connection.ts";
export { ENHANCED_PREFIX, localError, SmtpReply } from "./smtp-errors.ts";
export { SmtpListeners } from "./smtp-listeners.ts";
export {
  AerogramSmtpServer,
  type BaseWiringOptions,
  baseServerOptions,
  type Handlers,
} from "./smtp-server-wiring.ts";
export { receivedHeader, rfc5322Date, type TraceInput } from "./trace-headers.ts";
