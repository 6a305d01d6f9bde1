// Fuzz of the transfer decoders and their users: any octets, any chunking,
// any encoding name: nothing throws, and the output is bounded by the input
// (base64: 3/4 of it; quoted-printable: one extra octet per LF; Q: as long).
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { createTransferDecoder, decodeEncodedWords, decodeQ, indexMessageSync } from "../src/index.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);

it("malformed input never throws and never decodes to more than the bound", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.constantFrom("base64", "quoted-printable", "7bit", "binary"),
      (raw, cutsRaw, encoding) => {
        const input = Buffer.from(raw);
        const d = createTransferDecoder(encoding)!;
        const cuts = [...new Set(cutsRaw.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        let total = 0;
        let from = 0;
        for (const p of [...cuts, input.length]) {
          total += d.push(input.subarray(from, p)).length;
          from = p;
        }
        total += d.end().length;
        const lfs = input.toString("latin1").split("\n").length - 1;
        const bound =
          encoding === "base64"
            ? Math.floor((input.length * 3) / 4)
            : encoding === "quoted-printable"
              ? input.length + lfs
              : input.length;
        assert.ok(total <= bound, `${encoding}: ${total} octets from ${input.length}`);
        assert.ok(decodeQ(input).length <= input.length);
      },
    ),
    { numRuns: RUNS },
  );
});

it("encoded words and a message's preview survive any bytes", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.constantFrom("base64", "quoted-printable", "x-junk"),
      (raw, cte) => {
        const junk = Buffer.from(raw).toString("latin1");
        decodeEncodedWords(`=?utf-8?B?${junk}?= =?koi8-r?Q?${junk}?=`);
        const msg = Buffer.concat([
          Buffer.from(
            `Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n`,
          ),
          Buffer.from(raw),
        ]);
        assert.equal(typeof indexMessageSync(msg).preview, "string");
      },
    ),
    { numRuns: RUNS },
  );
});
