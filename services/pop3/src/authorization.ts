/**
 * The AUTHORIZATION state (RFC 1939 §4): USER/PASS, APOP, AUTH (RFC 5034:
 * SASL PLAIN and LOGIN, with initial response), STLS (RFC 2595), CAPA, QUIT.
 *
 * Logins go through the shared Authenticator (cluster-wide failure back-off).
 * Results map to RFC 2449/3206 codes: bad credentials [AUTH]; throttled
 * [LOGIN-DELAY] (the credentials may be fine: the client should wait, not ask
 * for a new password); backend down [SYS/TEMP]; maildrop locked [IN-USE].
 *
 * APOP (RFC 1939 §7) is accepted only for accounts with a POP3 shared secret
 * (accounts.pop3_secret), never with the login password: APOP's digest is
 * MD5(timestamp + secret), so the server must be able to read the secret in
 * clear, and our passwords are stored only as one-way scrypt hashes. APOP
 * failures are throttled per IP and name with their own token buckets.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import {
  decodeBase64Line,
  decodeOAuthBearer,
  decodeSaslPlain,
  decodeXOAuth2,
  LOGIN_CHALLENGES,
  oauthErrorChallenge,
  type TokenFailure,
} from "@aerogram/auth";
import type { Account, Pop3LoginLookup } from "@aerogram/store";
import { capabilities, saslMechanisms } from "./capabilities.ts";
import { Maildrop, type Opening } from "./maildrop.ts";
import { continuation, err, multiline, ok } from "./protocol/responses.ts";
import type { HandlerTable, Pop3Session } from "./session.ts";

const USER_OK = ok("send PASS");

/** The key of session.deps.recentLogins. */
function recentLoginKey(remoteAddress: string, username: string): string {
  return `${remoteAddress} ${username.trim().toLowerCase()}`;
}

/** APOP attempts per IP and per name: a burst of 10, then one a minute. */
const APOP_BURST = 10;
const APOP_REFILL_PER_SECOND = 1 / 60;

/**
 * Checks a username/password and, when good, opens the maildrop. USER has
 * usually prefetched the account already. When the password is one the
 * Authenticator verified recently, the lock request and the snapshot read
 * start as soon as the account is known, while the block check is still out,
 * and are given back if the login is refused after all (throttled).
 */
async function login(session: Pop3Session, username: string, password: string): Promise<void> {
  const prefetched = session.prefetch;
  session.prefetch = undefined;
  const result = await session.deps.authenticator.login(
    { username, password, remoteAddress: session.remoteAddress, protocol: "pop3" },
    {
      prefetched,
      // A repeated login (password in the cache): the block check and the
      // lock request in one Redis script, the snapshot read alongside unless
      // USER read it already.
      gated: (account, found, check) =>
        Maildrop.startUnlessBlocked(
          session.deps,
          account.id,
          session.options.leaseMs,
          check,
          (found as Partial<Pop3LoginLookup>).inbox,
        ),
    },
  );
  if (result.ok) {
    session.deps.recentLogins.set(recentLoginKey(session.remoteAddress, username), true);
    return openMaildrop(session, result.account.id, result.account, result.speculated);
  }
  if (result.speculated) Maildrop.abandon(result.speculated);
  if (result.reason === "throttled") {
    const seconds = Math.ceil((result.retryAfterMs ?? 1000) / 1000);
    session.reply(err(`too many failed logins; try again in ${seconds} s`, "LOGIN-DELAY"));
  } else if (result.reason === "unavailable") {
    session.reply(err("authentication temporarily unavailable", "SYS/TEMP"));
  } else {
    session.reply(err("invalid user name or password", "AUTH"));
  }
}

/**
 * Takes the lock and the snapshot (unless the login already started them).
 * The lock is also the per-account session limit across replicas (the
 * operations issue's "concurrent connections per account and protocol"): one
 * POP3 session per maildrop, stricter than any count, so POP3 keeps no
 * session count of its own.
 */
