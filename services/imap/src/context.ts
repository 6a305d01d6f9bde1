/** What every session of one gateway process shares. */
import type { Authenticator, ConnectionLimiter, TokenAuthenticator } from "@aerogram/auth";
import type { ImapLimits } from "@aerogram/config";
import type { Delivery } from "@aerogram/delivery";
import type { TlsSource } from "@aerogram/net";
import type { Runtime } from "@aerogram/runtime";
import type { Mailboxes, Messages, OrphanSubscriptions } from "@aerogram/store";
import type { MessageCache } from "./fetch/message-cache.ts";
import type { MailboxHeads } from "./mailbox-heads.ts";
import type { ImapMetrics } from "./metrics.ts";

export interface ServerContext {
  readonly runtime: Runtime;
  readonly auth: Authenticator;
  /** OAUTHBEARER/XOAUTH2 (libs/auth oauth.ts); undefined without OIDC_ISSUER. */
  readonly oauth?: TokenAuthenticator | undefined;
  /** Authenticated sessions per account, cluster-wide (NO [LIMIT] beyond). */
  readonly connections: ConnectionLimiter;
  readonly delivery: Delivery;
  /** The store's repositories the commands use (runtime.store's, named for the gateway). */
  readonly imapMailboxes: Mailboxes;
  readonly imapMessages: Messages;
  readonly orphanSubscriptions: OrphanSubscriptions;
  readonly metrics: ImapMetrics;
  /** STARTTLS and implicit TLS; undefined in dev (then plaintext LOGIN is allowed). */
  readonly tls: TlsSource | undefined;
  readonly hostname: string;
  /** IMAP_APPEND_LIMIT_BYTES, IMAP_AUTOLOGOUT_MS, IMAP_PREAUTH_IDLE_MS, IMAP_LOGIN_DEADLINE_MS. */
  readonly limits: ImapLimits;
  /** What the process knows of mailboxes' HIGHESTMODSEQ: when a command may skip the change check. */
  readonly heads: MailboxHeads;
  /** The immutable part of FETCH rows (fetch/message-cache.ts). */
  readonly messageCache: MessageCache;
}
