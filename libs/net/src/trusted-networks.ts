/**
 * Trusted-proxy lists: CIDR ranges (IPv4 and IPv6) and single hosts, checked
 * with node:net's BlockList. BlockList matches an IPv4-mapped IPv6 address
 * (::ffff:10.1.2.3, as a dual-stack socket reports IPv4 peers) against IPv4
 * ranges, and an IPv4 range never covers a non-mapped IPv6 address: what the
 * tests in test/proxy-protocol.test.ts pin down.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";

export type TrustedNetworks = BlockList;

function familyOf(address: string): "ipv4" | "ipv6" | undefined {
  return isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
}

/** Parses "10.0.0.0/8", "fd00::/8" or bare addresses (single hosts). Throws on anything else. */
export function parseTrustedNetworks(list: readonly string[]): TrustedNetworks {
  const networks = new BlockList();
  for (const text of list) {
    const [address = "", prefix] = text.trim().split("/");
    const family = familyOf(address);
    if (!family) throw new Error(`not an IP address or CIDR range: ${JSON.stringify(text)}`);
    const max = family === "ipv4" ? 32 : 128;
    if (prefix === undefined) {
      networks.addAddress(address, family);
      continue;
    }
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
      throw new Error(`bad prefix length in ${JSON.stringify(text)} (expected 0 to ${max})`);
    }
    networks.addSubnet(address, Number(prefix), family);
  }
  return networks;
}

/** Whether the peer address is in the list; an address that is not an IP (or has a zone id) is not. */
export function isTrustedPeer(address: string, networks: TrustedNetworks): boolean {
  const plain = address.replace(/%.*$/, ""); // an IPv6 zone id names an interface, not a network
  const family = familyOf(plain);
  return family !== undefined && networks.check(plain, family);
}
