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
  // search branch (issue #20): SORT/THREAD (RFC 5256), SORT=DISPLAY (RFC 5957),
  // ESORT (RFC 5267), OBJECTID (RFC 8474), WITHIN (RFC 5032), PREVIEW (RFC 8970),
  // SAVEDATE (RFC 8514), COMPRESS=DEFLATE (RFC 4978)
  "SORT",
  "SORT=DISPLAY",
  "ESORT",
  "THREAD=ORDEREDSUBJECT",
  "THREAD=REFERENCES",
  "OBJECTID",
  "WITHIN",
  "PREVIEW",
  "SAVEDATE",
  "COMPRESS=DEFLATE",
  // RFC 4314: rights "t", "e", "x", "k" are separately grantable (obsolete "c"/"d" map onto them).
  "ACL",
  "RIGHTS=texk",
];

export function preAuthCapabilities(opts: {
  starttls: boolean;
  loginDisabled: boolean;
  oauth?: boolean;
}): string[] {
  const caps = [...BASE];
  if (opts.starttls) caps.push("STARTTLS");
  if (opts.loginDisabled) caps.push("LOGINDISABLED");
  else caps.push("AUTH=PLAIN", "AUTH=LOGIN");
  // OAuth 2.0 (RFC 7628; XOAUTH2 for Gmail-era clients) when an OIDC issuer is configured.
  if (opts.oauth && !opts.loginDisabled) caps.push("AUTH=OAUTHBEARER", "AUTH=XOAUTH2");
  return caps;
}

/** Capabilities ENABLE may turn on (RFC 5161, RFC 7162, RFC 6855, RFC 9051 §6.3.1). */
export const ENABLEABLE = new Set(["IMAP4REV2", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT"]);
