/**
 * The two OAuth SASL mechanisms' client messages:
 *
 * - OAUTHBEARER (RFC 7628 §3.1): a GS2 header `n,a=<authzid>,` then
 *   key=value pairs separated by ^A, ending with ^A^A; `auth=Bearer <token>`.
 *   After a failure the server sends an error challenge (§3.2.2) and the client
 *   answers with a single ^A before the final failure.
 * - XOAUTH2 (Google's): `user=<address>^Aauth=Bearer <token>^A^A`.
 */

export interface OAuthCredentials {
  /** The authorization identity (OAUTHBEARER a=, XOAUTH2 user=); "" when not given. */
  authzid: string;
  token: string;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decode(base64: string): string | undefined {
  const s = base64.trim();
  if (!B64.test(s)) return undefined;
  return Buffer.from(s, "base64").toString("utf8");
}

/** RFC 5801 §4 saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed. */
function saslname(s: string): string | undefined {
  if (/=(?!2C|3D)/i.test(s)) return undefined;
  return s.replace(/=2C/gi, ",").replace(/=3D/gi, "=");
}

function bearer(pairs: string[]): string | undefined {
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq < 1) continue;
    if (pair.slice(0, eq).toLowerCase() !== "auth") continue;
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(pair.slice(eq + 1));
    return m?.[1];
  }
  return undefined;
}

/** Decodes a base64 OAUTHBEARER initial client response; undefined when malformed. */
export function decodeOAuthBearer(base64: string): OAuthCredentials | undefined {
  const text = decode(base64);
  if (text === undefined || !text.endsWith("\x01\x01")) return undefined;
  const first = text.indexOf("\x01");
  const gs2 = text.slice(0, first);
  // gs2-header = gs2-cbind-flag "," [ authzid ] "," ; channel binding is not supported ("n" or "y").
  const m = /^([ny]),(?:a=([^,]*))?,$/.exec(gs2);
  if (!m) return undefined;
  const authzid = m[2] === undefined ? "" : saslname(m[2]);
  if (authzid === undefined) return undefined;
  const token = bearer(text.slice(first + 1, -2).split("\x01"));
  return token ? { authzid, token } : undefined;
}

/** Decodes a base64 XOAUTH2 initial client response; undefined when malformed. */
export function decodeXOAuth2(base64: string): OAuthCredentials | undefined {
  const text = decode(base64);
  if (text === undefined || !text.endsWith("\x01\x01")) return undefined;
  const pairs = text.slice(0, -2).split("\x01");
  const user = pairs.find((p) => p.startsWith("user="))?.slice(5);
  const token = bearer(pairs);
  return user !== undefined && token ? { authzid: user, token } : undefined;
}

/** The client's answer to the error challenge: ^A for OAUTHBEARER (RFC 7628 §3.2.3), anything for XOAUTH2. */
export const OAUTH_ERROR_ACK = Buffer.from("\x01").toString("base64");
