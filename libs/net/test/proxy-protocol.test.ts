import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  encodeProxyV1,
  encodeProxyV2,
  isTrustedPeer,
  PROXY_V2_SIGNATURE,
  type ProxyHeader,
  parseProxyHeader,
  parseTrustedNetworks,
} from "../src/index.ts";

const v4: ProxyHeader = {
  version: 1,
  command: "proxy",
  family: "tcp4",
  source: { address: "203.0.113.7", port: 51234 },
  destination: { address: "192.0.2.1", port: 993 },
};
const v6: ProxyHeader = {
  version: 1,
  command: "proxy",
  family: "tcp6",
  source: { address: "2001:db8::7", port: 40000 },
  destination: { address: "2001:db8:0:1::25", port: 25 },
};

function header(buf: Buffer) {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, "header", JSON.stringify(r));
  return r as Extract<typeof r, { kind: "header" }>;
}

test("v1 round trips for TCP4 and TCP6, and data after the line is left alone", () => {
  for (const h of [v4, v6]) {
    const line = encodeProxyV1(h);
    const r = header(Buffer.concat([line, Buffer.from("EHLO x\r\n")]));
    assert.deepEqual(r.header, h);
    assert.equal(r.length, line.length);
  }
  const r = header(Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"));
  assert.deepEqual(r.header.source, { address: "1.2.3.4", port: 0 });
});

test("v1 UNKNOWN carries no address", () => {
  const r = header(Buffer.from("PROXY UNKNOWN ffff:f...f:ffff 1 2\r\nrest"));
  assert.deepEqual(r.header, { version: 1, command: "proxy", family: "unknown" });
  assert.equal(r.length, "PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n".length);
});

test("v2 round trips for IPv4 and IPv6, with TLVs skipped", () => {
  for (const h of [v4, v6]) {
    const tlvs = [
      { type: 0x01, value: Buffer.from("imap") }, // ALPN
      { type: 0x04, value: Buffer.alloc(0) }, // NOOP
      { type: 0xe0, value: Buffer.alloc(300, 7) },
    ];
    const bytes = encodeProxyV2(h, tlvs);
    const r = header(Buffer.concat([bytes, Buffer.from([0x16, 0x03, 0x01])]));
    assert.deepEqual(r.header, { ...h, version: 2 });
    assert.equal(r.length, bytes.length);
  }
});

test("v2 LOCAL (balancer health checks) and AF_UNSPEC keep the socket's address", () => {
  const local = header(encodeProxyV2({ command: "local", family: "unknown" }));
  assert.deepEqual(local.header, { version: 2, command: "local", family: "unknown" });
  const unspec = header(encodeProxyV2({ command: "proxy", family: "unknown" }));
  assert.deepEqual(unspec.header, { version: 2, command: "proxy", family: "unknown" });
});

test("every strict prefix of a header asks for more bytes", () => {
  for (const whole of [encodeProxyV1(v4), encodeProxyV1(v6), encodeProxyV2(v4), encodeProxyV2(v6)]) {
    for (let n = 0; n < whole.length; n++) {
      assert.equal(
        parseProxyHeader(whole.subarray(0, n)).kind,
        "incomplete",
        `prefix ${n} of ${whole.length}`,
      );
    }
  }
});

test("malformed headers are errors", () => {
  const bad = [
    "EHLO client\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
    "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    `PROXY UNKNOWN ${"x".repeat(100)}\r\n`,
  ];
  for (const s of bad) assert.equal(parseProxyHeader(Buffer.from(s)).kind, "error", s);
  assert.equal(
    parseProxyHeader(Buffer.from(`PROXY TCP4 ${"1".repeat(120)}`)).kind,
    "error",
    "no CRLF in 107",
  );

  const good = encodeProxyV2(v4);
  const withByte = (at: number, value: number) => {
    const b = Buffer.from(good);
    b[at] = value;
    return b;
  };
  assert.equal(parseProxyHeader(withByte(12, 0x11)).kind, "error", "version 1 in a v2 header");
  assert.equal(parseProxyHeader(withByte(12, 0x22)).kind, "error", "command 2");
  assert.equal(parseProxyHeader(withByte(13, 0x41)).kind, "error", "family 4");
  assert.equal(parseProxyHeader(withByte(13, 0x13)).kind, "error", "protocol 3");
  const short = Buffer.from(good);
  short.writeUInt16BE(8, 14); // claims fewer bytes than AF_INET needs
  assert.equal(parseProxyHeader(short).kind, "error");
  const overrun = encodeProxyV2(v4, [{ type: 1, value: Buffer.from("abcd") }]);
  overrun.writeUInt16BE(200, 16 + 12 + 1); // TLV length past the header
  assert.equal(parseProxyHeader(overrun).kind, "error");
  assert.equal(
    parseProxyHeader(Buffer.concat([PROXY_V2_SIGNATURE.subarray(0, 5), Buffer.from("x")])).kind,
    "error",
  );
});

test("property: random bytes never throw and a header is never longer than the input", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.boolean(),
      fc.boolean(),
      (bytes, v2Prefix, v1Prefix) => {
        let buf = Buffer.from(bytes);
        if (v2Prefix) buf = Buffer.concat([PROXY_V2_SIGNATURE, buf]);
        else if (v1Prefix) buf = Buffer.concat([Buffer.from("PROXY "), buf]);
        const r = parseProxyHeader(buf);
        if (r.kind === "header") assert.ok(r.length > 0 && r.length <= buf.length);
      },
    ),
    { numRuns: 5000 },
  );
});

