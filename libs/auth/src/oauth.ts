/**
 * OAuth 2.0 logins (issue 23): bearer tokens that are JWTs from an OIDC
 * issuer, checked against the issuer's JWKS, for SASL OAUTHBEARER (RFC 7628)
 * and XOAUTH2 on IMAP, POP3 and submission.
 *
 * - The JWKS is fetched (from OIDC_JWKS_URL, or the issuer's discovery
 *   document), cached and refreshed every `jwksRefreshMs`; a token signed by a
 *   key we don't know triggers one early refresh (key rotation), at most every
 *   `UNKNOWN_KID_COOLDOWN_MS`. When the issuer is down, the cached keys keep
 *   working until `jwksMaxAgeMs` after the last successful fetch.
 * - A token must be signed by a JWKS key (asymmetric algorithms only), carry
 *   our issuer and audience, be within exp/nbf (with `clockSkewSeconds`) and
 *   name the account in `usernameClaim` (email by default).
 * - With `singleUseTokens`, a token's `jti` is accepted once (cluster-wide in
 *   the shared limiter until the token expires): a replayed token is refused.
 *   Off by default: mail clients reuse one access token for each of their
 *   parallel connections until it expires.
 * - Failures count per client IP in the shared limiter; past the free ones
 *   the IP is refused without checking, as for passwords.
 */
import type { Limiter } from "@aerogram/limits";
import { type Counter, type Logger, type Registry, sharedCounter } from "@aerogram/observability";
import type { Account, Store } from "@aerogram/store";
import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose";

export interface OAuthOptions {
  issuer: string;
  jwksUrl: string | undefined;
  audience: string;
  usernameClaim: string;
  jwksRefreshMs: number;
  jwksMaxAgeMs: number;
  clockSkewSeconds: number;
  singleUseTokens: boolean;
}

export type TokenFailure =
  | "malformed"
  | "expired"
  | "bad_signature"
  | "wrong_audience"
  | "wrong_issuer"
  | "replayed"
  | "unknown_user"
  | "keys_unavailable"
  | "throttled"
  | "unavailable";

export type TokenResult = { ok: true; account: Account } | { ok: false; reason: TokenFailure };

/** A JWKS fetch and the time it was made. */
interface CachedKeys {
  jwks: JSONWebKeySet;
  fetchedAt: number;
  verify: ReturnType<typeof createLocalJWKSet>;
}

const UNKNOWN_KID_COOLDOWN_MS = 30_000;
/** After a failed fetch, the cached keys are used without asking again for this long (no login waits on a dead issuer). */
const FAILED_FETCH_COOLDOWN_MS = 30_000;
const FETCH_TIMEOUT_MS = 5000;

export class JwksUnavailableError extends Error {
  override name = "JwksUnavailableError";
}

/** The issuer's signing keys, cached, refreshed, kept through an outage up to maxAgeMs. */
export class JwksCache {
  #cached: CachedKeys | undefined;
  #refreshing: Promise<CachedKeys> | undefined;
  #lastUnknownKid = Number.NEGATIVE_INFINITY;
  #lastFailure = Number.NEGATIVE_INFINITY;
  #jwksUrl: string | undefined;

  constructor(
    private readonly opts: Pick<OAuthOptions, "issuer" | "jwksUrl" | "jwksRefreshMs" | "jwksMaxAgeMs">,
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.#jwksUrl = opts.jwksUrl;
  }

  /** Keys to verify with; refreshes when stale (or when `unknownKid`), falls back to the cache on failure. */
  async keys(unknownKid = false): Promise<CachedKeys> {
    const cached = this.#cached;
    const age = cached ? this.now() - cached.fetchedAt : Number.POSITIVE_INFINITY;
    const stale = age >= this.opts.jwksRefreshMs;
    // Forged or stale tokens with unknown kids cost at most one fetch per cooldown.
    const wantRotation = unknownKid && this.now() - this.#lastUnknownKid >= UNKNOWN_KID_COOLDOWN_MS;
    if (wantRotation) this.#lastUnknownKid = this.now();
    if (cached && !stale && !wantRotation) return cached;
    const coolingDown = this.now() - this.#lastFailure < FAILED_FETCH_COOLDOWN_MS;
    if (cached && coolingDown && age < this.opts.jwksMaxAgeMs) return cached;
    try {
      return await this.#refresh();
    } catch (err) {
      this.#lastFailure = this.now();
      if (cached && age < this.opts.jwksMaxAgeMs) {
        this.log?.warn({ err, issuer: this.opts.issuer }, "JWKS refresh failed; using the cached keys");
        return cached;
      }
      throw new JwksUnavailableError(`the issuer's keys are unavailable: ${(err as Error).message}`);
    }
  }

