import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createIndexer, indexMessage, indexMessageSync, type MessageIndex } from "../src/index.ts";

const corpusDir = join(import.meta.dirname, "fixtures/corpus");
const corpus = readdirSync(corpusDir)
  .filter((f) => f.endsWith(".eml"))
  .sort()
  .map((f) => ({ name: f, bytes: readFileSync(join(corpusDir, f)) }));

function indexInChunks(msg: Buffer, sizes: number[]): MessageIndex {
  const ix = createIndexer();
  let pos = 0;
  let k = 0;
  while (pos < msg.length) {
    const n = Math.max(1, sizes.length === 0 ? 1 : sizes[k++ % sizes.length]!);
    ix.write(msg.subarray(pos, pos + n));
    pos += n;
  }
  return ix.end();
}

describe("streaming", () => {
  it("gives the same index fed one byte at a time as fed whole, for every corpus message", () => {
    for (const { name, bytes } of corpus) {
      if (bytes.length > 20000) continue; // covered by the random-chunk property below
      assert.deepEqual(indexInChunks(bytes, [1]), indexMessageSync(bytes), name);
    }
  });
  it("gives the same index for random chunk sizes (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }),
        ({ bytes }, sizes) => {
          assert.deepEqual(indexInChunks(bytes, sizes), indexMessageSync(bytes));
        },
      ),
      { numRuns: 300 },
    );
  });
  it("never throws and keeps offsets consistent on arbitrary input (property)", () => {
    const piece = fc.constantFrom(
      "--b\r\n",
      "--b--\r\n",
      "--c\n",
      "\r\n",
      "\n",
      "Content-Type: multipart/mixed; boundary=b\r\n",
      "Content-Type: multipart/alternative; boundary=c\n",
      "Content-Type: message/rfc822\r\n",
      "Subject: x\r\n",
      "text line\r\n",
      "-",
      "\r",
      "=?utf-8?q?x?=",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 1, max: 17 }), (pieces, chunk) => {
        const msg = Buffer.from(pieces.join(""), "latin1");
        const whole = indexMessageSync(msg);
        assert.deepEqual(indexInChunks(msg, [chunk]), whole);
        assert.equal(whole.size, msg.length);
        const walk = (n: MessageIndex["parts"], lo: number, hi: number) => {
          assert.ok(
            lo <= n.headerStart &&
              n.headerStart <= n.bodyStart &&
              n.bodyStart <= n.bodyEnd &&
              n.bodyEnd <= hi,
          );
          assert.equal(n.size, n.bodyEnd - n.bodyStart);
          for (const c of n.children ?? []) walk(c, n.bodyStart, n.bodyEnd);
          if (n.message !== undefined) walk(n.message, n.bodyStart, n.bodyEnd);
        };
        walk(whole.parts, 0, msg.length);
      }),
      { numRuns: 300 },
    );
  });
  it("indexes from a Readable and from an async iterable", async () => {
    const { bytes } = corpus.find((c) => c.name.startsWith("07-"))!;
    const expected = indexMessageSync(bytes);
    assert.deepEqual(
      await indexMessage(Readable.from([bytes.subarray(0, 100), bytes.subarray(100)])),
      expected,
    );
    async function* gen() {
      for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
    }
    assert.deepEqual(await indexMessage(gen()), expected);
  });
});

describe("index content", () => {
  const get = (prefix: string) => indexMessageSync(corpus.find((c) => c.name.startsWith(prefix))!.bytes);
  it("is plain JSON", () => {
    for (const { bytes } of corpus) {
      const ix = indexMessageSync(bytes);
      assert.deepEqual(JSON.parse(JSON.stringify(ix)), ix);
    }
  });
  it("decodes search fields and previews", () => {
    const koi = get("08-");
    assert.equal(koi.search.subject, "Привет из КОИ-8");
    assert.equal(koi.preview, "Здравствуйте! Это письмо в кодировке KOI8-R. Вторая строка.");
    assert.equal(koi.parts.charset, "koi8-r");
    const enc = get("11-");
    assert.equal(enc.search.from, "André Pirard <PIRARD@vm1.ulg.ac.be>");
    assert.equal(enc.search.subject, "If you can read this you understand the example.");
    assert.equal(enc.preview, "Café");
    const b64 = get("03-");
    assert.equal(b64.preview, "Привет, мир! Это тестовое сообщение в base64. Вторая строка.");
    assert.equal(get("48-").preview, "Привет & welcome");
    assert.equal(get("04-").preview, "Plain version.");
    const groups = get("12-");
    assert.equal(groups.search.to, "A Group: Ed Jones <c@a.test>, joe@where.test, John <jdoe@one.test>;");
    assert.equal(groups.search.sentAt, "1969-02-14T03:02:54.000Z");
  });
  it("reports decoded file names from RFC 2231 and RFC 2047", () => {
    const r = get("10-");
    assert.equal(r.parts.children![0]!.filename, "длинное имя file.pdf");
    const d = get("40-");
    assert.equal(d.parts.children![1]!.filename, "second.bin");
    assert.equal(d.parts.children![2]!.filename, "файл.txt");
    assert.equal(d.parts.children![3]!.filename, "Résumé.txt");
  });
  it("parses message/global like message/rfc822 for offsets", () => {
    const g = get("41-");
    const part = g.parts.children![1]!;
    assert.equal(part.contentType, "message/global");
    assert.equal(part.message?.contentType, "text/plain");
  });
  it("keeps a 10,000-character header line and bounded header memory", () => {
    const big = Buffer.concat([
      Buffer.from(`Subject: big\r\nX-Huge: ${"y".repeat(600 * 1024)}\r\n\r\nbody\r\n`),
    ]);
    const ix = indexMessageSync(big);
    assert.equal(ix.parts.bodyStart, big.length - 6);
    assert.equal(ix.search.subject, "big");
  });
  it("handles empty input", () => {
    const ix = indexMessageSync(Buffer.alloc(0));
    assert.equal(ix.size, 0);
    assert.equal(
      ix.bodyStructureImap,
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)',
    );
  });
});
