// Response codes (the text between "[" and "]"), RFC 9051 §7.1 and extensions.
// Each helper returns the code text without brackets, for tagged()/untaggedStatus().

import { compressSequenceSet } from "./sequence-set.ts";

function list(items: Iterable<string>): string {
  return `(${Array.from(items).join(" ")})`;
}

function uidSet(uids: Iterable<number> | string): string {
  return typeof uids === "string" ? uids : compressSequenceSet(uids);
}

export const responseCodes = {
  alert: () => "ALERT",
  alreadyExists: () => "ALREADYEXISTS",
  /** RFC 4315 §3: APPENDUID uidvalidity uid-set (a set with MULTIAPPEND). */
  appendUid: (uidValidity: number, uids: Iterable<number> | string) =>
    `APPENDUID ${uidValidity} ${uidSet(uids)}`,
  authenticationFailed: () => "AUTHENTICATIONFAILED",
  authorizationFailed: () => "AUTHORIZATIONFAILED",
  badCharset: (charsets: Iterable<string>) => `BADCHARSET ${list(charsets)}`,
  cannot: () => "CANNOT",
  capability: (capabilities: Iterable<string>) => `CAPABILITY ${Array.from(capabilities).join(" ")}`,
  clientBug: () => "CLIENTBUG",
  /** RFC 7162 §3.2.11: sent when the previous mailbox is closed by SELECT with QRESYNC. */
  closed: () => "CLOSED",
  contactAdmin: () => "CONTACTADMIN",
  /**
   * RFC 4315 §3: COPYUID uidvalidity source-set destination-set. The sets must list
   * UIDs in corresponding order, so they are written as given when strings.
   */
  copyUid: (uidValidity: number, source: Iterable<number> | string, destination: Iterable<number> | string) =>
    `COPYUID ${uidValidity} ${uidSet(source)} ${uidSet(destination)}`,
  corruption: () => "CORRUPTION",
  expired: () => "EXPIRED",
  expungeIssued: () => "EXPUNGEISSUED",
  highestModseq: (modseq: bigint | number) => `HIGHESTMODSEQ ${modseq}`,
  inUse: () => "INUSE",
  limit: () => "LIMIT",
  /** RFC 7162 §3.1.3: the UIDs or sequence numbers that failed UNCHANGEDSINCE. */
  modified: (set: Iterable<number> | string) => `MODIFIED ${uidSet(set)}`,
  noModseq: () => "NOMODSEQ",
  nonExistent: () => "NONEXISTENT",
  noPerm: () => "NOPERM",
  overQuota: () => "OVERQUOTA",
  parse: () => "PARSE",
  permanentFlags: (flags: Iterable<string>) => `PERMANENTFLAGS ${list(flags)}`,
  privacyRequired: () => "PRIVACYREQUIRED",
  readOnly: () => "READ-ONLY",
  readWrite: () => "READ-WRITE",
  serverBug: () => "SERVERBUG",
  /** RFC 7889 / RFC 9051 §7.1: the message or literal is larger than allowed. */
  tooBig: () => "TOOBIG",
  tryCreate: () => "TRYCREATE",
  uidNext: (uidNext: number) => `UIDNEXT ${uidNext}`,
  uidNotSticky: () => "UIDNOTSTICKY",
  uidValidity: (uidValidity: number) => `UIDVALIDITY ${uidValidity}`,
  unavailable: () => "UNAVAILABLE",
  unknownCte: () => "UNKNOWN-CTE",
  /** RFC 3501 only (IMAP4rev1): first unseen sequence number. */
  unseen: (sequenceNumber: number) => `UNSEEN ${sequenceNumber}`,
} as const;