async function openMaildrop(
  session: Pop3Session,
  accountId: number,
  account?: Account,
  opening: Opening = Maildrop.start(session.deps, accountId, session.options.leaseMs),
): Promise<void> {
  const opened = await Maildrop.open(session.deps, opening);
  if (!opened.ok) {
    session.reply(
      opened.reason === "in-use"
        ? err("maildrop already locked by another session", "IN-USE")
        : err("no INBOX for this account", "SYS/PERM"),
    );
    return;
  }
  if (session.state !== "authorization") {
    // The connection went away while the snapshot was taken.
    await opened.maildrop.release();
    return;
  }
  if (opened.reread) session.deps.metrics.snapshotRereads.inc();
  session.enterTransaction(opened.maildrop);
  const { count, octets } = opened.maildrop.stat();
  session.log.info({ account: account?.address ?? accountId, messages: count }, "POP3 login");
  session.reply(ok(`maildrop has ${count} messages (${octets} octets)`));
}

function saslPlain(session: Pop3Session, response: string): Promise<void> | void {
  if (response === "*") return void session.reply(err("authentication cancelled"));
  // RFC 5034 §4: "=" is an empty initial response.
  const creds = decodeSaslPlain(response === "=" ? "" : response);
  if (!creds) return void session.reply(err("malformed PLAIN response", "AUTH"));
  if (creds.authzid && creds.authzid.toLowerCase() !== creds.username.toLowerCase()) {
    return void session.reply(err("authorization identity must be the user", "AUTH"));
  }
  return login(session, creds.username, creds.password);
}

function saslLoginUser(session: Pop3Session, response: string): void {
  if (response === "*") return void session.reply(err("authentication cancelled"));
  const user = decodeBase64Line(response);
  if (user === undefined || !user) return void session.reply(err("malformed LOGIN response", "AUTH"));
  session.reply(continuation(LOGIN_CHALLENGES.password));
  session.saslStep = (s, line) => saslLoginPassword(s, user, line);
}

function saslLoginPassword(session: Pop3Session, user: string, response: string): Promise<void> | void {
  if (response === "*") return void session.reply(err("authentication cancelled"));
  const password = decodeBase64Line(response);
  if (password === undefined || !password) return void session.reply(err("malformed LOGIN response", "AUTH"));
  return login(session, user, password);
}

/** OAUTHBEARER (RFC 7628) / XOAUTH2: a bearer token from the configured OIDC issuer. */
async function saslOAuth(session: Pop3Session, mechanism: "OAUTHBEARER" | "XOAUTH2", response: string) {
  if (response === "*") return void session.reply(err("authentication cancelled"));
  const oauth = session.deps.oauth!;
  const creds = mechanism === "OAUTHBEARER" ? decodeOAuthBearer(response) : decodeXOAuth2(response);
  if (!creds) return void session.reply(err(`malformed ${mechanism} response`, "AUTH"));
  const result = await oauth.login({
    token: creds.token,
    authzid: creds.authzid,
    remoteAddress: session.remoteAddress,
    protocol: "pop3",
  });
  if (result.ok) return openMaildrop(session, result.account.id, result.account);
  const fail = (reason: TokenFailure) => {
    if (reason === "throttled") session.reply(err("too many failed logins; try again later", "LOGIN-DELAY"));
    else if (reason === "unavailable" || reason === "keys_unavailable")
      session.reply(err("authentication temporarily unavailable", "SYS/TEMP"));
    else session.reply(err("invalid token", "AUTH"));
  };
  if (result.reason === "throttled" || result.reason === "unavailable") return fail(result.reason);
  // RFC 7628 §3.2.2: the error JSON as a challenge; the client's answer (^A) ends the exchange.
  session.reply(continuation(oauthErrorChallenge(oauth.openidConfiguration, result.reason)));
  session.saslStep = () => fail(result.reason);
}