  #refresh(): Promise<CachedKeys> {
    this.#refreshing ??= (async () => {
      try {
        const url = this.#jwksUrl ?? (await this.#discover());
        const jwks = (await getJson(url)) as JSONWebKeySet;
        if (!jwks || !Array.isArray(jwks.keys)) throw new Error("the JWKS document has no keys array");
        const fresh = { jwks, fetchedAt: this.now(), verify: createLocalJWKSet(jwks) };
        this.#cached = fresh;
        return fresh;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  async #discover(): Promise<string> {
    const base = this.opts.issuer.replace(/\/+$/, "");
    const doc = (await getJson(`${base}/.well-known/openid-configuration`)) as { jwks_uri?: unknown };
    if (typeof doc?.jwks_uri !== "string") throw new Error("the discovery document has no jwks_uri");
    this.#jwksUrl = doc.jwks_uri;
    return doc.jwks_uri;
  }
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    headers: { accept: "application/json" },
  });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.json();
}

export interface TokenAuthenticatorDeps {
  store: Store;
  limits: Limiter;
  log: Logger;
  metrics: Registry;
}

const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

export class TokenAuthenticator {
  readonly jwks: JwksCache;
  private readonly attempts: Counter<"protocol" | "result">;

  constructor(
    private readonly deps: TokenAuthenticatorDeps,
    readonly opts: OAuthOptions,
    private readonly throttle = { freeFailures: 5, failureWindowMs: 15 * 60_000, blockMs: 60_000 },
  ) {
    this.jwks = new JwksCache(opts, deps.log);
    this.attempts = sharedCounter(deps.metrics, {
      name: "aerogram_auth_attempts_total",
      help: "Login attempts by protocol and result (ok, invalid, throttled, unavailable)",
      labelNames: ["protocol", "result"],
    });
  }

