/**
 * SMTP-in's tunables. The listener ports, bind address, host name and TLS files
 * come from libs/config; the rest has defaults here (constructor options, so
 * tests and a later config change can set them without touching the service).
 */
import type { GroupCommitOptions } from "@aerogram/delivery";
import type { ProxyProtocolOptions } from "@aerogram/net";
import { DEFAULT_DEADLINES, type SmtpDeadlineOptions } from "./deadlines.ts";
import { DEFAULT_DEDUPE_WINDOW_SECONDS } from "./dedupe.ts";
import type { DnsLookup } from "./dns-resolver.ts";
import { DEFAULT_RATE_LIMITS, type RateLimitOptions } from "./rate-limits.ts";

export interface SmtpInOptions {
  /** Plain port (STARTTLS when TLS is configured); default config.ports.smtp, 0 = any. */
  port: number;
  /** Implicit-TLS port (RFC 8314); default config.ports.smtps, needs TLS. */
  securePort: number | undefined;
  bindAddress: string;
  /** Our name in the greeting and trace headers. */
  hostname: string;
  tls: { key: Buffer; cert: Buffer } | undefined;
  /**
   * PROXY protocol v1/v2 on both ports (config.proxyProtocol): the client's
   * address from the header is the session's, in limits, logs, Received and
   * Authentication-Results. Unset: no header expected.
   */
  proxyProtocol: ProxyProtocolOptions | undefined;
  /** SIZE (RFC 1870): larger messages get 552. */
  maxMessageBytes: number;
  /** Recipients per transaction (RFC 5321 §4.5.3.1.8 asks for at least 100); beyond: 452. */
  maxRecipients: number;
  /** Longest DATA line in octets with CRLF (RFC 5321 §4.5.3.1.6: 1000); 0 = no limit. */
  maxLineOctets: number;
  /** Idle timeout while waiting for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes). */
  socketTimeoutMs: number;
  /** Overall limits per command line and per message that trickled bytes don't extend (deadlines.ts). */
  deadlines: SmtpDeadlineOptions;
  /** Upper bound for the SPF/DKIM/DMARC checks of one message. */
  authTimeBoxMs: number;
  /** DNS for SPF/DKIM/DMARC and reverse lookups; default: the system resolver, cached and time-boxed. */
  resolver: DnsLookup | undefined;
  dedupeWindowSeconds: number;
  /** Message bytes kept in memory while receiving; the rest spills to a temp file. */
  spoolMemoryBytes: number;
  rateLimits: RateLimitOptions;
  /** Deliveries arriving together share one transaction (libs/delivery group-commit.ts); default DEFAULT_GROUP_COMMIT. */
  groupCommit?: GroupCommitOptions;
}

export const DEFAULT_OPTIONS = {
  maxMessageBytes: 50 * 1024 * 1024,
  maxRecipients: 1000,
  maxLineOctets: 1000,
  socketTimeoutMs: 5 * 60_000,
  deadlines: DEFAULT_DEADLINES,
  authTimeBoxMs: 3000,
  dedupeWindowSeconds: DEFAULT_DEDUPE_WINDOW_SECONDS,
  spoolMemoryBytes: 1024 * 1024,
  rateLimits: DEFAULT_RATE_LIMITS,
} satisfies Partial<SmtpInOptions>;