export const authorizationHandlers: HandlerTable = {
  CAPA(session) {
    session.reply(multiline("capability list follows", capabilities(session)));
  },

  QUIT(session) {
    session.close(ok("Aerogram POP3 signing off"));
  },

  USER(session, command) {
    session.pendingUser = command.user;
    session.reply(USER_OK);
    session.flush();
    // The account lookup runs while the client reads the answer and sends
    // PASS (a round trip of its own), so PASS doesn't wait for it; it starts
    // after the answer is written, which it would otherwise delay. When this
    // name logged in from this IP lately, the same query reads the INBOX
    // snapshot too, so a good PASS (cached password) waits on Redis alone.
    // Anyone else's USER costs one indexed read, never a whole mailbox's.
    const { store } = session.deps;
    const withInbox = session.deps.recentLogins.has(recentLoginKey(session.remoteAddress, command.user));
    session.prefetch = session.deps.authenticator.prefetch(command.user, (name) =>
      store.pop3.loginWithInbox(name, withInbox),
    );
  },

  async PASS(session, command) {
    const user = session.pendingUser;
    session.pendingUser = undefined;
    if (user === undefined) return void session.reply(err("send USER first"));
    await login(session, user, command.password);
  },

  async APOP(session, command) {
    session.pendingUser = undefined;
    const timestamp = session.apopTimestamp;
    if (!timestamp) return void session.reply(err("APOP is not offered"));
    const { limits } = session.deps;
    const buckets = await Promise.all(
      [`pop3:apop:ip:${session.remoteAddress}`, `pop3:apop:user:${command.user.toLowerCase()}`].map((k) =>
        limits.take(k, APOP_BURST, APOP_REFILL_PER_SECOND),
      ),
    );
    const refused = buckets.find((b) => !b.allowed);
    if (refused) {
      const seconds = Math.ceil(refused.retryAfterMs / 1000);
      return void session.reply(err(`too many APOP attempts; try again in ${seconds} s`, "LOGIN-DELAY"));
    }
    const found = await session.deps.store.accounts.apopSecret(command.user);
    if (!found || found.disabled || !found.secret) {
      return void session.reply(err("invalid user name or digest", "AUTH"));
    }
    const expected = createHash("md5")
      .update(timestamp + found.secret)
      .digest();
    if (!timingSafeEqual(expected, Buffer.from(command.digest, "hex"))) {
      return void session.reply(err("invalid user name or digest", "AUTH"));
    }
    await openMaildrop(session, found.accountId);
  },

  async AUTH(session, command) {
    session.pendingUser = undefined;
    if (command.mechanism === undefined) {
      // The pre-RFC 5034 form some clients still send: list the mechanisms.
      return void session.reply(multiline("SASL mechanisms follow", saslMechanisms(session)));
    }
    if (command.mechanism === "PLAIN") {
      if (command.initialResponse !== undefined) return saslPlain(session, command.initialResponse);
      session.reply(continuation(""));
      session.saslStep = saslPlain;
      return;
    }
    if (command.mechanism === "LOGIN") {
      if (command.initialResponse !== undefined) return saslLoginUser(session, command.initialResponse);
      session.reply(continuation(LOGIN_CHALLENGES.username));
      session.saslStep = saslLoginUser;
      return;
    }
    if ((command.mechanism === "OAUTHBEARER" || command.mechanism === "XOAUTH2") && session.deps.oauth) {
      const mechanism = command.mechanism;
      if (command.initialResponse !== undefined)
        return saslOAuth(session, mechanism, command.initialResponse);
      session.reply(continuation(""));
      session.saslStep = (s, line) => saslOAuth(s, mechanism, line);
      return;
    }
    session.reply(err(`unsupported SASL mechanism; use one of ${saslMechanisms(session).join(" ")}`));
  },

  async STLS(session) {
    if (session.secure) return void session.reply(err("TLS is already active"));
    if (!session.canStartTls) return void session.reply(err("TLS is not available"));
    await session.startTls();
  },
};
