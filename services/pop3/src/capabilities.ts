/**
 * CAPA (RFC 2449 §5). Only what is true is listed:
 * - EXPIRE NEVER: Aerogram never removes mail on its own (RFC 2449 §6.7).
 * - LOGIN-DELAY is not listed: there is no minimum time between logins; a
 *   throttled login still answers [LOGIN-DELAY] (RFC 2449 §8.1.2) so the
 *   client waits instead of asking for a new password.
 * - AUTH-RESP-CODE (RFC 3206 §6): AUTH failures carry [AUTH] or [SYS/*].
 */
import type { Pop3Session } from "./session.ts";

export const SASL_MECHANISMS = ["PLAIN", "LOGIN"] as const;
/** With an OIDC issuer configured (RFC 7628; XOAUTH2 for older clients). */
export const OAUTH_MECHANISMS = ["OAUTHBEARER", "XOAUTH2"] as const;

export function saslMechanisms(session: Pop3Session): string[] {
  return session.deps.oauth ? [...SASL_MECHANISMS, ...OAUTH_MECHANISMS] : [...SASL_MECHANISMS];
}

export function capabilities(session: Pop3Session): string[] {
  const caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"];
  if (session.state === "authorization") {
    caps.push("USER", `SASL ${saslMechanisms(session).join(" ")}`);
    if (session.canStartTls) caps.push("STLS");
  }
  caps.push("IMPLEMENTATION Aerogram");
  return caps;
}
