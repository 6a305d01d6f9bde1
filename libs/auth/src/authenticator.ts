/**
 * Checks logins for the IMAP and POP3 gateways, the same way for both:
 *
 * - Failures are counted per client IP and per login name in the shared
 *   limiter (Redis across replicas). Past a threshold, further attempts are
 *   refused without checking the password for an exponentially growing time
 *   (capped), which stops password guessing from any number of replicas.
 * - Every failure is logged with the IP; metrics count results by protocol.
 * - A successful check is cached in memory for a short time, keyed by a hash
 *   of the stored password hash and the given password, so clients that log
 *   in for every check (fetchmail, imaptest) don't pay for scrypt each time.
 *   Changing the password changes the stored hash and so misses the cache.
 */
import { createHash } from "node:crypto";
import type { Limiter } from "@aerogram/limits";
import { Counter, type Logger, type Registry } from "@aerogram/observability";
import { type Account, type Store, verifyPassword } from "@aerogram/store";

export type AuthResult =
  | { ok: true; account: Account }
  | { ok: false; reason: "invalid" | "throttled" | "unavailable"; retryAfterMs?: number };

export interface AuthenticatorOptions {
  /** Failures per IP (or per login name) allowed within the window before back-off starts. */
  freeFailures?: number;
  /** How long failures are remembered. */
  failureWindowMs?: number;
  /** First back-off after the free failures; doubles with each further failure. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long a verified password is trusted without scrypt. */
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
}

export interface AccountWithHash {
  account: Account;
  passwordHash: string;
}

/**
 * Finds a login name's (address or alias) account and stored password hash
 * in one round trip, e.g. Pop3Queries.loginCredentials. Without one the
 * authenticator asks the store twice (byAddress, then passwordHash).
 */
export type CredentialLookup = (name: string) => Promise<AccountWithHash | undefined>;

export interface AuthenticatorDeps {
  store: Store;
  limits: Limiter;
  log: Logger;
  metrics: Registry;
  credentials?: CredentialLookup;
}

const DEFAULTS: Required<AuthenticatorOptions> = {
  freeFailures: 5,
  failureWindowMs: 15 * 60_000,
  baseBackoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
  cacheTtlMs: 5 * 60_000,
  cacheMaxEntries: 10_000,
};

export class Authenticator {
  private readonly opts: Required<AuthenticatorOptions>;
  private readonly verified = new Map<string, number>(); // cache key → expiry (ms)
  private readonly attempts: Counter<"protocol" | "result">;

  constructor(
    private readonly deps: AuthenticatorDeps,
    options: AuthenticatorOptions = {},
  ) {
    this.opts = { ...DEFAULTS, ...options };
    const existing = deps.metrics.getSingleMetric("aerogram_auth_attempts_total");
    this.attempts =
      (existing as Counter<"protocol" | "result"> | undefined) ??
      new Counter({
        name: "aerogram_auth_attempts_total",
        help: "Login attempts by protocol and result (ok, invalid, throttled, unavailable)",
        labelNames: ["protocol", "result"],
        registers: [deps.metrics],
      });
  }

  async login(req: {
    username: string;
    password: string;
    remoteAddress: string;
    protocol: string;
  }): Promise<AuthResult> {
    const name = req.username.trim().toLowerCase();
    const subjects = [`ip:${req.remoteAddress}`, `user:${name}`];
    let result: AuthResult;
    try {
      // The account lookup runs alongside the block check (one round trip less
      // per login); a throttled attempt drops it unchecked, with no scrypt.
      const found = this.lookup(name);
      found.catch(() => {});
      // The user's failure count comes in the same round as the blocks, so a
      // success only pays for forgiving failures when there were some.
      const [failures, ...blocked] = await Promise.all([
        this.deps.limits.get(`authfail:user:${name}`),
        ...subjects.map((s) => this.deps.limits.get(`authblock:${s}`)),
      ]);
      const retryAfterMs = Math.max(...blocked);
      if (retryAfterMs > 0) {
        result = { ok: false, reason: "throttled", retryAfterMs };
      } else {
        const account = await this.check(await found, req.password);
        if (account) {
          result = { ok: true, account };
          // A success forgives this login name (not the IP: one good account must not unlock guessing others).
          if (failures! > 0) await this.deps.limits.reset(`authfail:user:${name}`);
        } else {
          result = { ok: false, reason: "invalid" };
          await Promise.all(subjects.map((s) => this.recordFailure(s)));
        }
      }
    } catch (err) {
      this.deps.log.error({ err, protocol: req.protocol }, "authentication backend unavailable");
      result = { ok: false, reason: "unavailable" };
    }
    this.attempts.inc({ protocol: req.protocol, result: result.ok ? "ok" : result.reason });
    if (!result.ok && result.reason !== "unavailable") {
      this.deps.log.warn(
        { protocol: req.protocol, ip: req.remoteAddress, user: name, reason: result.reason },
        "authentication failed",
      );
    }
    return result;
  }

  /**
   * Counts a failure; past the free ones, blocks the subject for a back-off
   * that doubles with each further failure. When the block expires one more
   * attempt is allowed, and its failure blocks for twice as long.
   */
  private async recordFailure(subject: string): Promise<void> {
    const failures = await this.deps.limits.incr(`authfail:${subject}`, 1, this.opts.failureWindowMs);
    const over = failures - this.opts.freeFailures - 1;
    if (over < 0) return;
    const backoff = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.min(over, 30));
    // The block's value is its length, so a refused client can be told how long to wait.
    const key = `authblock:${subject}`;
    await this.deps.limits.reset(key);
    await this.deps.limits.incr(key, backoff, backoff);
  }

  private async check(found: AccountWithHash | undefined, password: string): Promise<Account | undefined> {
    if (!found || found.account.disabled) return undefined;
    const cacheKey = createHash("sha256")
      .update(found.passwordHash)
      .update("\0")
      .update(password)
      .digest("base64");
    const now = Date.now();
    const expiry = this.verified.get(cacheKey);
    if (expiry !== undefined && expiry > now) return found.account;
    if (!(await verifyPassword(password, found.passwordHash))) return undefined;
    if (this.verified.size >= this.opts.cacheMaxEntries) {
      // Drop the oldest entry (Map keeps insertion order).
      const first = this.verified.keys().next();
      if (!first.done) this.verified.delete(first.value);
    }
    this.verified.set(cacheKey, now + this.opts.cacheTtlMs);
    return found.account;
  }

  private async lookup(name: string): Promise<AccountWithHash | undefined> {
    if (this.deps.credentials) return this.deps.credentials(name);
    const account = await this.deps.store.accounts.byAddress(name);
    if (!account) return undefined;
    const passwordHash = await this.deps.store.accounts.passwordHash(account.id);
    return passwordHash ? { account, passwordHash } : undefined;
  }
}
