/**
 * SASL mechanisms the gateways offer: PLAIN (RFC 4616) and LOGIN (the
 * de-facto draft-murchison-sasl-login; Outlook and old clients use it).
 */

export interface SaslCredentials {
  /** Authorization identity; empty means "same as authcid". */
  authzid: string;
  username: string;
  password: string;
}

/**
 * Decodes a PLAIN response (base64 of authzid NUL authcid NUL passwd).
 * Returns undefined when it is malformed (RFC 4616 §2).
 */
export function decodeSaslPlain(base64: string): SaslCredentials | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) return undefined;
  const text = Buffer.from(base64, "base64").toString("utf8");
  const parts = text.split("\0");
  if (parts.length !== 3) return undefined;
  const [authzid, username, password] = parts as [string, string, string];
  if (!username || !password) return undefined;
  return { authzid, username, password };
}

/** Decodes one base64 line of a LOGIN exchange; undefined when not base64. */
export function decodeBase64Line(line: string): string | undefined {
  const s = line.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, "base64").toString("utf8");
}

/** The LOGIN mechanism's server challenges, base64 as sent on the wire. */
export const LOGIN_CHALLENGES = {
  username: Buffer.from("Username:").toString("base64"),
  password: Buffer.from("Password:").toString("base64"),
} as const;
