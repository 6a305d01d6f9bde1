// LF → CRLF normalisation: chunking never changes the result, the output has
// no bare LF, and dropping the inserted CRs gives the input back.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CrlfNormalizer, hasBareLf, indexMessageSync, toCrlf } from "../src/index.ts";

/** Bytes drawn mostly from CR, LF and a letter, so line endings are dense. */
const lineBytes = fc
  .uint8Array({ maxLength: 300 })
  .map((a) => Buffer.from(a.map((b) => [0x0d, 0x0a, 0x41, b][b & 3]!)));

describe("toCrlf / CrlfNormalizer", () => {
  it("turns bare LFs into CRLF and leaves CRLF, lone CR and a last line without newline alone", () => {
    assert.equal(toCrlf(Buffer.from("a\nb\r\nc\rd\n\ne")).toString(), "a\r\nb\r\nc\rd\r\n\r\ne");
    const already = Buffer.from("x\r\n");
    assert.equal(toCrlf(already), already, "no bare LF: the same buffer, no copy");
  });

  it("gives the same bytes however the input is chunked (a CRLF split across chunks stays one)", () => {
    fc.assert(
      fc.property(lineBytes, fc.array(fc.nat(), { maxLength: 8 }), (input, cutsRaw) => {
        const cuts = [...new Set(cutsRaw.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const n = new CrlfNormalizer();
        const out: Buffer[] = [];
        let from = 0;
        for (const c of [...cuts, input.length]) {
          out.push(n.push(input.subarray(from, c)));
          from = c;
        }
        const whole = toCrlf(input);
        assert.ok(Buffer.concat(out).equals(whole));
        assert.equal(whole.length - input.length, n.added);
        assert.equal(hasBareLf(whole), false);
        // removing a CR before each LF that had none gives the input back
        const lfs = input
          .toString("latin1")
          .replace(/\r\n/g, "\u0000")
          .replace(/\n/g, "\r\n")
          .replace(/\u0000/g, "\r\n");
        assert.equal(whole.toString("latin1"), lfs);
      }),
    );
  });

  it("an index of the normalised message has the sizes of the CRLF bytes", () => {
    const lf = Buffer.from("Subject: x\nMIME-Version: 1.0\nContent-Type: text/plain\n\none\ntwo\n");
    const crlf = toCrlf(lf);
    const ix = indexMessageSync(crlf);
    assert.equal(ix.size, crlf.length);
    assert.equal(ix.size - lf.length, 6);
    assert.equal(ix.parts.bodyEnd - ix.parts.bodyStart, "one\r\ntwo\r\n".length);
  });
});
