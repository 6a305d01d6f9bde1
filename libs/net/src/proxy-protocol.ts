/**
 * The PROXY protocol (HAProxy, versions 1 and 2): the header a load balancer
 * sends before the client's bytes so the server learns the client's address.
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 *
 * parseProxyHeader is pure and total: any bytes give "incomplete" (read more),
 * a header (with its length, so the caller passes the rest on intact) or an
 * error; it never throws.
 */
import { isIPv4, isIPv6 } from "node:net";

export interface ProxyAddress {
  address: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** "local": the balancer speaks for itself (health checks); keep the socket's own addresses. */
  command: "proxy" | "local";
  /** "unknown": proxied, but the original addresses are not told (v1 UNKNOWN, v2 AF_UNSPEC/AF_UNIX). */
  family: "tcp4" | "tcp6" | "unknown";
  source?: ProxyAddress;
  destination?: ProxyAddress;
}

export type ProxyParseResult =
  | { kind: "incomplete" }
  | {
      kind: "header";
      header: ProxyHeader /** Bytes the header took; what follows is client data. */;
      length: number;
    }
  | { kind: "error"; message: string };

/** The 12-byte v2 signature. */
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V1_PREFIX = Buffer.from("PROXY ", "latin1");
/** The longest v1 line, CRLF included (spec §2.1). */
export const PROXY_V1_MAX_LENGTH = 107;
const V2_FIXED_LENGTH = 16;

const incomplete: ProxyParseResult = { kind: "incomplete" };
const error = (message: string): ProxyParseResult => ({ kind: "error", message });

/** True when `buf` is a (possibly partial) prefix of `expected`, or starts with all of it. */
function matchesPrefix(buf: Buffer, expected: Buffer): boolean {
  const n = Math.min(buf.length, expected.length);
  return buf.subarray(0, n).equals(expected.subarray(0, n));
}

