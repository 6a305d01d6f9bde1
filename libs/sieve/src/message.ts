/**
 * The message as Sieve tests see it (RFC 5228 §5.7 header, §5.1 address,
 * RFC 5173 body): header values unfolded and RFC 2047-decoded, addresses
 * parsed, and the body's text parts decoded (transfer encoding and charset).
 * Built from the raw bytes; the body walk is bounded in depth and parts.
 */
import {
  decodeCharset,
  decodeEncodedWords,
  decodeTransfer,
  type HeaderField,
  parseAddressList,
  parseContentType,
  parseHeaderBlock,
} from "@aerogram/mime";

export interface SieveAddress {
  /** local@domain, or the raw value of an unparseable field. */
  all: string;
  local: string | undefined;
  domain: string | undefined;
}

export interface BodyPart {
  /** "type/subtype", lower case. */
  contentType: string;
  /** Decoded text (text parts) or the raw bytes as latin1 (others). */
  text: string;
}

const MAX_PARTS = 200;
const MAX_DEPTH = 20;

function splitHead(raw: Buffer): { head: string; body: Buffer } {
  const s = raw.toString("latin1");
  let at = s.indexOf("\r\n\r\n");
  let skip = 4;
  if (at < 0 || (s.indexOf("\n\n") >= 0 && s.indexOf("\n\n") < at)) {
    const lf = s.indexOf("\n\n");
    if (lf >= 0 && (at < 0 || lf < at)) {
      at = lf;
      skip = 2;
    }
  }
  if (at < 0) return { head: s, body: Buffer.alloc(0) };
  return { head: s.slice(0, at + skip / 2), body: raw.subarray(at + skip) };
}

function param(params: [string, string][], name: string): string | undefined {
  return params.find(([k]) => k.toLowerCase() === name)?.[1];
}

export class SieveMessage {
  readonly size: number;
  readonly #fields: HeaderField[];
  readonly #body: Buffer;
  #parts: BodyPart[] | undefined;

  constructor(readonly raw: Buffer) {
    this.size = raw.length;
    const { head, body } = splitHead(raw);
    this.#fields = parseHeaderBlock(head);
    this.#body = body;
  }

  /**
   * Decoded values of every field named `name` (case-insensitive), in order;
   * `pick` narrows the fields first (RFC 5260 §6 :index/:last). Unfolded
   * (RFC 5322 §2.2.3); a tab starting a continuation line becomes a space, as
   * Pigeonhole reads it.
   */
  header(name: string, pick: (fields: HeaderField[]) => HeaderField[] = (f) => f): string[] {
    const n = name.toLowerCase();
    return pick(this.#fields.filter((f) => f.name.toLowerCase() === n)).map((f) =>
      decodeEncodedWords(f.value.replace(/\r?\n\t/g, " ")).trim(),
    );
  }

  exists(name: string): boolean {
    const n = name.toLowerCase();
    return this.#fields.some((f) => f.name.toLowerCase() === n);
  }

  /**
   * Addresses in the fields named `name`; group markers skipped. A field
   * without any valid address (e.g. "undisclosed-recipients:;") counts as one
   * unparseable address whose :all is the raw value and which has no local
   * part or domain, as Pigeonhole does (compared on the same input).
   */
  addresses(name: string, pick: (fields: HeaderField[]) => HeaderField[] = (f) => f): SieveAddress[] {
    const n = name.toLowerCase();
    const out: SieveAddress[] = [];
    for (const f of pick(this.#fields.filter((x) => x.name.toLowerCase() === n))) {
      const found: SieveAddress[] = [];
      for (const a of parseAddressList(f.value.replace(/\r?\n/g, ""))) {
        if (a.host === null || a.mailbox === null) continue;
        if (
          !a.host ||
          a.host === "MISSING_DOMAIN" ||
          a.host === "SYNTAX_ERROR" ||
          a.mailbox === "MISSING_MAILBOX"
        )
          continue;
        found.push({ all: `${a.mailbox}@${a.host}`, local: a.mailbox, domain: a.host });
      }
      const raw = decodeEncodedWords(f.value).trim();
      if (found.length === 0 && raw !== "") found.push({ all: raw, local: undefined, domain: undefined });
      out.push(...found);
    }
    return out;
  }

  /** The body after the header block, raw (RFC 5173 :raw). */
  rawBody(): string {
    return this.#body.toString("latin1");
  }

  /** Leaf parts with their decoded text (RFC 5173 :content / :text). */
  parts(): BodyPart[] {
    if (!this.#parts) {
      this.#parts = [];
      this.#walk(this.#fields, this.#body, 0, this.#parts);
    }
    return this.#parts;
  }

  #walk(fields: HeaderField[], body: Buffer, depth: number, out: BodyPart[]): void {
    if (out.length >= MAX_PARTS || depth > MAX_DEPTH) return;
    const ctField = fields.find((f) => f.name.toLowerCase() === "content-type");
    const ct = ctField ? parseContentType(ctField.value) : undefined;
    const type = ct?.type ? `${ct.type}/${ct.subtype}`.toLowerCase() : "text/plain";
    if (type.startsWith("multipart/")) {
      const boundary = ct && param(ct.params, "boundary");
      if (!boundary) return;
      const s = body.toString("latin1");
      const delim = `--${boundary}`;
      const chunks = s.split(new RegExp(`(?:^|\\r?\\n)${delim.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      for (const chunk of chunks.slice(1)) {
        if (chunk.startsWith("--")) break;
        const rest = chunk.replace(/^[ \t]*\r?\n/, "");
        const { head, body: partBody } = splitHead(Buffer.from(rest, "latin1"));
        const hasHead = /^[^\s:]+:/.test(rest);
        this.#walk(
          hasHead ? parseHeaderBlock(head) : [],
          hasHead ? partBody : Buffer.from(rest, "latin1"),
          depth + 1,
          out,
        );
        if (out.length >= MAX_PARTS) return;
      }
      return;
    }
    if (type === "message/rfc822") {
      out.push({ contentType: type, text: body.toString("latin1") });
      const inner = splitHead(body);
      this.#walk(parseHeaderBlock(inner.head), inner.body, depth + 1, out);
      return;
    }
    const cte = fields.find((f) => f.name.toLowerCase() === "content-transfer-encoding")?.value.trim();
    const decoded = decodeTransfer(body, cte) ?? body;
    if (type.startsWith("text/")) {
      const charset = (ct && param(ct.params, "charset")) || "us-ascii";
      out.push({ contentType: type, text: decodeCharset(decoded, charset) });
    } else out.push({ contentType: type, text: decoded.toString("latin1") });
  }
}
