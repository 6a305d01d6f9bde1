/**
 * CIDR ranges (IPv4 and IPv6) and membership tests, for trusted-proxy lists.
 * IPv4-mapped IPv6 addresses (::ffff:10.1.2.3, as a dual-stack socket reports
 * IPv4 peers) match IPv4 ranges.
 */
import { isIPv4, isIPv6 } from "node:net";

export interface CidrRange {
  /** The network as a 128-bit number (IPv4 ranges are stored IPv4-mapped). */
  network: bigint;
  /** Prefix length in the 128-bit space. */
  bits: number;
}

const MAPPED_PREFIX = 0xffffn << 32n;

function ipv4ToBigInt(address: string): bigint {
  return address.split(".").reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(address: string): bigint {
  // A trailing dotted quad (::ffff:1.2.3.4) becomes its two hex groups first.
  const lastColon = address.lastIndexOf(":");
  const embedded = address.slice(lastColon + 1);
  let text = address;
  if (isIPv4(embedded)) {
    const n = Number(ipv4ToBigInt(embedded));
    text = `${address.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(Number.parseInt(g, 16));
  return n;
}

/** An address as a 128-bit number (IPv4 as IPv4-mapped IPv6); undefined when not an IP address. */
export function addressToBigInt(address: string): bigint | undefined {
  const plain = address.replace(/%.*$/, ""); // drop an IPv6 zone id
  if (isIPv4(plain)) return MAPPED_PREFIX | ipv4ToBigInt(plain);
  if (isIPv6(plain)) return ipv6ToBigInt(plain);
  return undefined;
}

/** Parses "10.0.0.0/8", "fd00::/8" or a bare address (a single host). Throws on anything else. */
export function parseCidr(text: string): CidrRange {
  const [address = "", prefix] = text.trim().split("/");
  const value = addressToBigInt(address);
  if (value === undefined) throw new Error(`not an IP address or CIDR range: ${JSON.stringify(text)}`);
  const v4 = isIPv4(address);
  const max = v4 ? 32 : 128;
  const length = prefix === undefined ? max : Number(prefix);
  if (!/^\d{1,3}$/.test(prefix ?? String(max)) || length > max) {
    throw new Error(`bad prefix length in ${JSON.stringify(text)} (expected 0 to ${max})`);
  }
  const bits = v4 ? 96 + length : length;
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits);
  return { network: value & mask, bits };
}

export function inCidr(address: string, range: CidrRange): boolean {
  const value = addressToBigInt(address);
  if (value === undefined) return false;
  const mask = range.bits === 0 ? 0n : ((1n << BigInt(range.bits)) - 1n) << BigInt(128 - range.bits);
  return (value & mask) === range.network;
}

export function inAnyCidr(address: string, ranges: readonly CidrRange[]): boolean {
  return ranges.some((r) => inCidr(address, r));
}