export function parseProxyHeader(buf: Buffer): ProxyParseResult {
  if (buf.length === 0) return incomplete;
  if (matchesPrefix(buf, PROXY_V2_SIGNATURE)) {
    return buf.length < PROXY_V2_SIGNATURE.length ? incomplete : parseV2(buf);
  }
  if (matchesPrefix(buf, V1_PREFIX)) {
    return buf.length < V1_PREFIX.length ? incomplete : parseV1(buf);
  }
  return error("no PROXY protocol header");
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function parsePort(s: string | undefined): number | undefined {
  if (s === undefined || !PORT.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

function parseV1(buf: Buffer): ProxyParseResult {
  const window = buf.subarray(0, PROXY_V1_MAX_LENGTH);
  const cr = window.indexOf("\r\n", 0, "latin1");
  if (cr < 0) {
    return buf.length >= PROXY_V1_MAX_LENGTH ? error("PROXY v1 line longer than 107 bytes") : incomplete;
  }
  const line = window.subarray(0, cr).toString("latin1");
  const length = cr + 2;
  const parts = line.split(" ");
  const family = parts[1];
  if (family === "UNKNOWN") {
    // The rest of an UNKNOWN line is ignored by the receiver (§2.1).
    return { kind: "header", header: { version: 1, command: "proxy", family: "unknown" }, length };
  }
  if (family !== "TCP4" && family !== "TCP6")
    return error(`PROXY v1: unknown protocol ${JSON.stringify(family)}`);
  if (parts.length !== 6) return error("PROXY v1: expected 'PROXY TCPx src dst sport dport'");
  const [, , src, dst, sport, dport] = parts;
  const isFamily = family === "TCP4" ? isIPv4 : isIPv6;
  if (!src || !dst || !isFamily(src) || !isFamily(dst)) return error(`PROXY v1: bad ${family} address`);
  const srcPort = parsePort(sport);
  const dstPort = parsePort(dport);
  if (srcPort === undefined || dstPort === undefined) return error("PROXY v1: bad port");
  return {
    kind: "header",
    header: {
      version: 1,
      command: "proxy",
      family: family === "TCP4" ? "tcp4" : "tcp6",
      source: { address: src, port: srcPort },
      destination: { address: dst, port: dstPort },
    },
    length,
  };
}

function ipv4At(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6At(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + i * 2).toString(16));
  return compressIPv6(groups);
}

/** RFC 5952 text form: the longest run (≥ 2) of zero groups becomes "::". */
function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLen).join(":")}`;
}

function parseV2(buf: Buffer): ProxyParseResult {
  if (buf.length < V2_FIXED_LENGTH) return incomplete;
  const versionCommand = buf[12] as number;
  if (versionCommand >> 4 !== 2) return error(`PROXY v2: unsupported version ${versionCommand >> 4}`);
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) return error(`PROXY v2: unknown command ${commandBits}`);
  const familyProtocol = buf[13] as number;
  const addressFamily = familyProtocol >> 4;
  const transport = familyProtocol & 0x0f;
  if (addressFamily > 3 || transport > 2) return error("PROXY v2: unknown address family or protocol");
  const bodyLength = buf.readUInt16BE(14);
  const total = V2_FIXED_LENGTH + bodyLength;
  if (buf.length < total) return incomplete;
  const body = buf.subarray(V2_FIXED_LENGTH, total);

  const addressLength = [0, 12, 36, 216][addressFamily] as number;
  if (body.length < addressLength) return error("PROXY v2: address block shorter than its family needs");
  const tlvError = checkTlvs(body.subarray(addressLength));
  if (tlvError) return error(tlvError);

  if (commandBits === 0)
    return { kind: "header", header: { version: 2, command: "local", family: "unknown" }, length: total };
  // AF_UNSPEC, AF_UNIX and UDP carry nothing we can use as a TCP peer address.
  if (transport !== 1 || addressFamily === 0 || addressFamily === 3) {
    return { kind: "header", header: { version: 2, command: "proxy", family: "unknown" }, length: total };
  }
  const v4 = addressFamily === 1;
  const read = v4 ? ipv4At : ipv6At;
  const size = v4 ? 4 : 16;
  return {
    kind: "header",
    header: {
      version: 2,
      command: "proxy",
      family: v4 ? "tcp4" : "tcp6",
      source: { address: read(body, 0), port: body.readUInt16BE(2 * size) },
      destination: { address: read(body, size), port: body.readUInt16BE(2 * size + 2) },
    },
    length: total,
  };
}

/** TLVs (type, 16-bit length, value) after the addresses: skipped, but each must fit. */
function checkTlvs(tlvs: Buffer): string | undefined {
  let at = 0;
  while (at < tlvs.length) {
    if (tlvs.length - at < 3) return "PROXY v2: truncated TLV";
    const length = tlvs.readUInt16BE(at + 1);
    at += 3 + length;
    if (at > tlvs.length) return "PROXY v2: TLV runs past the header";
  }
  return undefined;
}

/** A v1 header line (what a balancer sends); for tests and for proxies we write. */
export function encodeProxyV1(header: Pick<ProxyHeader, "family" | "source" | "destination">): Buffer {
  if (header.family === "unknown" || !header.source || !header.destination) {
    return Buffer.from("PROXY UNKNOWN\r\n", "latin1");
  }
  const { source: s, destination: d } = header;
  const family = header.family === "tcp4" ? "TCP4" : "TCP6";
  return Buffer.from(`PROXY ${family} ${s.address} ${d.address} ${s.port} ${d.port}\r\n`, "latin1");
}

/** IPv6 text (with "::" and an optional trailing dotted quad, as in ::ffff:1.2.3.4) as its 16 octets. */
function ipv6Bytes(address: string): Buffer {
  const lastColon = address.lastIndexOf(":");
  const embedded = address.slice(lastColon + 1);
  let text = address;
  if (isIPv4(embedded)) {
    const [a = 0, b = 0, c = 0, d = 0] = embedded.split(".").map(Number);
    text = `${address.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  for (const [i, group] of groups.entries()) out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  return out;
}

/** A v2 header, optionally with TLVs (type → value) after the addresses. */
export function encodeProxyV2(
  header: Pick<ProxyHeader, "command" | "family" | "source" | "destination">,
  tlvs: { type: number; value: Buffer }[] = [],
): Buffer {
  let familyProtocol = 0x00;
  let addresses = Buffer.alloc(0);
  if (header.command === "proxy" && header.family !== "unknown" && header.source && header.destination) {
    const v4 = header.family === "tcp4";
    familyProtocol = v4 ? 0x11 : 0x21;
    const ip = v4 ? (a: string) => Buffer.from(a.split(".").map(Number)) : ipv6Bytes;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(header.source.port, 0);
    ports.writeUInt16BE(header.destination.port, 2);
    addresses = Buffer.concat([ip(header.source.address), ip(header.destination.address), ports]);
  }
  const tlvBytes = tlvs.map(({ type, value }) => {
    const head = Buffer.alloc(3);
    head[0] = type;
    head.writeUInt16BE(value.length, 1);
    return Buffer.concat([head, value]);
  });
  const body = Buffer.concat([addresses, ...tlvBytes]);
  const fixed = Buffer.alloc(4);
  fixed[0] = header.command === "local" ? 0x20 : 0x21;
  fixed[1] = familyProtocol;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, fixed, body]);
}
