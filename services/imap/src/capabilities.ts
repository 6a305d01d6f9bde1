/**
 * CAPABILITY lists per session state (RFC 9051 §7.2.2). Before login we offer
 * only what the client needs to authenticate; after login, every extension.
 */
const BASE = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE"];

/** After login; `appendLimit` from IMAP_APPEND_LIMIT_BYTES (RFC 7889). */
export const authenticatedCapabilities = (appendLimit: number): string[] => [
  ...BASE,
  "IDLE",
  "NAMESPACE",
  "UIDPLUS",
  "MOVE",
  "UNSELECT",
  "CHILDREN",
  "LIST-EXTENDED",
  "LIST-STATUS",
  "SPECIAL-USE",
  "CREATE-SPECIAL-USE",
  "XLIST",
  "ESEARCH",
  "SEARCHRES",
  "CONDSTORE",
  "QRESYNC",
  "MULTIAPPEND",
  "BINARY",
  "QUOTA",
  "QUOTA=RES-STORAGE",
  "UTF8=ACCEPT",
  "STATUS=SIZE",
  `APPENDLIMIT=${appendLimit}`,
  // RFC 4314: rights "t", "e", "x", "k" are separately grantable (obsolete "c"/"d" map onto them).
  "ACL",
  "RIGHTS=texk",
];

export function preAuthCapabilities(opts: { starttls: boolean; loginDisabled: boolean }): string[] {
  const caps = [...BASE];
  if (opts.starttls) caps.push("STARTTLS");
  if (opts.loginDisabled) caps.push("LOGINDISABLED");
  else caps.push("AUTH=PLAIN", "AUTH=LOGIN");
  return caps;
}

/** Capabilities ENABLE may turn on (RFC 5161, RFC 7162, RFC 6855, RFC 9051 §6.3.1). */
export const ENABLEABLE = new Set(["IMAP4REV2", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT"]);
