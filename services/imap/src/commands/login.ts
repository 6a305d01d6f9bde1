// LOGIN (RFC 9051 §6.2.3). Plaintext passwords are refused (LOGINDISABLED,
// PRIVACYREQUIRED) on a non-TLS, non-loopback connection when TLS is configured;
// with no TLS configured (dev, or TLS terminated by a trusted proxy) they are allowed.
import { type LoginCommand, responseCodes } from "@aerogram/imap-protocol";
import type { Account } from "@aerogram/store";
import type { Session } from "../session.ts";
import type { CommandResult } from "./result.ts";

export async function login(session: Session, command: LoginCommand): Promise<CommandResult> {
  if (!session.plaintextAllowed) {
    return { condition: "NO", text: "Use STARTTLS first", code: responseCodes.privacyRequired() };
  }
  return completeLogin(session, command.username, command.password);
}

/** Checks the credentials and moves to the authenticated state (LOGIN and AUTHENTICATE). */
export async function completeLogin(
  session: Session,
  username: string,
  password: string,
): Promise<CommandResult> {
  const result = await session.ctx.auth.login({
    username,
    password,
    remoteAddress: session.remoteAddress,
    protocol: "imap",
  });
  return acceptLogin(session, result);
}

/** The authenticated state for a checked login (password or OAuth), or the NO for a refused one. */
export async function acceptLogin(
  session: Session,
  result: { ok: true; account: Account } | { ok: false; reason: string },
): Promise<CommandResult> {
  if (!result.ok) {
    if (result.reason === "unavailable") {
      return {
        condition: "NO",
        text: "Authentication temporarily unavailable",
        code: responseCodes.unavailable(),
      };
    }
    return {
      condition: "NO",
      text: result.reason === "throttled" ? "Too many failures, try later" : "Invalid credentials",
      code: result.reason === "throttled" ? responseCodes.limit() : responseCodes.authenticationFailed(),
    };
  }
  if (!(await session.ctx.connections.acquire("imap", result.account.id, session))) {
    session.log.warn({ user: result.account.address }, "too many IMAP sessions for the account");
    return { condition: "NO", text: "Too many sessions for this account", code: responseCodes.limit() };
  }
  session.account = result.account;
  session.state = "authenticated";
  session.onAuthenticated();
  return {
    condition: "OK",
    text: "Logged in",
    code: responseCodes.capability(session.capabilities()),
  };
}
