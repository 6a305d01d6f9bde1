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
 *   Every gateway of the process shares the cache (sharedVerifiedLogins).
 * - A gateway may start the credential lookup before the password arrives
 *   (POP3 USER: `prefetch`), and may start work that only makes sense for a
 *   good login alongside the block check (`speculate`): when the password is
 *   already known good from the cache, that work overlaps the block check's
 *   round trip instead of following it. A refused login hands the started
 *   work back so the caller undoes it.
 */
import { hash } from "node:crypto";
import { type Limiter, TtlCache } from "@aerogram/limits";
import { type Counter, type Logger, type Registry, sharedCounter } from "@aerogram/observability";
import { type Account, type Store, verifyPassword } from "@aerogram/store";
import { checkAppPassword } from "./app-passwords.ts";
import { needsRehash, verifyImportedHash } from "./password-schemes.ts";

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
 * in one round trip, e.g. Accounts.loginCredentials. Without one the
 * authenticator asks the store twice (byAddress, then passwordHash).
 */
export type CredentialLookup = (name: string) => Promise<AccountWithHash | undefined>;

/** A credential lookup started early (POP3 USER), for one login name. */
export interface CredentialPrefetch {
  /** The normalized login name it was started for. */
  name: string;
  /** performance.now() when it was started. */
  startedAt: number;
  found: Promise<AccountWithHash | undefined>;
}

/** A prefetch older than this is looked up again (a password changed meanwhile must not be missed for long). */
export const PREFETCH_MAX_AGE_MS = 2000;

export interface LoginRequest {
  username: string;
  password: string;
  remoteAddress: string;
  protocol: string;
}

export interface LoginOptions<T> {
  /** From prefetch() for the same name; ignored when for another name or older than PREFETCH_MAX_AGE_MS. */
  prefetched?: CredentialPrefetch;
  /**
   * Called with the account as soon as the lookup answers, while the block
   * check may still be out, when the password is already known good (cache
   * hit): before the throttle verdict. Its result comes back as `speculated`
   * with the login's result, ok or not: on a refusal the caller must undo it.
   * `found` is what the lookup returned (a prefetch's own lookup may add to it).
   */
  speculate?: (account: Account, found: AccountWithHash) => T;
  /**
   * Instead of `speculate` alongside the authenticator's own block check:
   * when the password is known good from the cache, the block check and the
   * follow-up as ONE call (e.g. one Redis script that reads the blocks and
   * takes a lock unless blocked: one round trip instead of two commands).
   * It must read `check.counters` and `check.blocks` as Limiter.getMany
   * does, and start nothing when a block is above 0. It is called once the
   * lookup has answered (a USER prefetch usually has by PASS), so with it the
   * block check waits for the lookup instead of running alongside it; a
   * password not in the cache gets the usual getMany.
   */
  gated?: (
    account: Account,
    found: AccountWithHash,
    check: { counters: string[]; blocks: string[] },
  ) => Promise<{ counters: number[]; blocks: number[]; value: T }>;
}

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

/**
 * The verified-login caches of this process, one per (lifetime, size): the
 * IMAP, POP3, ManageSieve and submission gateways of one process share one,
 * so a user whose phone polls IMAP and whose desktop polls POP3 pays scrypt
 * once per lifetime, not once per protocol. Sharing is safe for the same
 * reason the cache is: an entry is keyed on the stored hash and the password,
 * so a changed password never matches, whichever gateway verified it.
 */
const verifiedLogins = new Map<string, TtlCache<string, true>>();

function sharedVerifiedLogins(ttlMs: number, maxEntries: number): TtlCache<string, true> {
  const key = `${ttlMs}/${maxEntries}`;
  let cache = verifiedLogins.get(key);
  if (!cache) {
    cache = new TtlCache({ ttlMs, maxEntries });
    verifiedLogins.set(key, cache);
  }
  return cache;
}

function normalizeName(username: string): string {
  return username.trim().toLowerCase();
}

export class Authenticator {
  private readonly opts: Required<AuthenticatorOptions>;
  /** Passwords verified against a stored hash recently: the cache key → true. */
  private readonly verified: TtlCache<string, true>;
  private readonly attempts: Counter<"protocol" | "result">;

  constructor(
    private readonly deps: AuthenticatorDeps,
    options: AuthenticatorOptions = {},
  ) {
    this.opts = { ...DEFAULTS, ...options };
    this.verified = sharedVerifiedLogins(this.opts.cacheTtlMs, this.opts.cacheMaxEntries);
    this.attempts = sharedCounter(deps.metrics, {
      name: "aerogram_auth_attempts_total",
      help: "Login attempts by protocol and result (ok, invalid, throttled, unavailable)",
      labelNames: ["protocol", "result"],
    });
  }

