/**
 * The header section of a submitted message, and what submission does to it
 * (RFC 6409 §8): adds Date and Message-ID when missing (§8.2, §8.3), removes
 * Bcc (RFC 5322 §3.6.3: the blind recipients must not see each other), and
 * reads the From: addresses for the sender policy. Pure: bytes in, bytes out.
 */
import { randomBytes } from "node:crypto";
import addressparser from "nodemailer/lib/addressparser/index.js";

export interface HeaderSection {
  /** The header fields with their line endings, up to and including the empty line. */
  head: Buffer;
  /** Octets of the header section in the message (the body starts here). */
  length: number;
}

/** Finds the end of the header section (the first empty line, CRLF or bare LF). */
export function splitHead(message: Buffer): HeaderSection {
  const crlf = message.indexOf("\r\n\r\n");
  const lf = message.indexOf("\n\n");
  let end: number;
  if (crlf !== -1 && (lf === -1 || crlf + 1 <= lf)) end = crlf + 4;
  else if (lf !== -1) end = lf + 2;
  else end = message.length; // only headers, no body
  return { head: message.subarray(0, end), length: end };
}

interface Field {
  name: string;
  /** The whole field with its folded lines and line endings. */
  raw: string;
}

function fields(head: string): { fields: Field[]; separator: string } {
  const lines = head.split(/(?<=\n)/);
  const out: Field[] = [];
  let separator = "";
  for (const line of lines) {
    if (line === "\r\n" || line === "\n") {
      separator = line;
      break;
    }
    if ((line.startsWith(" ") || line.startsWith("\t")) && out.length > 0) {
      out[out.length - 1]!.raw += line;
      continue;
    }
    const colon = line.indexOf(":");
    out.push({ name: colon > 0 ? line.slice(0, colon).trim().toLowerCase() : "", raw: line });
  }
  return { fields: out, separator };
}

function value(f: Field): string {
  return f.raw
    .slice(f.raw.indexOf(":") + 1)
    .replace(/\r?\n[ \t]/g, " ")
    .trim();
}

/** Every address of the From: fields, lowercased (RFC 5322 §3.6.2 allows a list). */
export function fromAddresses(head: Buffer): string[] {
  const out: string[] = [];
  for (const f of fields(head.toString("utf8")).fields) {
    if (f.name !== "from") continue;
    const walk = (list: ReturnType<typeof addressparser>) => {
      for (const a of list) {
        if ("group" in a && a.group) walk(a.group);
        else if ("address" in a && a.address) out.push(a.address.toLowerCase());
      }
    };
    walk(addressparser(value(f)));
  }
  return out;
}

export interface PreparedHead {
  head: Buffer;
  messageId: string;
  /** What was changed, for the log. */
  added: ("date" | "message-id")[];
  bccRemoved: number;
}

export function newMessageId(hostname: string): string {
  return `<${Date.now().toString(36)}.${randomBytes(9).toString("base64url")}@${hostname}>`;
}

/**
 * The head as it leaves submission: `prefix` (our trace header) on top, then
 * the client's fields without Bcc, then the Date/Message-ID we add.
 */
export function prepareHead(
  original: Buffer,
  o: { hostname: string; date: string; prefix: string; messageId?: () => string },
): PreparedHead {
  const parsed = fields(original.toString("utf8"));
  const kept = parsed.fields.filter((f) => f.name !== "bcc");
  const eol = parsed.separator || (original.includes("\r\n") ? "\r\n" : "\n");
  const added: PreparedHead["added"] = [];
  let messageId = "";
  const existing = kept.find((f) => f.name === "message-id");
  if (existing) messageId = value(existing);
  const extra: string[] = [];
  if (!kept.some((f) => f.name === "date")) {
    extra.push(`Date: ${o.date}\r\n`);
    added.push("date");
  }
  if (!existing) {
    messageId = (o.messageId ?? (() => newMessageId(o.hostname)))();
    extra.push(`Message-ID: ${messageId}\r\n`);
    added.push("message-id");
  }
  const text = o.prefix + kept.map((f) => f.raw).join("") + extra.join("") + (eol === "\n" ? "\n" : "\r\n");
  return {
    head: Buffer.from(text, "utf8"),
    messageId,
    added,
    bccRemoved: parsed.fields.length - kept.length,
  };
}
