/**
 * SEARCH BODY / TEXT / HEADER <field> by reading message text (RFC 9051 §6.4.4),
 * for the messages the full-text index (libs/store search/) can't answer: those
 * not indexed yet (backfill, or a row not written after a crash), those whose
 * text was cut at the index's bound, and HEADER on a field without a column
 * (whose candidates the index narrows first).
 *
 * The candidates' blobs are read (up to MAX_SCANNED_SIZE each; larger messages
 * are scanned in their first MAX_SCANNED_SIZE octets), with a bounded number of
 * reads in flight. The text is libs/mime's extractSearchText, the very text the
 * index holds, so a message answers the same whether indexed or scanned.
 */
import type { BlobStore } from "@aerogram/blobstore";
import { MAX_SEARCH_READ_BYTES, type StoredMime } from "@aerogram/delivery";
import {
  decodeEncodedWords,
  extractSearchText,
  parseHeaderBlock,
  type SearchText,
  searchTextMatches,
} from "@aerogram/mime";
import type { TextCondition } from "./search-criteria.ts";

const CONCURRENCY = 8;
const MAX_SCANNED_SIZE = MAX_SEARCH_READ_BYTES;

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
  #text: SearchText | null = null;

  constructor(
    private readonly raw: Buffer,
    private readonly mime: StoredMime | null,
  ) {}

  matches(condition: TextCondition): boolean {
    if (condition.kind === "header") {
      const needle = condition.value.toLowerCase();
      const name = (condition.field ?? "").toLowerCase();
      const fields = parseHeaderBlock(this.#headerBlock()).filter((f) => f.name.toLowerCase() === name);
      return fields.some((f) => decodeEncodedWords(f.value).toLowerCase().includes(needle));
    }
    // no body-text bound here: the scan reads what the index could not hold
    this.#text ??= extractSearchText(this.raw, this.mime?.parts ?? null, Number.POSITIVE_INFINITY);
    return searchTextMatches(this.#text, condition.kind, condition.value);
  }

  #headerBlock(): string {
    const end = this.mime ? this.mime.parts.bodyStart : this.raw.length;
    return this.raw.toString("latin1", 0, Math.min(end, this.raw.length));
  }
}