  /**
   * Starts looking up a login name's account and password hash before the
   * password is known; `lookup` instead of the configured one may read more
   * in the same round trip (POP3: the INBOX snapshot), which `speculate` then
   * gets with the account.
   */
  prefetch(username: string, lookup?: CredentialLookup): CredentialPrefetch {
    const name = normalizeName(username);
    const found = lookup ? lookup(name) : this.lookup(name);
    found.catch(() => {});
    return { name, startedAt: performance.now(), found };
  }

  async login<T = never>(
    req: LoginRequest,
    opts: LoginOptions<T> = {},
  ): Promise<AuthResult & { speculated?: T }> {
    const name = normalizeName(req.username);
    const subjects = [`ip:${req.remoteAddress}`, `user:${name}`];
    let result: AuthResult;
    let speculated: { value: T } | undefined;
    let speculation: Promise<{ value: T } | undefined> | undefined;
    try {
      const early = opts.prefetched;
      const fresh =
        early !== undefined &&
        early.name === name &&
        performance.now() - early.startedAt <= PREFETCH_MAX_AGE_MS;
      // The account lookup runs alongside the block check (one round trip less
      // per login); a throttled attempt drops it unchecked, with no scrypt.
      const found = fresh ? early.found : this.lookup(name);
      found.catch(() => {});
      // The user's failure count comes in the same round as the blocks, so a
      // success only pays for forgiving failures when there were some.
      const check = { counters: [`authfail:user:${name}`], blocks: subjects.map((s) => `authblock:${s}`) };
      let failures: number | undefined;
      let blocked: number[];
      const known = opts.gated ? await found : undefined;
      if (opts.gated && known && this.cachedGood(known, req.password)) {
        // The block check and the caller's follow-up in one call.
        const gated = await opts.gated(known.account, known, check);
        speculated = { value: gated.value };
        [failures] = gated.counters;
        blocked = gated.blocks;
      } else {
        // As soon as the account is known and the password is one the cache
        // knows, the caller's follow-up work starts, alongside the block check.
        speculation =
          opts.speculate && !opts.gated
            ? found.then((known) => {
                if (!known || !this.cachedGood(known, req.password)) return undefined;
                return { value: opts.speculate!(known.account, known) };
              })
            : undefined;
        speculation?.catch(() => {});
        [failures, ...blocked] = await this.deps.limits.getMany([...check.counters, ...check.blocks]);
        speculated = await speculation;
      }
      const retryAfterMs = Math.max(...blocked);
      if (retryAfterMs > 0) {
        result = { ok: false, reason: "throttled", retryAfterMs };
      } else {
        const account = await this.check(await found, req);
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
      // What was started is handed back all the same, for the caller to undo.
      speculated ??= await speculation?.catch(() => undefined);
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
    return speculated ? { ...result, speculated: speculated.value } : result;
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

  /** The cache's key for a password checked against a stored hash: a new hash (passwd) never matches an old entry. */
  private cacheKey(found: AccountWithHash, password: string): string {
    // One-shot: no Hash object per call (the same digest as update(hash).update("\0").update(password)).
    return hash("sha256", `${found.passwordHash}\0${password}`, "base64");
  }

  /** The password was verified against this very hash within the cache's lifetime (no scrypt). */
  private cachedGood(found: AccountWithHash, password: string): boolean {
    if (found.account.disabled || found.account.requireAppPasswords) return false;
    return this.verified.has(this.cacheKey(found, password));
  }

  private async check(found: AccountWithHash | undefined, req: LoginRequest): Promise<Account | undefined> {
    if (!found || found.account.disabled) return undefined;
    const password = req.password;
    // App passwords (app-passwords.ts) first: the only way in when the account requires them.
    if (await checkAppPassword(this.deps.store, found.account, req)) return found.account;
    if (found.account.requireAppPasswords) return undefined;
    const cacheKey = this.cacheKey(found, password);
    if (this.verified.has(cacheKey)) return found.account;
    // An imported hash ({SHA512-CRYPT}…, password-schemes.ts) is checked by its scheme and replaced by ours.
    if (needsRehash(found.passwordHash)) {
      if (!(await verifyImportedHash(password, found.passwordHash))) return undefined;
      this.deps.store.passwordHashes.rehash(found.account.id, found.passwordHash, password).catch(() => {});
    } else if (!(await verifyPassword(password, found.passwordHash))) return undefined;
    this.verified.set(cacheKey, true);
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