  /** The discovery URL clients are pointed to in the RFC 7628 §3.2.2 error. */
  get openidConfiguration(): string {
    return `${this.opts.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  }

  /**
   * Verifies a bearer token; `authzid` (the SASL authorization identity or
   * XOAUTH2 user), when given, must name the same account as the token.
   */
  async login(req: {
    token: string;
    authzid: string;
    remoteAddress: string;
    protocol: string;
  }): Promise<TokenResult> {
    const result = await this.#login(req);
    this.attempts.inc({
      protocol: req.protocol,
      result: result.ok
        ? "ok"
        : result.reason === "throttled" || result.reason === "unavailable"
          ? result.reason
          : "invalid",
    });
    if (!result.ok) {
      this.deps.log.warn(
        { protocol: req.protocol, ip: req.remoteAddress, reason: result.reason, mechanism: "oauth" },
        "authentication failed",
      );
    }
    return result;
  }

  async #login(req: {
    token: string;
    authzid: string;
    remoteAddress: string;
    protocol: string;
  }): Promise<TokenResult> {
    const blockKey = `authblock:oauth:ip:${req.remoteAddress}`;
    try {
      const [blocked] = await this.deps.limits.getMany([blockKey]);
      if ((blocked ?? 0) > 0) return { ok: false, reason: "throttled" };
    } catch {
      return { ok: false, reason: "unavailable" };
    }
    const verdict = await this.#verify(req.token);
    let result: TokenResult;
    if (!verdict.ok) result = verdict;
    else {
      const authzid = req.authzid.trim().toLowerCase();
      if (authzid && authzid !== verdict.username) result = { ok: false, reason: "unknown_user" };
      else {
        try {
          const account = await this.deps.store.accounts.byAddress(verdict.username);
          result =
            account && !account.disabled ? { ok: true, account } : { ok: false, reason: "unknown_user" };
          if (result.ok && this.opts.singleUseTokens && !(await this.#firstUse(verdict.jti, verdict.exp)))
            result = { ok: false, reason: "replayed" };
        } catch (err) {
          this.deps.log.error({ err }, "authentication backend unavailable");
          return { ok: false, reason: "unavailable" };
        }
      }
    }
    if (!result.ok && result.reason !== "keys_unavailable" && result.reason !== "unavailable") {
      await this.#recordFailure(req.remoteAddress, blockKey).catch(() => {});
    }
    return result;
  }

  async #recordFailure(ip: string, blockKey: string): Promise<void> {
    const failures = await this.deps.limits.incr(`authfail:oauth:ip:${ip}`, 1, this.throttle.failureWindowMs);
    if (failures > this.throttle.freeFailures)
      await this.deps.limits.incr(blockKey, 1, this.throttle.blockMs);
  }

  async #firstUse(jti: string | undefined, exp: number | undefined): Promise<boolean> {
    if (!jti) return false;
    const ttl = Math.max(1000, (exp ?? 0) * 1000 - Date.now() + this.opts.clockSkewSeconds * 1000);
    return (await this.deps.limits.incr(`oauth-jti:${jti}`, 1, ttl)) === 1;
  }

  async #verify(
    token: string,
  ): Promise<
    { ok: true; username: string; jti?: string; exp?: number } | { ok: false; reason: TokenFailure }
  > {
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token))
      return { ok: false, reason: "malformed" };
    const attempt = async (unknownKid: boolean) => {
      const keys = await this.jwks.keys(unknownKid);
      return jwtVerify(token, keys.verify, {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        clockTolerance: this.opts.clockSkewSeconds,
        algorithms: ASYMMETRIC,
        requiredClaims: ["exp"],
      });
    };
    let payload: Record<string, unknown>;
    try {
      try {
        ({ payload } = await attempt(false));
      } catch (err) {
        // A key we don't know yet: the issuer may have rotated; look once more.
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
        ({ payload } = await attempt(true));
      }
    } catch (err) {
      return { ok: false, reason: failureOf(err) };
    }
    const claim = payload[this.opts.usernameClaim];
    if (typeof claim !== "string" || !claim.includes("@")) return { ok: false, reason: "unknown_user" };
    return {
      ok: true,
      username: claim.trim().toLowerCase(),
      ...(typeof payload.jti === "string" ? { jti: payload.jti } : {}),
      ...(typeof payload.exp === "number" ? { exp: payload.exp } : {}),
    };
  }
}

function failureOf(err: unknown): TokenFailure {
  if (err instanceof JwksUnavailableError) return "keys_unavailable";
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return "wrong_audience";
    if (err.claim === "iss") return "wrong_issuer";
    if (err.claim === "nbf") return "expired";
    return "malformed";
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey)
    return "bad_signature";
  return "malformed";
}

/**
 * The RFC 7628 §3.2.2 error JSON (base64 in the server challenge) for a failed
 * OAUTHBEARER/XOAUTH2 exchange: "invalid_token" for a bad token (RFC 6750 §3.1),
 * with where to get a new one.
 */
export function oauthErrorChallenge(openidConfiguration: string | undefined, reason: TokenFailure): string {
  const status =
    reason === "keys_unavailable" || reason === "unavailable" ? "temporarily_unavailable" : "invalid_token";
  const body: Record<string, string> = { status, scope: "openid email" };
  if (openidConfiguration) body["openid-configuration"] = openidConfiguration;
  return Buffer.from(JSON.stringify(body)).toString("base64");
}

const shared = new WeakMap<Store, TokenAuthenticator>();

/** One TokenAuthenticator (and JWKS cache) per process and store, shared by IMAP, POP3 and submission. */
export function sharedTokenAuthenticator(
  deps: TokenAuthenticatorDeps,
  opts: OAuthOptions | undefined,
): TokenAuthenticator | undefined {
  if (!opts) return undefined;
  let found = shared.get(deps.store);
  if (!found) {
    found = new TokenAuthenticator(deps, opts);
    shared.set(deps.store, found);
  }
  return found;
}
