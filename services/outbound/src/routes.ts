/**
 * OUTBOUND_ROUTES: static next hops that replace the MX lookup, for providers
 * that relay through a smarthost and for tests (which must never reach the
 * internet). Syntax: a comma list of `domain=[user:password@]host:port`, where
 * domain `*` matches every domain without its own entry, e.g.
 * `example.net=127.0.0.1:2526,*=relay:secret@smarthost.example:587`.
 * A route on port 465 speaks implicit TLS (RFC 8314); others use STARTTLS
 * when offered.
 */

export interface RouteTarget {
  host: string;
  port: number;
  auth?: { user: string; pass: string };
}

export type RouteTable = ReadonlyMap<string, RouteTarget>;

export class RouteSyntaxError extends Error {
  constructor(entry: string, why: string) {
    super(`OUTBOUND_ROUTES: bad entry ${JSON.stringify(entry)}: ${why}`);
    this.name = "RouteSyntaxError";
  }
}

export function parseRoutes(spec: string | undefined): RouteTable {
  const table = new Map<string, RouteTarget>();
  if (!spec?.trim()) return table;
  for (const raw of spec.split(",")) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.indexOf("=");
    if (eq < 1) throw new RouteSyntaxError(entry, "expected domain=host:port");
    const domain = entry.slice(0, eq).trim().toLowerCase();
    let target = entry.slice(eq + 1).trim();
    let auth: RouteTarget["auth"];
    const at = target.lastIndexOf("@");
    if (at !== -1) {
      const cred = target.slice(0, at);
      const colon = cred.indexOf(":");
      if (colon < 1) throw new RouteSyntaxError(entry, "expected user:password@ before the host");
      auth = {
        user: decodeURIComponent(cred.slice(0, colon)),
        pass: decodeURIComponent(cred.slice(colon + 1)),
      };
      target = target.slice(at + 1);
    }
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(target);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      throw new RouteSyntaxError(entry, "expected host:port");
    table.set(domain, { host: m[1]!, port: Number(m[2]), ...(auth ? { auth } : {}) });
  }
  return table;
}

/** The static route for a domain: its own entry, else `*`, else none (use DNS). */
export function routeFor(table: RouteTable, domain: string): RouteTarget | undefined {
  return table.get(domain.toLowerCase()) ?? table.get("*");
}
