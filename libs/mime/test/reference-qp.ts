/**
 * Reference quoted-printable decoder (RFC 2045 §6.7), written the obvious
 * way: split into lines, drop trailing white space, "=" at the end is a soft
 * break, "=XX" an octet, hard breaks as CRLF. It is the decoder FETCH BINARY
 * used before transfer-decoding.ts (a number[] per octet): the property
 * tests compare against it, and bench/decode-bench.ts runs it as "before".
 */
export function referenceQp(raw: Buffer): Buffer {
  const out: number[] = [];
  const lines = raw.toString("latin1").split(/\r?\n/);
  lines.forEach((original, index) => {
    const line = original.replace(/[ \t]+$/, "");
    const soft = line.endsWith("=");
    const body = soft ? line.slice(0, -1) : line;
    for (let i = 0; i < body.length; i++) {
      const c = body.charCodeAt(i);
      if (
        c === 0x3d &&
        i + 2 < body.length &&
        isHex(body.charCodeAt(i + 1)) &&
        isHex(body.charCodeAt(i + 2))
      ) {
        out.push(Number.parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(c);
    }
    if (!soft && index < lines.length - 1) out.push(0x0d, 0x0a);
  });
  return Buffer.from(out);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
