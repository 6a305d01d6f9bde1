/**
 * The admin HTTP API, served on the ops HTTP port (OpsServer's fallback) when
 * "admin" is among AEROGRAM_SERVICES. Every request needs
 * `Authorization: Bearer <ADMIN_TOKEN>`; with no token configured every request
 * is refused (503), so an unconfigured deployment never exposes it.
 *
 *   GET    /api/v1/health                              readiness summary
 *   GET    /api/v1/accounts                            accounts with usage
 *   POST   /api/v1/accounts                            {address, password?, quotaBytes?}
 *   GET    /api/v1/accounts/:address
 *   PATCH  /api/v1/accounts/:address                   {disabled?, quotaBytes?}
 *   DELETE /api/v1/accounts/:address
 *   PUT    /api/v1/accounts/:address/password          {password?}
 *   PUT    /api/v1/accounts/:address/quota             {quotaBytes: number | null}
 *   POST   /api/v1/accounts/:address/aliases           {alias}
 *   DELETE /api/v1/accounts/:address/aliases/:alias
 *   GET    /api/v1/accounts/:address/mailboxes         mailboxes with message counts and bytes
 *   POST   /api/v1/jobs/import | /api/v1/jobs/export     lifecycle jobs (admin-jobs.ts), when mounted
 *   GET    /api/v1/jobs, /api/v1/jobs/:id              their progress and summaries
 *   domains, forwards, app passwords: identity-api.ts
 *   GET/PUT/DELETE /api/v1/accounts/:owner/acl/:mailbox[/:grantee]   sharing (sharing.ts)
 *
 * A generated password is returned once, in the response that created it.
 * Bodies are limited to 64 KiB; passwords are never logged.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "@aerogram/observability";
import { z } from "zod";
import { type AdminOps, ConflictError, InvalidInputError, NotFoundError } from "./admin-ops.ts";
import { HttpError, readJsonBody, sendJson } from "./http-json.ts";
import { identityRoutes } from "./identity-api.ts";
import { sharingRoutes } from "./sharing.ts";
import { sieveRoutes } from "./sieve-admin.ts";

export const ADMIN_API_PREFIX = "/api/v1";

const address = z.string().trim().min(3).max(320);
const password = z.string().min(1).max(1024);
const quotaBytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).nullable();

const schemas = {
  create: z.strictObject({ address, password: password.optional(), quotaBytes: quotaBytes.optional() }),
  update: z.strictObject({ disabled: z.boolean().optional(), quotaBytes: quotaBytes.optional() }),
  password: z.strictObject({ password: password.optional() }),
  quota: z.strictObject({ quotaBytes }),
  alias: z.strictObject({ alias: address }),
  dkim: z.strictObject({
    domain: z.string().min(1).max(253),
    selector: z.string().min(1).max(63).optional(),
    algorithm: z.enum(["ed25519", "rsa"]).optional(),
  }),
  senderPolicy: z.strictObject({ policy: z.enum(["account", "domain", "any"]).nullable() }),
};

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new HttpError(400, `${first?.path.join(".") || "body"}: ${first?.message ?? "invalid"}`);
  }
  return r.data;
}

export interface AdminApiOptions {
  ops: AdminOps;
  /** ADMIN_TOKEN; undefined refuses every request. */
  token: string | undefined;
  log?: Logger;
  /** More routes (e.g. lifecycle jobs, admin-jobs.ts), after the built-in ones. */
  extraRoutes?: RouteEntry[];
}

const digest = (s: string) => createHash("sha256").update(s).digest();

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match !== null && timingSafeEqual(digest(match[1] as string), digest(token));
}

export type Route = (req: IncomingMessage, params: string[]) => Promise<[number, unknown]>;
/** A method, a path pattern under /api/v1 (groups are the params), and its handler. */
export type RouteEntry = [string, RegExp, Route];

