/**
 * SMTP-in's tunables. Everything comes from libs/config (the limits from
 * SMTP_* variables, see protocol-limits.ts there); the defaults here are the
 * same values, for services built without a runtime config (benches, tests),
 * which may also override any option.
 */
import type { FilteringConfig, SmtpLimits } from "@aerogram/config";
import type { GroupCommitOptions } from "@aerogram/delivery";
import { DEFAULT_DEADLINES, type SmtpDeadlineOptions, type SmtpEndpointOptions } from "@aerogram/smtp";
import { RspamdClient } from "@aerogram/spam";
import { DEFAULT_DEDUPE_WINDOW_SECONDS } from "./dedupe.ts";
import type { DnsLookup } from "./dns-resolver.ts";
import type { InboundFilterOptions } from "./inbound-filter.ts";
import { DEFAULT_RATE_LIMITS, type RateLimitOptions } from "./rate-limits.ts";

/** Ports: config.ports.smtp and config.ports.smtps. */
export interface SmtpInOptions extends SmtpEndpointOptions {
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
  /**
   * How long the SPF/DKIM/DMARC verdicts of an unsigned message are reused for
   * the next one with the same client IP, HELO, MAIL FROM and From:
   * (auth-results.ts AuthVerdictCache); 0 = every message is checked.
   */
  authCacheMs: number;
  /** DNS for SPF/DKIM/DMARC and reverse lookups; default: the system resolver, cached and time-boxed. */
  resolver: DnsLookup | undefined;
  dedupeWindowSeconds: number;
  /** Message bytes kept in memory while receiving; the rest spills to a temp file. */
  spoolMemoryBytes: number;
  /** How long RCPT TO reuses an address's account (recipient-policy.ts); 0 = every RCPT looks it up. */
  recipientCacheMs: number;
  /** How long the 220 waits to catch a client that talks first (libs/smtp protocol-connection.ts); 0 = greet at once. */
  greetingDelayMs: number;
  rateLimits: RateLimitOptions;
  /** Deliveries arriving together share one transaction (libs/delivery group-commit.ts); default DEFAULT_GROUP_COMMIT. */
  groupCommit?: GroupCommitOptions;
  /** rspamd and DMARC enforcement (inbound-filter.ts). */
  filter: InboundFilterOptions;
}

export const DEFAULT_OPTIONS = {
  maxMessageBytes: 50 * 1024 * 1024,
  maxRecipients: 1000,
  maxLineOctets: 1000,
  socketTimeoutMs: 5 * 60_000,
  deadlines: DEFAULT_DEADLINES,
  authTimeBoxMs: 3000,
  authCacheMs: 10_000,
  dedupeWindowSeconds: DEFAULT_DEDUPE_WINDOW_SECONDS,
  spoolMemoryBytes: 1024 * 1024,
  recipientCacheMs: 5000,
  greetingDelayMs: 0,
  rateLimits: DEFAULT_RATE_LIMITS,
  filter: { rspamd: undefined, unavailable: "deliver", maxScanBytes: 20 * 1024 * 1024, dmarcEnforce: true },
} satisfies Partial<SmtpInOptions>;

/** The configured limits (SMTP_* variables) as service options. */
export function optionsFromLimits(l: SmtpLimits): Partial<SmtpInOptions> {
  return {
    maxMessageBytes: l.maxMessageBytes,
    maxRecipients: l.maxRecipients,
    maxLineOctets: l.maxLineOctets,
    socketTimeoutMs: l.idleTimeoutMs,
    deadlines: {
      commandMs: l.commandDeadlineMs,
      dataMs: l.dataDeadlineMs,
      dataMinBytesPerSecond: l.dataMinBytesPerSecond,
    },
    authTimeBoxMs: l.authCheckTimeoutMs,
    authCacheMs: l.authCacheMs,
    dedupeWindowSeconds: l.dedupeWindowSeconds,
    spoolMemoryBytes: l.spoolMemoryBytes,
    recipientCacheMs: l.recipientCacheMs,
    greetingDelayMs: l.greetingDelayMs,
    rateLimits: {
      connectionsPerIp: l.maxConnectionsPerIp,
      messagesPerMinutePerIp: l.messagesPerMinutePerIp,
      messagesPerMinutePerRecipient: l.messagesPerMinutePerRecipient,
      recipientBudgetMax: l.recipientBudgetMax,
    },
  };
}

/** RSPAMD_* and DMARC_ENFORCE as the filter's options. */
export function filterOptionsFromConfig(f: FilteringConfig): InboundFilterOptions {
  return {
    rspamd: f.rspamdUrl
      ? new RspamdClient({
          url: f.rspamdUrl,
          ...(f.rspamdControllerUrl ? { controllerUrl: f.rspamdControllerUrl } : {}),
          ...(f.rspamdPassword ? { password: f.rspamdPassword } : {}),
          timeoutMs: f.rspamdTimeoutMs,
        })
      : undefined,
    unavailable: f.rspamdUnavailable,
    maxScanBytes: f.rspamdMaxScanBytes,
    dmarcEnforce: f.dmarcEnforce,
  };
}
