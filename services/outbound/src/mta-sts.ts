/**
 * MTA-STS (RFC 8461): a domain's published promise that its MX hosts take
 * mail over TLS with a valid certificate. Discovery is a TXT record at
 * `_mta-sts.<domain>` (`v=STSv1; id=…`, §3.1); the policy itself comes over
 * HTTPS from `https://mta-sts.<domain>/.well-known/mta-sts.txt` (§3.2) and is
 * cached for its max_age (§3.3), refreshed when the TXT id changes. Under
 * `mode: enforce` only MX hosts matching the policy's `mx` patterns are used
 * and only with a verified certificate for that name (§4.1, §5); a failure
 * defers the mail instead of sending it in the clear. `testing` and `none`
 * change nothing (TLSRPT reporting is not implemented). A failed policy fetch
 * with nothing cached means "no policy" (§3.3: senders must not fail hard on
 * a missing policy).
 */

export interface StsPolicy {
  mode: "enforce" | "testing" | "none";
  mx: string[];
  maxAgeSeconds: number;
}

export type TxtLookup = (name: string) => Promise<string[][]>;
/** GETs a URL over HTTPS with certificate checks; returns the body, or throws. */
export type PolicyFetch = (url: string) => Promise<string>;

/** Parses the policy file (§3.2); undefined when it is not a valid STSv1 policy. */
export function parsePolicy(text: string): StsPolicy | undefined {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), m[2]!]);
  }
  if (fields.get("version")?.[0] !== "STSv1") return undefined;
  const mode = fields.get("mode")?.[0];
  if (mode !== "enforce" && mode !== "testing" && mode !== "none") return undefined;
  const maxAge = Number(fields.get("max_age")?.[0]);
  if (!Number.isInteger(maxAge) || maxAge < 0) return undefined;
  const mx = (fields.get("mx") ?? []).map((p) => p.toLowerCase().replace(/\.$/, ""));
  if (mode !== "none" && mx.length === 0) return undefined;
  // §3.2: max_age at most 31557600 (one year).
  return { mode, mx, maxAgeSeconds: Math.min(maxAge, 31_557_600) };
}

/** Whether an MX host name matches a policy pattern (§4.1: "*." matches exactly one label). */
export function mxMatches(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(1);
    return (
      h.endsWith(suffix) && !h.slice(0, h.length - suffix.length).includes(".") && h.length > suffix.length
    );
  }
  return h === pattern;
}

function stsId(records: string[][]): string | undefined {
  for (const parts of records) {
    const txt = parts.join("");
    if (!/^v=STSv1\s*(;|$)/.test(txt)) continue;
    const id = /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(?:;|$)/.exec(txt);
    if (id) return id[1];
  }
  return undefined;
}

interface Cached {
  id: string;
  policy: StsPolicy;
  expires: number;
}

export class MtaSts {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly deps: { txt: TxtLookup; fetch: PolicyFetch; now?: () => number }) {}

  /** The policy in force for a domain, or undefined (no policy, or none reachable and none cached). */
  async policyFor(domain: string): Promise<StsPolicy | undefined> {
    const now = (this.deps.now ?? Date.now)();
    const d = domain.toLowerCase();
    const cached = this.cache.get(d);
    let id: string | undefined;
    try {
      id = stsId(await this.deps.txt(`_mta-sts.${d}`));
    } catch {
      id = undefined;
    }
    if (cached && cached.expires > now && (id === undefined || id === cached.id)) return cached.policy;
    if (id === undefined) return cached && cached.expires > now ? cached.policy : undefined;
    try {
      const policy = parsePolicy(await this.deps.fetch(`https://mta-sts.${d}/.well-known/mta-sts.txt`));
      if (!policy) return cached && cached.expires > now ? cached.policy : undefined;
      this.cache.set(d, { id, policy, expires: now + policy.maxAgeSeconds * 1000 });
      return policy;
    } catch {
      return cached && cached.expires > now ? cached.policy : undefined;
    }
  }
}

/** The system's TXT lookup and an HTTPS GET with certificate validation (§3.3: no redirects, 64 KiB). */
export function systemMtaSts(): MtaSts {
  return new MtaSts({
    txt: async (name) => {
      const { promises: dns } = await import("node:dns");
      return new dns.Resolver({ timeout: 5000, tries: 2 }).resolveTxt(name);
    },
    fetch: async (url) => {
      const res = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(60_000) });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const body = await res.text();
      if (body.length > 64 * 1024) throw new Error("policy too large");
      return body;
    },
  });
}
