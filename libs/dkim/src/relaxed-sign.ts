/**
 * A DKIM-Signature (RFC 6376) with relaxed/relaxed canonicalization, signed
 * with an already parsed key. mailauth's signer takes the key as PEM and
 * parses it for every message: OpenSSL 3's decoder costs about 1 ms of CPU
 * per parse, ten times an Ed25519 signature and as much as an RSA-2048 one,
 * so DkimSigner keeps a KeyObject per domain and signs here. Headers are
 * chosen as mailauth's signer chooses them (its default list, RFC 6376
 * §5.4.1's recommendation; every instance, bottom-up), and mailauth's
 * verifier checks the result in the tests.
 *
 * The message is handled as latin1 text so that 8-bit header and body octets
 * pass through unchanged. Line ends may be CRLF or bare LF (a client may send
 * either; the stored copy is CRLF, and both canonicalize alike).
 */
import { createHash, type KeyObject, sign } from "node:crypto";

/** mailauth's defaultDKIMFieldNames, lowercased. */
const SIGNED_FIELDS = new Set(
  (
    "From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:" +
    "Content-Transfer-Encoding:Content-ID:Content-Description:Resent-Date:Resent-From:" +
    "Resent-Sender:Resent-To:Resent-Cc:Resent-Message-ID:In-Reply-To:References:List-Id:" +
    "List-Help:List-Unsubscribe:List-Subscribe:List-Post:List-Owner:List-Archive:BIMI-Selector"
  )
    .toLowerCase()
    .split(":"),
);

export interface RelaxedSignOptions {
  domain: string;
  selector: string;
  algorithm: "ed25519-sha256" | "rsa-sha256";
  key: KeyObject;
  /** The t= tag; now by default. */
  time?: Date;
}

/** The DKIM-Signature header field for `message`, folded, with its CRLF. */
export function signRelaxed(message: Buffer, o: RelaxedSignOptions): string {
  const { head, body } = splitMessage(message.toString("latin1"));
  const bh = createHash("sha256").update(relaxedBody(body), "latin1").digest("base64");
  // Every instance of a listed field, bottom-up (a verifier takes instances from the bottom).
  const fields = headerFields(head)
    .filter((f) => SIGNED_FIELDS.has(f.key))
    .reverse();
  const t = Math.floor((o.time ?? new Date()).getTime() / 1000);
  const header =
    `DKIM-Signature: v=1; a=${o.algorithm}; c=relaxed/relaxed; d=${o.domain};\r\n` +
    ` s=${o.selector}; t=${t}; bh=${bh};\r\n` +
    ` h=${foldList(fields.map((f) => f.name))}; b=`;
  let data = "";
  for (const f of fields) data += `${relaxedHeader(f.raw)}\r\n`;
  data += relaxedHeader(header); // with an empty b=, and no CRLF (§3.7)
  const signed =
    o.algorithm === "rsa-sha256"
      ? sign("sha256", Buffer.from(data, "latin1"), o.key)
      : // RFC 8463 §3: Ed25519 (PureEdDSA) over the SHA-256 of the data.
        sign(null, createHash("sha256").update(data, "latin1").digest(), o.key);
  return `${header}${foldBase64(signed.toString("base64"))}\r\n`;
}

/** The header section and the body, split at the first empty line (CRLF or LF). */
function splitMessage(text: string): { head: string[]; body: string } {
  const head: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    const end = nl === -1 ? text.length : nl;
    const line = text.slice(start, end > start && text[end - 1] === "\r" ? end - 1 : end);
    start = nl === -1 ? text.length : nl + 1;
    if (line === "") return { head, body: text.slice(start) };
    head.push(line);
  }
  return { head, body: "" };
}

interface Field {
  /** As written, for h=. */
  name: string;
  key: string;
  /** The whole field, continuation lines joined with CRLF. */
  raw: string;
}

function headerFields(lines: string[]): Field[] {
  const fields: Field[] = [];
  for (const line of lines) {
    const last = fields.at(-1);
    if ((line[0] === " " || line[0] === "\t") && last) {
      last.raw += `\r\n${line}`;
      continue;
    }
    const colon = line.indexOf(":");
    const name = (colon === -1 ? line : line.slice(0, colon)).replace(/[ \t]+$/, "");
    fields.push({ name, key: name.toLowerCase(), raw: line });
  }
  return fields;
}

/** RFC 6376 §3.4.2: lowercase name, unfolded, WSP runs as one SP, none around the colon or at the end. */
function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw
    .slice(0, colon)
    .replace(/[ \t]+$/, "")
    .toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n/g, "")
    .replace(/[ \t]+/g, " ")
    .replace(/^ /, "")
    .replace(/ $/, "");
  return `${name}:${value}`;
}

/** RFC 6376 §3.4.4: WSP runs as one SP, none at line ends, no empty lines at the end, CRLF line ends. */
function relaxedBody(body: string): string {
  const lines = body.split("\n");
  let out = "";
  let emptyRun = 0;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    line = line.replace(/[ \t]+/g, " ").replace(/ $/, "");
    if (line === "") {
      emptyRun++; // written only if a non-empty line follows
      continue;
    }
    out += "\r\n".repeat(emptyRun) + line + "\r\n";
    emptyRun = 0;
  }
  return out;
}

/** h= names separated by colons, folded before a name that would pass 76 columns. */
function foldList(names: string[]): string {
  let out = "";
  let column = 4;
  for (const [i, name] of names.entries()) {
    const piece = i === 0 ? name : `:${name}`;
    if (i > 0 && column + piece.length > 76) {
      out += "\r\n ";
      column = 1;
    }
    out += piece;
    column += piece.length;
  }
  return out;
}

/** The b= value in lines of 72 (the verifier drops all whitespace in it). */
function foldBase64(b64: string): string {
  const parts: string[] = [];
  for (let i = 0; i < b64.length; i += 72) parts.push(b64.slice(i, i + 72));
  return parts.join("\r\n ");
}
