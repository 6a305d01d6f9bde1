/**
 * SEARCH BODY / TEXT / HEADER <field> over message text (RFC 9051 §6.4.4).
 *
 * Approach: the index has no full text, so the candidates' blobs are read
 * (whole, up to MAX_SCANNED_SIZE each; larger messages are scanned in their
 * first MAX_SCANNED_SIZE octets), with a bounded number of reads in flight. Text
 * parts are decoded (Content-Transfer-Encoding, then charset) and headers have
 * their RFC 2047 words decoded, so matching is over what the user sees, case-
 * insensitively. This costs a blob read per candidate: fine for the mailbox
 * sizes IMAP clients search server-side; a full-text index (none exists yet: it
 * would be a new libs/store migration) is the scale-up path.
 */
import type { BlobStore } from "@aerogram/blobstore";
import type { StoredMime } from "@aerogram/delivery";
import {
  decodeCharset,
  decodeEncodedWords,
  decodeTransfer,
  type PartNode,
  parseHeaderBlock,
} from "@aerogram/mime";
import type { TextCondition } from "./search-criteria.ts";

const CONCURRENCY = 8;
const MAX_SCANNED_SIZE = 16 * 1024 * 1024;

interface Candidate {
  uid: number;
  blobKey: string;
  mime: unknown;
}

export async function textMatches(
  blobs: BlobStore,
  candidates: readonly Candidate[],
  conditions: readonly TextCondition[],
): Promise<Map<TextCondition, number[]>> {
  const matches = new Map<TextCondition, number[]>(conditions.map((c) => [c, []]));
  let next = 0;
  const worker = async () => {
    while (next < candidates.length) {
      const candidate = candidates[next++]!;
      const mime = candidate.mime as StoredMime | null;
      const size = mime ? Math.min(mime.size, MAX_SCANNED_SIZE) : MAX_SCANNED_SIZE;
      const raw = await blobs.read(candidate.blobKey, 0, size);
      const text = new MessageText(raw, mime);
      for (const condition of conditions) {
        if (text.matches(condition)) matches.get(condition)!.push(candidate.uid);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, candidates.length) }, worker));
  for (const list of matches.values()) list.sort((a, b) => a - b);
  return matches;
}

class MessageText {
  #header: string | null = null;
  #body: string | null = null;

  constructor(
    private readonly raw: Buffer,
    private readonly mime: StoredMime | null,
  ) {}

  matches(condition: TextCondition): boolean {
    const needle = condition.value.toLowerCase();
    if (condition.kind === "header") {
      const name = (condition.field ?? "").toLowerCase();
      const fields = parseHeaderBlock(this.#headerBlock()).filter((f) => f.name.toLowerCase() === name);
      return fields.some((f) => decodeEncodedWords(f.value).toLowerCase().includes(needle));
    }
    if (this.#bodyText().includes(needle)) return true;
    return condition.kind === "text" && this.#headerText().includes(needle);
  }

  #headerBlock(): string {
    const end = this.mime ? this.mime.parts.bodyStart : this.raw.length;
    return this.raw.toString("latin1", 0, Math.min(end, this.raw.length));
  }

  #headerText(): string {
    this.#header ??= parseHeaderBlock(this.#headerBlock())
      .map((f) => `${f.name}: ${decodeEncodedWords(f.value)}`)
      .join("\n")
      .toLowerCase();
    return this.#header;
  }

  #bodyText(): string {
    if (this.#body !== null) return this.#body;
    const pieces: string[] = [];
    const walk = (part: PartNode) => {
      if (part.children) for (const child of part.children) walk(child);
      else if (part.message) {
        pieces.push(this.raw.toString("latin1", part.message.headerStart, part.message.bodyStart));
        walk(part.message);
      } else if (part.contentType.startsWith("text/") || part.contentType === "application/octet-stream") {
        pieces.push(this.#decodePart(part));
      }
    };
    if (this.mime) walk(this.mime.parts);
    else pieces.push(this.raw.toString("utf8"));
    this.#body = pieces.join("\n").toLowerCase();
    return this.#body;
  }

  #decodePart(part: PartNode): string {
    const bytes = this.raw.subarray(part.bodyStart, Math.min(part.bodyEnd, this.raw.length));
    // an unknown transfer encoding is searched as it is stored
    const decoded = decodeTransfer(bytes, part.encoding) ?? bytes;
    try {
      return decodeCharset(decoded, part.charset ?? "us-ascii");
    } catch {
      return decoded.toString("latin1");
    }
  }
}
