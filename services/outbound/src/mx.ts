/**
 * Where mail for a domain goes (RFC 5321 §5.1): its MX hosts by preference
 * (equal preferences shuffled, §5.1 asks senders to spread load), or, when it
 * has no MX, the domain itself as an implicit MX (its A/AAAA records). A null
 * MX (RFC 7505: one MX "." ) means the domain takes no mail: a permanent failure.
 */
import { promises as dns } from "node:dns";

export type MxLookup = (domain: string) => Promise<{ exchange: string; priority: number }[]>;

export type MxResult = { ok: true; hosts: string[] } | { ok: false; permanent: boolean; reason: string };

export const systemMx: MxLookup = (domain) => new dns.Resolver({ timeout: 5000, tries: 2 }).resolveMx(domain);

export async function mailHosts(domain: string, lookup: MxLookup = systemMx): Promise<MxResult> {
  let records: { exchange: string; priority: number }[];
  try {
    records = await lookup(domain);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    // No MX records: the implicit MX is the domain's own address (§5.1); if it has
    // no A/AAAA either, connecting fails and the retry schedule takes over.
    if (code === "ENODATA") return { ok: true, hosts: [domain] };
    if (code === "ENOTFOUND")
      return { ok: false, permanent: true, reason: `domain ${domain} does not exist` };
    return {
      ok: false,
      permanent: false,
      reason: `MX lookup for ${domain} failed: ${code || (err as Error).message}`,
    };
  }
  if (records.length === 0) return { ok: true, hosts: [domain] };
  if (records.length === 1 && (records[0]!.exchange === "" || records[0]!.exchange === ".")) {
    return { ok: false, permanent: true, reason: `${domain} accepts no mail (null MX, RFC 7505)` };
  }
  const sorted = records
    .filter((r) => r.exchange && r.exchange !== ".")
    .map((r) => ({ ...r, tie: Math.random() }))
    .sort((a, b) => a.priority - b.priority || a.tie - b.tie);
  return { ok: true, hosts: sorted.map((r) => r.exchange.replace(/\.$/, "")) };
}