function routes(ops: AdminOps): [string, RegExp, Route][] {
  const seg = "([^/]+)";
  return [
    ["GET", /^\/health$/, async () => [200, await ops.health()]],
    ["GET", /^\/accounts$/, async () => [200, { accounts: await ops.listAccounts() }]],
    [
      "POST",
      /^\/accounts$/,
      async (req) => [201, await ops.createAccount(parse(schemas.create, await readJsonBody(req)))],
    ],
    ["GET", new RegExp(`^/accounts/${seg}$`), async (_, [a]) => [200, await ops.getAccount(a as string)]],
    [
      "PATCH",
      new RegExp(`^/accounts/${seg}$`),
      async (req, [a]) => {
        const changes = parse(schemas.update, await readJsonBody(req));
        const clean = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
        return [200, await ops.updateAccount(a as string, clean)];
      },
    ],
    [
      "DELETE",
      new RegExp(`^/accounts/${seg}$`),
      async (_, [a]) => {
        await ops.deleteAccount(a as string);
        return [204, null];
      },
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/password$`),
      async (req, [a]) => {
        const body = parse(schemas.password, await readJsonBody(req));
        return [200, await ops.setPassword(a as string, body.password)];
      },
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/quota$`),
      async (req, [a]) => {
        const body = parse(schemas.quota, await readJsonBody(req));
        return [200, await ops.updateAccount(a as string, { quotaBytes: body.quotaBytes })];
      },
    ],
    [
      "POST",
      new RegExp(`^/accounts/${seg}/aliases$`),
      async (req, [a]) => {
        const body = parse(schemas.alias, await readJsonBody(req));
        return [200, await ops.addAlias(a as string, body.alias)];
      },
    ],
    [
      "DELETE",
      new RegExp(`^/accounts/${seg}/aliases/${seg}$`),
      async (_, [a, alias]) => [200, await ops.removeAlias(a as string, alias as string)],
    ],
    [
      "GET",
      new RegExp(`^/accounts/${seg}/mailboxes$`),
      async (_, [a]) => [200, { mailboxes: await ops.mailboxes(a as string) }],
    ],
    [
      "GET",
      /^\/queue$/,
      async (req) => {
        const domain = new URL(req.url ?? "/", "http://x").searchParams.get("domain") ?? undefined;
        return [200, { entries: await ops.listQueue(domain ? { domain } : {}) }];
      },
    ],
    ["POST", /^\/queue\/flush$/, async () => [200, await ops.flushQueue()]],
    ["POST", /^\/queue\/(\d+)\/flush$/, async (_, [id]) => [200, await ops.flushQueue(Number(id))]],
    [
      "DELETE",
      /^\/queue\/(\d+)$/,
      async (_, [id]) => {
        await ops.deleteQueueEntry(Number(id));
        return [204, null];
      },
    ],
    ...(ops.identity ? identityRoutes(ops.identity) : []),
    ["GET", /^\/dkim$/, async () => [200, { keys: await ops.listDkimKeys() }]],
    [
      "POST",
      /^\/dkim$/,
      async (req) => [201, await ops.addDkimKey(parse(schemas.dkim, await readJsonBody(req)))],
    ],
    // Sieve scripts and spam settings (issue 21).
    ...sieveRoutes(ops),
    // Sender policy (issue 19): PUT {"policy": "account"|"domain"|"any"|null}.
    ["GET", /^\/sender-policies$/, async () => [200, await ops.listSenderPolicies()]],
    [
      "PUT",
      new RegExp(`^/sender-policies/accounts/${seg}$`),
      async (req, [a]) => {
        const { policy } = parse(schemas.senderPolicy, await readJsonBody(req));
        await ops.setSenderPolicy({ account: a as string }, policy);
        return [204, null];
      },
    ],
    [
      "PUT",
      new RegExp(`^/sender-policies/domains/${seg}$`),
      async (req, [d]) => {
        const { policy } = parse(schemas.senderPolicy, await readJsonBody(req));
        await ops.setSenderPolicy({ domain: d as string }, policy);
        return [204, null];
      },
    ],
    ...sharingRoutes(ops.sharing, parse),
  ];
}

function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof InvalidInputError) return 400;
  return 500;
}

/** True for paths this API owns (so the caller can 404 everything else itself). */
export function isAdminApiPath(url: string | undefined): boolean {
  const path = (url ?? "/").split("?")[0] as string;
  return path === ADMIN_API_PREFIX || path.startsWith(`${ADMIN_API_PREFIX}/`);
}

/** The request handler (mount as OpsServer's fallback). */
export function createAdminApi(opts: AdminApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const table = [...routes(opts.ops), ...(opts.extraRoutes ?? [])];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    if (!isAdminApiPath(req.url)) {
      sendJson(res, 404, { error: "not found" });
      return 404;
    }
    if (opts.token === undefined || opts.token === "") {
      sendJson(res, 503, { error: "the admin API is disabled: ADMIN_TOKEN is not set" });
      return 503;
    }
    if (!authorized(req, opts.token)) {
      res.setHeader("www-authenticate", 'Bearer realm="aerogram-admin"');
      sendJson(res, 401, { error: "missing or wrong bearer token" });
      return 401;
    }
    const path = ((req.url ?? "/").split("?")[0] as string).slice(ADMIN_API_PREFIX.length);
    let pathMatched = false;
    for (const [method, pattern, route] of table) {
      const m = pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (req.method !== method) continue;
      let params: string[];
      try {
        params = m.slice(1).map((p) => decodeURIComponent(p));
      } catch {
        throw new HttpError(400, "bad percent-encoding in the path");
      }
      const [status, body] = await route(req, params);
      sendJson(res, status, body);
      return status;
    }
    if (pathMatched) {
      sendJson(res, 405, { error: `method ${req.method} not allowed here` });
      return 405;
    }
    sendJson(res, 404, { error: "not found" });
    return 404;
  };
  return (req, res) => {
    const started = performance.now();
    handle(req, res)
      .catch((err: unknown) => {
        const status = statusOf(err);
        if (status === 500) opts.log?.error({ err }, "admin API request failed");
        if (!res.headersSent) {
          if (status === 413) res.setHeader("connection", "close");
          sendJson(res, status, { error: status === 500 ? "internal error" : (err as Error).message });
        } else res.destroy();
        return status;
      })
      .then((status) => {
        // Method, path and status only: bodies (passwords) are never logged.
        opts.log?.info(
          {
            method: req.method,
            path: (req.url ?? "").split("?")[0],
            status,
            ms: Math.round(performance.now() - started),
          },
          "admin API",
        );
      });
  };
}