test("property: encoded v1/v2 headers parse back to what was encoded", () => {
  const port = fc.integer({ min: 0, max: 65535 });
  const ip4 = fc.ipV4();
  const ip6 = fc.ipV6().map((a) => {
    // Normalise to the parser's RFC 5952 form by a v2 round trip of the address itself.
    const r = parseProxyHeader(
      encodeProxyV2({
        command: "proxy",
        family: "tcp6",
        source: { address: a, port: 1 },
        destination: { address: a, port: 1 },
      }),
    );
    return r.kind === "header" && r.header.source ? r.header.source.address : a;
  });
  fc.assert(
    fc.property(fc.boolean(), ip4, ip4, ip6, ip6, port, port, (useV6, a4, b4, a6, b6, sp, dp) => {
      const h: ProxyHeader = {
        version: 1,
        command: "proxy",
        family: useV6 ? "tcp6" : "tcp4",
        source: { address: useV6 ? a6 : a4, port: sp },
        destination: { address: useV6 ? b6 : b4, port: dp },
      };
      assert.deepEqual(header(encodeProxyV1(h)).header, h);
      assert.deepEqual(header(encodeProxyV2(h)).header, { ...h, version: 2 });
    }),
    { numRuns: 500 },
  );
});

test("trusted networks: IPv4, IPv6, IPv4-mapped peers, single hosts", () => {
  const ranges = parseTrustedNetworks(["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
  assert.ok(isTrustedPeer("10.200.3.4", ranges));
  assert.ok(isTrustedPeer("::ffff:10.1.2.3", ranges), "dual-stack socket reporting an IPv4 peer");
  assert.ok(isTrustedPeer("::FFFF:10.1.2.3", ranges), "IPv6 text is case-insensitive");
  assert.ok(isTrustedPeer("::ffff:a01:203", ranges), "the mapped address in hex groups");
  assert.ok(isTrustedPeer("::ffff:192.168.1.7", ranges), "a mapped single host");
  assert.ok(!isTrustedPeer("::ffff:11.0.0.1", ranges));
  assert.ok(!isTrustedPeer("::10.1.2.3", ranges), "IPv4-compatible (not mapped) is IPv6");
  assert.ok(isTrustedPeer("192.168.1.7", ranges));
  assert.ok(!isTrustedPeer("192.168.1.8", ranges));
  assert.ok(isTrustedPeer("fd12:3456::1", ranges));
  assert.ok(!isTrustedPeer("fe80::1", ranges));
  assert.ok(!isTrustedPeer("11.0.0.1", ranges));
  assert.ok(!isTrustedPeer("", ranges), "no peer address (socket already gone)");
  assert.ok(!isTrustedPeer("example.com", ranges));
  assert.ok(isTrustedPeer("fe80::1%eth0", parseTrustedNetworks(["fe80::/10"])), "zone id ignored");
  assert.ok(isTrustedPeer("8.8.8.8", parseTrustedNetworks(["0.0.0.0/0"])));
  assert.ok(isTrustedPeer("::ffff:8.8.8.8", parseTrustedNetworks(["0.0.0.0/0"])));
  assert.ok(!isTrustedPeer("::1", parseTrustedNetworks(["0.0.0.0/0"])), "IPv4 /0 does not cover IPv6");
  assert.ok(isTrustedPeer("10.1.2.3", parseTrustedNetworks(["::ffff:10.0.0.0/104"])), "a mapped IPv6 range");
  assert.ok(isTrustedPeer("10.1.2.3", parseTrustedNetworks(["::/0"])), "IPv6 /0 covers mapped IPv4 too");
  assert.throws(() => parseTrustedNetworks(["10.0.0.0/33"]), /bad prefix length/);
  assert.throws(() => parseTrustedNetworks(["fd00::/129"]), /bad prefix length/);
  assert.throws(() => parseTrustedNetworks(["10.0.0.0/x"]), /bad prefix length/);
  assert.throws(() => parseTrustedNetworks(["example.com/8"]), /not an IP address/);
});
