/**
 * The DNS resolver the SPF/DKIM/DMARC checks use: every lookup is time-boxed
 * and answers (and failures) are cached, so a slow or unreachable resolver
 * costs one timeout per name per cache period, never one per message.
 */
import { promises as dns } from "node:dns";
import { TtlCache } from "@aerogram/limits";

export type DnsLookup = (name: string, rrtype: string) => Promise<unknown>;

export interface CachedResolverOptions {
  /** Per-lookup timeout (ms). */
  timeoutMs?: number;
  /** How long an answer is reused (ms). */
  ttlMs?: number;
  /** How long a failure (NXDOMAIN, SERVFAIL, timeout) is reused (ms). */
  negativeTtlMs?: number;
  maxEntries?: number;
  /** The lookup to wrap (tests); defaults to the system resolver. */
  lookup?: DnsLookup;
}

/** An answer or a failure, both reused until their TTL ends. */
type Entry = { value: unknown } | { error: Error };

export function createCachedResolver(opts: CachedResolverOptions = {}): DnsLookup {
  const timeoutMs = opts.timeoutMs ?? 1500;
  const ttlMs = opts.ttlMs ?? 5 * 60_000;
  const negativeTtlMs = opts.negativeTtlMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
  const lookup: DnsLookup = opts.lookup ?? ((name, rrtype) => resolver.resolve(name, rrtype));
  const cache = new TtlCache<string, Entry>({ ttlMs, maxEntries });
  const inflight = new Map<string, Promise<unknown>>();

  return (name, rrtype) => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit) return "error" in hit ? Promise.reject(hit.error) : Promise.resolve(hit.value);
    const pending = inflight.get(key);
    if (pending) return pending;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`DNS ${rrtype} ${name} timed out`) as Error & { code: string };
        err.code = "ETIMEOUT";
        reject(err);
      }, timeoutMs);
    });
    const p = Promise.race([lookup(name, rrtype), timeout])
      .then(
        (value) => {
          cache.set(key, { value });
          return value;
        },
        (error: Error) => {
          cache.set(key, { error }, negativeTtlMs);
          throw error;
        },
      )
      .finally(() => {
        clearTimeout(timer);
        inflight.delete(key);
      });
    inflight.set(key, p);
    return p;
  };
}
