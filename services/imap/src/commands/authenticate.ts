// AUTHENTICATE (RFC 9051 §6.2.2) with PLAIN (RFC 4616), LOGIN, OAUTHBEARER
// (RFC 7628) and XOAUTH2, and SASL-IR (RFC 4959). "*" from the client cancels (BAD).
import {
  decodeBase64Line,
  decodeOAuthBearer,
  decodeSaslPlain,
  decodeXOAuth2,
  LOGIN_CHALLENGES,
  oauthErrorChallenge,
} from "@aerogram/auth";
import { type AuthenticateCommand, continuation, responseCodes } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { acceptLogin, completeLogin } from "./login.ts";
import type { CommandResult } from "./result.ts";

const CANCELLED: CommandResult = { condition: "BAD", text: "Authentication cancelled" };
const MALFORMED: CommandResult = { condition: "BAD", text: "Malformed SASL response" };

async function challenge(session: Session, text: string): Promise<string | null> {
  await session.send([continuation(text)]);
  await session.out.endResponse();
  const line = await session.readLine();
  return line === null ? null : line.toString("latin1").trim();
}

export async function authenticate(session: Session, command: AuthenticateCommand): Promise<CommandResult> {
  if (!session.plaintextAllowed) {
    return { condition: "NO", text: "Use STARTTLS first", code: responseCodes.privacyRequired() };
  }
  if (command.mechanism === "PLAIN") {
    let response = command.initialResponse;
    if (response === null) response = await challenge(session, "");
    if (response === null) return CANCELLED;
    if (response === "*") return CANCELLED;
    const credentials = decodeSaslPlain(response);
    if (!credentials) return MALFORMED;
    if (credentials.authzid && credentials.authzid.toLowerCase() !== credentials.username.toLowerCase()) {
      return {
        condition: "NO",
        text: "Proxy authorization is not supported",
        code: responseCodes.authorizationFailed(),
      };
    }
    return completeLogin(session, credentials.username, credentials.password);
  }
  if (command.mechanism === "LOGIN") {
    let username: string | undefined;
    if (command.initialResponse !== null) username = decodeBase64Line(command.initialResponse);
    else {
      const line = await challenge(session, LOGIN_CHALLENGES.username);
      if (line === null || line === "*") return CANCELLED;
      username = decodeBase64Line(line);
    }
    if (username === undefined) return MALFORMED;
    const line = await challenge(session, LOGIN_CHALLENGES.password);
    if (line === null || line === "*") return CANCELLED;
    const password = decodeBase64Line(line);
    if (password === undefined) return MALFORMED;
    return completeLogin(session, username, password);
  }
  if ((command.mechanism === "OAUTHBEARER" || command.mechanism === "XOAUTH2") && session.ctx.oauth) {
    const oauth = session.ctx.oauth;
    let response = command.initialResponse;
    if (response === null) response = await challenge(session, "");
    if (response === null || response === "*") return CANCELLED;
    const credentials =
      command.mechanism === "OAUTHBEARER" ? decodeOAuthBearer(response) : decodeXOAuth2(response);
    if (!credentials) return MALFORMED;
    const result = await oauth.login({
      token: credentials.token,
      authzid: credentials.authzid,
      remoteAddress: session.remoteAddress,
      protocol: "imap",
    });
    if (!result.ok && result.reason !== "throttled" && result.reason !== "unavailable") {
      // RFC 7628 §3.2.2: the error goes in a challenge; the client answers (^A) and then gets NO.
      const ack = await challenge(session, oauthErrorChallenge(oauth.openidConfiguration, result.reason));
      if (ack === null) return CANCELLED;
      if (result.reason === "keys_unavailable")
        return acceptLogin(session, { ok: false, reason: "unavailable" });
      return acceptLogin(session, { ok: false, reason: "invalid" });
    }
    return acceptLogin(session, result);
  }
  return {
    condition: "NO",
    text: `Unsupported mechanism ${command.mechanism}`,
    code: responseCodes.cannot(),
  };
}
