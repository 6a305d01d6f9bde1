/**
 * The submission service (RFC 6409 on 587, RFC 8314 implicit TLS on 465):
 * listeners and the smtp-server handlers that tie the protocol to libs/auth,
 * the sender policy, the send limits and acceptMessage. The protocol itself
 * (command parsing, line limits, deadlines) is SMTP-in's connection class,
 * with AUTH gated on TLS (connection.ts).
 */
import {
  Authenticator,
  oauthErrorChallenge,
  sharedTokenAuthenticator,
  type TokenAuthenticator,
  watchRevocation,
} from "@aerogram/auth";
import { Delivery, type FilteredDelivery, SieveFilter } from "@aerogram/delivery";
import { DkimSigner } from "@aerogram/dkim";
import type { Subscription } from "@aerogram/events";
import type { Logger } from "@aerogram/observability";
import type { Runtime, ServiceHandle } from "@aerogram/runtime";
import { localError, runDataTransaction, SmtpDeadlines, SmtpListeners, SmtpReply } from "@aerogram/smtp";
import type { Account } from "@aerogram/store";
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerDataStream,
  SMTPServerSession,
} from "smtp-server";
import { acceptMessage } from "./accept-message.ts";
import { createSubmissionServer } from "./connection.ts";
import { SubmissionMetrics } from "./metrics.ts";
import type { SubmissionOptions } from "./options.ts";
import { QueueCommitter } from "./queue-commit.ts";
import { type RecipientDsn, type RoutedRecipient, routeRecipient } from "./recipients.ts";
import { SendLimits } from "./send-limits.ts";
import { maySendAs, type SenderPolicy, SenderPolicyCache } from "./sender-policy.ts";

interface SessionState {
  account: Account | undefined;
  /** The login's effective sender policy, resolved at its first MAIL. */
  policy: SenderPolicy | undefined;
  /** Listening for the account's sessions-revoked beacon (libs/auth) once authenticated. */
  revocation?: Subscription;
  recipients: RoutedRecipient[];
  /** RFC 3461 NOTIFY/ORCPT per recipient (lower-cased address), only where given. */
  recipientDsn: Map<string, RecipientDsn>;
  transactions: number;
}

type Callback = (err?: Error | null) => void;

