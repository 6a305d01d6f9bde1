// The stored MIME index of one message: a plain JSON value (PostgreSQL
// jsonb). Everything IMAP needs without opening the blob is here; the body
// bytes are fetched by range using the part offsets.
import type { Address } from "./address.ts";
import type { Envelope } from "./serializer.ts";

export type { Address, Envelope };

/**
 * One MIME part, with absolute byte offsets into the stored message.
 *
 * `section` is the IMAP part specifier the node answers to: "" for the
 * top-level message, "1", "2.3", ... for parts of a multipart; the node of
 * an encapsulated message (message/rfc822, message/global) carries the
 * section of the part that contains it ("1" when that is the top level), so
 * its header and body are `<section>.HEADER` and `<section>.TEXT`.
 */
export interface PartNode {
  section: string;
  /** First byte of the part's header. */
  headerStart: number;
  /** First byte of the body (just past the empty line ending the header). */
  bodyStart: number;
  /**
   * Just past the last body byte. The [CR]LF before a boundary is not part of
   * the body, except for a message/rfc822 part whose inner header the
   * boundary cut off (see splitter.ts closeUntil: Dovecot's count).
   */
  bodyEnd: number;
  /** Effective media type, lower case ("text/plain" when absent). */
  contentType: string;
  /** Content-Transfer-Encoding, lower case, omitted for 7bit. */
  encoding?: string;
  /** Charset, lower case (text parts; "us-ascii" by default). */
  charset?: string;
  /** Decoded file name (Content-Disposition filename, else Content-Type name). */
  filename?: string;
  /** Content-Disposition type, lower case. */
  disposition?: string;
  /** Body size in octets, as IMAP reports it (bodyEnd - bodyStart). */
  size: number;
  /** Body lines (LF count), as IMAP reports them for text and messages. */
  lines: number;
  /** multipart/*: its parts (empty when the multipart had no usable boundary). */
  children?: PartNode[];
  /** message/rfc822 and message/global: the encapsulated message. */
  message?: PartNode;
}

/** Decoded header fields for SEARCH (RFC 3501 §6.4.4) and display. */
export interface SearchFields {
  /** RFC 2047-decoded address lists: "Name <mailbox@host>, ...". */
  from: string;
  to: string;
  cc: string;
  bcc: string;
  /** RFC 2047-decoded, unfolded subject. */
  subject: string;
  /** Date header as sent (unfolded), or null. */
  date: string | null;
  /** Date header parsed to ISO 8601 (UTC), null when absent or unparseable. */
  sentAt: string | null;
  messageId: string | null;
  inReplyTo: string | null;
}

export interface MessageIndex {
  /** Index format version. */
  v: 1;
  /** Message size in octets (RFC822.SIZE of the stored bytes). */
  size: number;
  /** LF count of the whole message. */
  lines: number;
  /**
   * ENVELOPE fields as text (8-bit header bytes taken as UTF-8, else
   * ISO-8859-1; encoded-words left as sent). Sender/Reply-To defaulted.
   */
  envelope: Envelope;
  /**
   * Exact IMAP syntax, with enclosing parentheses, ready to follow
   * "ENVELOPE ", "BODYSTRUCTURE " and "BODY " in a FETCH response. These
   * are byte strings (one char per octet; literals count octets): write
   * them with Buffer.from(s, "latin1").
   */
  envelopeImap: string;
  bodyStructureImap: string;
  bodyImap: string;
  /** Part tree with offsets; the root is the whole message. */
  parts: PartNode;
  search: SearchFields;
  /** Up to ~200 characters of the first text part, decoded, whitespace collapsed. */
  preview: string;
}
