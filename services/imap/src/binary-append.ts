/**
 * APPEND of a literal8 (RFC 3516 §4.4): parts sent with Content-Transfer-Encoding
 * binary may hold octets (NUL) that no IMAP literal can carry back in a
 * BODY[...] response, so — like Dovecot — such parts are stored base64-encoded.
 * BINARY[...] decodes them to the original octets. Applied to buffered literals;
 * a streamed literal8 is stored as sent.
 */
import { indexMessageSync, type PartNode } from "@aerogram/mime";

function leaves(part: PartNode, out: PartNode[]): PartNode[] {
  if (part.children) for (const child of part.children) leaves(child, out);
  else if (part.message) leaves(part.message, out);
  else out.push(part);
  return out;
}

function base64Lines(bytes: Buffer): string {
  const encoded = bytes.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return lines.join("\r\n");
}

export function convertBinaryParts(message: Buffer): Buffer {
  if (!message.includes(0)) return message;
  const index = indexMessageSync(message);
  const targets = leaves(index.parts, []).filter(
    (p) => p.encoding === "binary" && message.subarray(p.bodyStart, p.bodyEnd).includes(0),
  );
  if (targets.length === 0) return message;
  // Splice from the end so earlier offsets stay valid.
  targets.sort((a, b) => b.headerStart - a.headerStart);
  let out = message;
  for (const part of targets) {
    const header = out
      .toString("latin1", part.headerStart, part.bodyStart)
      .replace(/^(content-transfer-encoding:)[ \t]*binary[ \t]*$/im, "$1 base64");
    const body = base64Lines(out.subarray(part.bodyStart, part.bodyEnd));
    out = Buffer.concat([
      out.subarray(0, part.headerStart),
      Buffer.from(header, "latin1"),
      Buffer.from(body, "latin1"),
      out.subarray(part.bodyEnd),
    ]);
  }
  return out;
}
