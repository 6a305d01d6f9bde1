// The one transfer decoder (transfer-decoding.ts): examples, then properties
// against Node's base64 decoder and a line-by-line reference quoted-printable
// decoder, under every chunking; and the streaming charset decoder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type ByteDecoder,
  createCharsetDecoder,
  createTransferDecoder,
  decodeCharset,
  decodeQ,
  decodeTransfer,
  decodeTransferStream,
} from "../src/index.ts";
import { referenceQp } from "./reference-qp.ts";

/** Feeds `input` to a fresh decoder cut at `cuts`; the concatenated output. */
function chunked(encoding: string, input: Buffer, cuts: number[]): Buffer {
  const d = createTransferDecoder(encoding) as ByteDecoder;
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, input.length]) {
    out.push(d.push(input.subarray(from, p)));
    from = p;
  }
  out.push(d.end());
  return Buffer.concat(out);
}

const cuts = fc.array(fc.nat(), { maxLength: 10 });
/** Bytes dense in what matters to quoted-printable. */
const qpBytes = fc
  .array(fc.constantFrom(..."=\r\n \tA3dfG_=\r\n".split(""), "=3D", "=c3=a9", "= \r\n", "=\n", "\xe9"), {
    maxLength: 200,
  })
  .map((a) => Buffer.from(a.join(""), "latin1"));

describe("quoted-printable", () => {
  it("decodes soft breaks, escapes, padding and hard breaks", () => {
    const qp = (s: string) =>
      decodeTransfer(Buffer.from(s, "latin1"), "quoted-printable")!.toString("latin1");
    assert.equal(
      qp("Caf=C3=A9 a long line=\r\n and more  \r\nnext=3d\nlast"),
      "Caf\xc3\xa9 a long line and more\r\nnext=\r\nlast",
    );
    assert.equal(qp("=ZZ =4 =\r\n"), "=ZZ =4 ");
    assert.equal(qp("soft at end="), "soft at end");
    assert.equal(qp("trailing \t"), "trailing");
  });

  it("equals the reference decoder, however the input is chunked", () => {
    fc.assert(
      fc.property(qpBytes, cuts, (input, c) => {
        assert.deepEqual(chunked("quoted-printable", input, c), referenceQp(input));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips octets encoded as =XX with soft breaks", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (bytes, c) => {
        const hex = [...bytes].map((b) => `=${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");
        const wrapped = Buffer.from(hex.replace(/(.{72})/g, "$1=\r\n"));
        assert.deepEqual(chunked("quoted-printable", wrapped, c), Buffer.from(bytes));
      }),
    );
  });
});

describe("base64", () => {
  it("skips what is not base64; '=' ends a quantum and decoding goes on; a last partial quantum decodes as Node's does", () => {
    const b64 = (s: string) => decodeTransfer(Buffer.from(s, "latin1"), "base64")!.toString("latin1");
    assert.equal(b64("QUJD\r\nREVG"), "ABCDEF");
    assert.equal(b64("QQ==QUJD"), "AABC");
    assert.equal(b64("QU*J\x00D"), "ABC");
    assert.equal(b64("QUI"), "AB");
    assert.equal(b64("Q"), "");
  });

  it("equals Node's decoder on wrapped base64 of any bytes, however chunked", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 500 }),
        fc.integer({ min: 4, max: 100 }),
        cuts,
        (bytes, width, c) => {
          const text = Buffer.from(bytes).toString("base64");
          const wrapped = Buffer.from(text.replace(new RegExp(`(.{${width}})`, "g"), "$1\r\n"));
          const ours = chunked("base64", wrapped, c);
          assert.deepEqual(ours, Buffer.from(bytes));
          assert.deepEqual(ours, Buffer.from(wrapped.toString("latin1"), "base64"));
        },
      ),
    );
  });

  it("equals Node's decoder on any input without '=', '-' and '_' (junk octets are skipped by both)", () => {
    // Node also reads base64url's "-" and "_"; MIME base64 has neither
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (raw, c) => {
        const input = Buffer.from(raw.filter((b) => b !== 0x3d && b !== 0x2d && b !== 0x5f));
        assert.deepEqual(chunked("base64", input, c), Buffer.from(input.toString("latin1"), "base64"));
      }),
    );
  });

  it("decodes separately padded pieces to their concatenation (Node stops at the first '=')", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }), cuts, (pieces, c) => {
        const text = Buffer.from(pieces.map((p) => `${Buffer.from(p).toString("base64")}\r\n`).join(""));
        assert.deepEqual(chunked("base64", text, c), Buffer.concat(pieces));
      }),
    );
  });
});

describe("other encodings", () => {
  it("7bit, 8bit, binary and a missing header pass through; an unknown one is null", () => {
    const body = Buffer.from("=41 \r\nQUJD");
    for (const e of ["7bit", "8BIT", "binary", null, undefined, ""])
      assert.deepEqual(decodeTransfer(body, e), body);
    assert.equal(decodeTransfer(body, "x-uuencode"), null);
    assert.equal(createTransferDecoder("x-uuencode"), null);
  });

  it("decodes a stream of chunks", async () => {
    async function* source() {
      yield Buffer.from("QUJ");
      yield Buffer.from("D\r\nRE");
      yield Buffer.from("VG");
    }
    assert.equal((await decodeTransferStream(source(), "base64"))!.toString(), "ABCDEF");
  });

  it("decodes a stream into one buffer of the bound when the length is known (and grows past a wrong hint)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.constantFrom("base64", "quoted-printable", "8bit"),
        fc.integer({ min: 1, max: 700 }),
        async (bytes, encoding, chunk) => {
          const encoded =
            encoding === "base64"
              ? Buffer.from(
                  Buffer.from(bytes)
                    .toString("base64")
                    .replace(/(.{76})/g, "$1\r\n"),
                )
              : Buffer.from(bytes);
          async function* source() {
            for (let i = 0; i < encoded.length; i += chunk) yield encoded.subarray(i, i + chunk);
          }
          const expected = decodeTransfer(encoded, encoding)!;
          assert.deepEqual(await decodeTransferStream(source(), encoding, encoded.length), expected);
          assert.deepEqual(await decodeTransferStream(source(), encoding, 1), expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("Q encoding (RFC 2047 §4.2): '_' is a space, =XX an octet", () => {
    assert.equal(decodeQ(Buffer.from("Caf=C3=A9_au_lait=")).toString(), "Café au lait=");
  });
});

describe("streaming charset decoder", () => {
  it("gives decodeCharset's text however the bytes are chunked", () => {
    const samples: [string, Buffer][] = [
      ["utf-8", Buffer.from("Grüße, мир, 世界 🎉")],
      ["koi8-r", Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4])],
      ["shift_jis", Buffer.from([0x82, 0xb1, 0x82, 0xf1, 0x82, 0xc9, 0x82, 0xbf, 0x82, 0xcd])],
      ["utf-7", Buffer.from("Hi +AKM-1")],
      ["us-ascii", Buffer.from("plain, and 8-bit UTF-8: é")],
      ["x-unknown", Buffer.from("latin1 \xe9 fallback", "latin1")],
    ];
    for (const [charset, bytes] of samples) {
      const expected = decodeCharset(bytes, charset);
      for (let size = 1; size <= bytes.length; size++) {
        const d = createCharsetDecoder(charset);
        let text = "";
        for (let i = 0; i < bytes.length; i += size) text += d.write(bytes.subarray(i, i + size));
        text += d.end();
        assert.equal(text, expected, `${charset} in chunks of ${size}`);
      }
    }
  });
});