export class SubmissionService {
  private readonly log: Logger;
  private readonly metrics: SubmissionMetrics;
  private readonly auth: Authenticator;
  /** OAUTHBEARER/XOAUTH2; undefined without OIDC_ISSUER. */
  private readonly oauth: TokenAuthenticator | undefined;
  private readonly limits: SendLimits;
  private readonly delivery: Delivery;
  /** The per-recipient Sieve step for local recipients, as on SMTP-in (libs/delivery sieve-filter.ts). */
  private readonly filtered: FilteredDelivery;
  private readonly signer: DkimSigner | undefined;
  private readonly policies: SenderPolicyCache;
  private readonly queue: QueueCommitter;
  private readonly deadlines: SmtpDeadlines;
  private readonly sessions = new Map<string, SessionState>();
  private readonly listeners: SmtpListeners;
  private draining = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly opts: SubmissionOptions,
  ) {
    this.log = runtime.log.child({ component: "submission" });
    this.metrics = new SubmissionMetrics(runtime.metrics);
    this.auth = new Authenticator({
      store: runtime.store,
      limits: runtime.limits,
      log: this.log,
      metrics: runtime.metrics,
    });
    this.oauth = sharedTokenAuthenticator(
      { store: runtime.store, limits: runtime.limits, log: runtime.log, metrics: runtime.metrics },
      runtime.config.identity.oidc,
    );
    this.limits = new SendLimits(runtime.limits, opts.limits, this.log);
    this.delivery = new Delivery({ store: runtime.store, blobs: runtime.blobs, events: runtime.events });
    const sieve = runtime.config.filtering.sieve;
    this.filtered = new SieveFilter(
      {
        store: runtime.store,
        blobs: runtime.blobs,
        log: runtime.log.child({ component: "sieve" }),
        metrics: runtime.metrics,
      },
      {
        hostname: opts.hostname,
        maxActions: sieve.maxActions,
        maxRedirects: sieve.maxRedirects,
        queueMaxAgeMs: opts.queueMaxAgeMs,
      },
    );
    this.signer = opts.dkimSecret
      ? new DkimSigner({ store: runtime.store, secret: opts.dkimSecret })
      : undefined;
    this.deadlines = new SmtpDeadlines(opts.deadlines);
    this.queue = new QueueCommitter(runtime.store);
    this.policies = new SenderPolicyCache(runtime.store, opts.senderPolicy, opts.senderPolicyCacheMs);
    this.listeners = new SmtpListeners(opts, this.log, "submission");
  }

  async start(): Promise<ServiceHandle> {
    const endpoints: string[] = [];
    const listen = async (port: number, secure: boolean) => {
      const server = createSubmissionServer(
        {
          hostname: this.opts.hostname,
          secure,
          tls: this.opts.tls,
          maxMessageBytes: this.opts.maxMessageBytes,
          maxRecipients: this.opts.limits.recipientsPerMessage,
          socketTimeoutMs: this.opts.socketTimeoutMs,
          deadlines: this.deadlines,
          allowInsecureAuth: this.opts.allowInsecureAuth,
          oauth: this.oauth !== undefined,
        },
        {
          onConnect: (session, cb) => this.onConnect(session, cb),
          onAuth: (auth, session, cb) => void this.onAuth(auth, session, cb),
          onMailFrom: (address, session, cb) => void this.onMailFrom(address, session, cb),
          onRcptTo: (address, session, cb) => void this.onRcptTo(address, session, cb),
          onData: (stream, session, cb) => void this.onData(stream, session, cb),
          onClose: (session) => {
            this.sessions.get(session.id)?.revocation?.unsubscribe();
            this.sessions.delete(session.id);
          },
        },
      );
      const addr = await this.listeners.listen(server, port, secure);
      endpoints.push(`${secure ? "submissions" : "submission"} ${addr.address}:${addr.port}`);
    };
    await listen(this.opts.port, false);
    if (this.opts.securePort !== undefined && this.opts.tls) await listen(this.opts.securePort, true);
    this.log.info(
      { endpoints, dkim: this.signer ? "on" : "off (no DKIM_ENCRYPTION_KEY)" },
      "submission listening",
    );
    return {
      name: "submission",
      endpoints,
      connections: () => this.listeners.connections(),
      drain: (graceMs) => this.drain(graceMs),
    };
  }

  /** The bound ports, in start order (587-style first). */
  ports(): number[] {
    return this.listeners.ports();
  }

  private onConnect(session: SMTPServerSession, cb: Callback) {
    this.sessions.set(session.id, {
      account: undefined,
      policy: undefined,
      recipients: [],
      recipientDsn: new Map(),
      transactions: 0,
    });
    if (this.draining) return cb(new SmtpReply(421, "4.3.2", "Service shutting down, try again later"));
    cb();
  }

  /** The session's account; its credentials being revoked on any replica ends the session (421). */
  private authenticated(state: SessionState, sessionId: string, account: Account): void {
    state.account = account;
    state.revocation = watchRevocation(this.runtime.events, account.id, () =>
      this.listeners.endSession(sessionId, "4.7.0 Session ended: the account's credentials changed"),
    );
  }

  private async onAuth(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ) {
    const state = this.sessions.get(session.id);
    if (!state) return cb(localError());
    const method = auth.method as string;
    if ((method === "XOAUTH2" || method === "OAUTHBEARER") && this.oauth) {
      const verdict = await this.oauth.login({
        token: auth.accessToken ?? "",
        authzid: auth.username ?? "",
        remoteAddress: session.remoteAddress,
        protocol: "submission",
      });
      if (verdict.ok) {
        this.authenticated(state, session.id, verdict.account);
        return cb(null, { user: verdict.account.address });
      }
      if (verdict.reason === "unavailable" || verdict.reason === "keys_unavailable")
        return cb(new SmtpReply(454, "4.7.0", "Temporary authentication failure"));
      if (verdict.reason === "throttled")
        return cb(new SmtpReply(535, "5.7.8", "Authentication credentials invalid"));
      // RFC 7628 §3.2.2 (and XOAUTH2 likewise): the error JSON as a 334 challenge, then 535.
      const data = JSON.parse(
        Buffer.from(oauthErrorChallenge(this.oauth.openidConfiguration, verdict.reason), "base64").toString(),
      ) as Record<string, string>;
      return cb(null, { data } as unknown as SMTPServerAuthenticationResponse);
    }
    if (auth.method !== "PLAIN" && auth.method !== "LOGIN") {
      return cb(new SmtpReply(504, "5.5.4", "Unrecognized authentication type"));
    }
    const result = await this.auth.login({
      username: auth.username ?? "",
      password: auth.password ?? "",
      remoteAddress: session.remoteAddress,
      protocol: "submission",
    });
    if (result.ok) {
      this.authenticated(state, session.id, result.account);
      state.policy = undefined;
      return cb(null, { user: result.account.address });
    }
    if (result.reason === "unavailable") {
      return cb(new SmtpReply(454, "4.7.0", "Temporary authentication failure"));
    }
    // RFC 4954 §6: 535 5.7.8 for bad credentials; a throttled login looks the same to the client.
    cb(new SmtpReply(535, "5.7.8", "Authentication credentials invalid"));
  }

  private async onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback) {
    const state = this.sessions.get(session.id);
    if (!state) return cb(localError());
    if (this.draining) return cb(new SmtpReply(421, "4.3.2", "Service shutting down, try again later"));
    // Submission relays only for authenticated users (RFC 6409 §4.3, RFC 4954 §6: 530 5.7.0).
    if (!state.account) return cb(new SmtpReply(530, "5.7.0", "Authentication required"));
    state.recipients = [];
    state.recipientDsn = new Map();
    if (state.policy === undefined) {
      try {
        state.policy = await this.policies.policyFor(state.account.id);
      } catch (err) {
        this.log.warn({ err, session: session.id }, "sender policy lookup failed");
        return cb(new SmtpReply(451, "4.3.0", "Temporary local problem, try again later"));
      }
    }
    if (!maySendAs(state.account, address.address, state.policy)) {
      this.metrics.messages.inc({ result: "sender_denied" });
      return cb(
        new SmtpReply(550, "5.7.1", `Not authorised to send as <${address.address}>`, "sender_denied"),
      );
    }
    cb();
  }

  private async onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback) {
    const state = this.sessions.get(session.id);
    if (!state) return cb(localError());
    const routed = await routeRecipient(
      this.runtime.store,
      address.address,
      this.runtime.config.identity.recipientDelimiter,
    );
    if (routed instanceof SmtpReply) return cb(routed);
    // A forwarding address routes to several targets. RFC 3461 §4: NOTIFY and ORCPT
    // (smtp-server checked their syntax) go with each; a repeated RCPT's last ones count.
    for (const one of Array.isArray(routed) ? routed : [routed]) {
      const key = one.address.toLowerCase();
      if (!state.recipients.some((r) => r.address.toLowerCase() === key)) state.recipients.push(one);
      if (address.dsn?.notify?.length || address.dsn?.orcpt) {
        state.recipientDsn.set(key, {
          ...(address.dsn.notify?.length ? { notify: address.dsn.notify } : {}),
          ...(address.dsn.orcpt ? { orcpt: address.dsn.orcpt } : {}),
        });
      } else state.recipientDsn.delete(key);
    }
    cb();
  }

  private async onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    cb: (err?: Error | null, message?: string) => void,
  ) {
    const state = this.sessions.get(session.id);
    const report = {
      log: this.log,
      session: session.id,
      count: (result: "aborted" | "failed") => this.metrics.messages.inc({ result }),
      failedMessage: "submission failed; the client will retry",
    };
    await runDataTransaction(stream, this.opts.spoolMemoryBytes, cb, report, async (spooled) => {
      if (!state?.account || state.recipients.length === 0) return cb(localError());
      if (stream.sizeExceeded) {
        this.metrics.messages.inc({ result: "too_big" });
        return cb(new SmtpReply(552, "5.3.4", "Message exceeds fixed maximum message size"));
      }
      state.transactions++;
      const transactionId = `${session.id}.${state.transactions}`;
      const outcome = await acceptMessage(
        {
          store: this.runtime.store,
          delivery: this.delivery,
          filtered: this.filtered,
          blobs: this.runtime.blobs,
          limits: this.limits,
          queue: this.queue,
          signer: this.signer,
          hostname: this.opts.hostname,
          senderPolicy: state.policy ?? this.opts.senderPolicy,
          queueMaxAgeMs: this.opts.queueMaxAgeMs,
          dedupeWindowSeconds: this.opts.dedupeWindowSeconds,
          wholeInMemoryBytes: this.opts.spoolMemoryBytes,
          inlineQueueMaxBytes: this.opts.inlineQueueMaxBytes,
        },
        spooled,
        {
          account: state.account,
          sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          recipients: state.recipients,
          dsn: {
            ret:
              session.envelope.dsn?.ret === "FULL" || session.envelope.dsn?.ret === "HDRS"
                ? session.envelope.dsn.ret
                : null,
            envid: session.envelope.dsn?.envid ?? null,
            recipients: state.recipientDsn,
          },
          client: {
            ip: session.remoteAddress,
            helo: session.hostNameAppearsAs || "unknown",
            clientHostname: session.clientHostname,
            protocol: session.transmissionType || "ESMTPA",
          },
          transactionId,
        },
      );
      if (outcome instanceof SmtpReply) {
        this.metrics.messages.inc({ result: outcome.reason });
        return cb(outcome);
      }
      this.metrics.messages.inc({ result: "accepted" });
      this.metrics.recipients.inc({ kind: "local" }, outcome.local);
      this.metrics.recipients.inc({ kind: "remote" }, outcome.queued);
      if (outcome.dkim !== "off") this.metrics.dkim.inc({ result: outcome.dkim });
      for (const err of outcome.sideEffectErrors) {
        this.log.warn(
          { err, session: session.id, id: transactionId },
          "sieve side effect failed after delivery",
        );
      }
      this.log.info(
        {
          session: session.id,
          id: transactionId,
          account: state.account.id,
          messageId: outcome.messageId,
          local: outcome.local,
          queued: outcome.queued,
          dkim: outcome.dkim,
          duplicate: outcome.duplicate,
          placements: outcome.placements,
          size: spooled.size,
        },
        "message submitted",
      );
      cb(null, `2.0.0 OK ${transactionId}${outcome.queued > 0 ? " queued" : ""}`);
    });
  }

  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    await this.listeners.drain(graceMs);
    this.deadlines.close();
  }
}
