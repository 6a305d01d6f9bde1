/**
 * The identity part of the admin HTTP API (issue 23), mounted by admin-api.ts
 * under the same prefix and bearer token:
 *
 *   GET    /api/v1/domains                                   domains with their settings
 *   POST   /api/v1/domains                                   {name, aliasOf?, catchAll?, defaultQuotaBytes?, retentionDays?, spamAction?}
 *   GET    /api/v1/domains/:name
 *   PATCH  /api/v1/domains/:name                             {aliasOf?, catchAll?, defaultQuotaBytes?, retentionDays?, spamAction?}
 *   DELETE /api/v1/domains/:name                             409 while it has accounts, aliases or forwards
 *   GET    /api/v1/forwards[?domain=d]
 *   PUT    /api/v1/forwards/:address                         {targets: [address, …]}
 *   DELETE /api/v1/forwards/:address
 *   GET    /api/v1/accounts/:address/app-passwords
 *   POST   /api/v1/accounts/:address/app-passwords           {name, protocols?} → the secret, once
 *   DELETE /api/v1/accounts/:address/app-passwords/:name     revokes; ends the account's sessions
 *   PUT    /api/v1/accounts/:address/require-app-passwords   {required}
 */
import type { IncomingMessage } from "node:http";
import type { DomainSettings } from "@aerogram/store";
import { z } from "zod";
import { HttpError, readJsonBody } from "./http-json.ts";
import type { AppPasswordView, DomainView, ForwardView, IdentityOps } from "./identity-ops.ts";

const nullableCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).nullable();
const settings = {
  aliasOf: z.string().min(1).max(253).nullable().optional(),
  catchAll: z.string().min(3).max(320).nullable().optional(),
  defaultQuotaBytes: nullableCount.optional(),
  retentionDays: z.number().int().positive().max(100_000).nullable().optional(),
  spamAction: z.enum(["inbox", "junk", "reject"]).nullable().optional(),
};

const schemas = {
  domain: z.strictObject({ name: z.string().min(1).max(253), ...settings }),
  domainUpdate: z.strictObject(settings),
  forward: z.strictObject({ targets: z.array(z.string().min(3).max(320)).min(1).max(50) }),
  appPassword: z.strictObject({
    name: z.string().min(1).max(100),
    protocols: z.array(z.string().min(1).max(20)).min(1).max(4).optional(),
  }),
  requireApp: z.strictObject({ required: z.boolean() }),
};

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new HttpError(400, `${first?.path.join(".") || "body"}: ${first?.message ?? "invalid"}`);
  }
  return r.data;
}

function clean(s: Record<string, unknown>): DomainSettings {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as DomainSettings;
}

export type IdentityRoute = [
  string,
  RegExp,
  (req: IncomingMessage, params: string[]) => Promise<[number, unknown]>,
];

export function identityRoutes(ops: IdentityOps): IdentityRoute[] {
  const seg = "([^/]+)";
  return [
    ["GET", /^\/domains$/, async () => [200, { domains: await ops.listDomains() }]],
    [
      "POST",
      /^\/domains$/,
      async (req) => {
        const { name, ...rest } = parse(schemas.domain, await readJsonBody(req));
        return [201, await ops.addDomain(name, clean(rest))];
      },
    ],
    ["GET", new RegExp(`^/domains/${seg}$`), async (_, [d]) => [200, await ops.getDomain(d!)]],
    [
      "PATCH",
      new RegExp(`^/domains/${seg}$`),
      async (req, [d]) => [
        200,
        await ops.updateDomain(d!, clean(parse(schemas.domainUpdate, await readJsonBody(req)))),
      ],
    ],
    [
      "DELETE",
      new RegExp(`^/domains/${seg}$`),
      async (_, [d]) => {
        await ops.deleteDomain(d!);
        return [204, null];
      },
    ],
    [
      "GET",
      /^\/forwards$/,
      async (req) => {
        const domain = new URL(req.url ?? "/", "http://x").searchParams.get("domain") ?? undefined;
        return [200, { forwards: await ops.listForwards(domain) }];
      },
    ],
    [
      "PUT",
      new RegExp(`^/forwards/${seg}$`),
      async (req, [a]) => [
        200,
        await ops.setForward(a!, parse(schemas.forward, await readJsonBody(req)).targets),
      ],
    ],
    [
      "DELETE",
      new RegExp(`^/forwards/${seg}$`),
      async (_, [a]) => {
        await ops.removeForward(a!);
        return [204, null];
      },
    ],
    [
      "GET",
      new RegExp(`^/accounts/${seg}/app-passwords$`),
      async (_, [a]) => [200, { appPasswords: await ops.listAppPasswords(a!) }],
    ],
    [
      "POST",
      new RegExp(`^/accounts/${seg}/app-passwords$`),
      async (req, [a]) => {
        const body = parse(schemas.appPassword, await readJsonBody(req));
        return [201, await ops.addAppPassword(a!, body.name, body.protocols)];
      },
    ],
    [
      "DELETE",
      new RegExp(`^/accounts/${seg}/app-passwords/${seg}$`),
      async (_, [a, name]) => {
        await ops.revokeAppPassword(a!, name!);
        return [204, null];
      },
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/require-app-passwords$`),
      async (req, [a]) => {
        const body = parse(schemas.requireApp, await readJsonBody(req));
        await ops.setRequireAppPasswords(a!, body.required);
        return [200, { required: body.required }];
      },
    ],
  ];
}

/** IdentityOps over the admin HTTP API (mailctl with AEROGRAM_ADMIN_URL). */
export class HttpIdentityOps implements IdentityOps {
  /** `call` is HttpAdmin's request function (token, timeout, errors as AdminOps errors). */
  constructor(private readonly call: <T>(method: string, path: string, body?: unknown) => Promise<T>) {}

  private enc(s: string): string {
    return encodeURIComponent(s);
  }

  addDomain(name: string, settings: DomainSettings = {}): Promise<DomainView> {
    return this.call("POST", "/domains", { name, ...settings });
  }
  async listDomains(): Promise<DomainView[]> {
    return (await this.call<{ domains: DomainView[] }>("GET", "/domains")).domains;
  }
  getDomain(name: string): Promise<DomainView> {
    return this.call("GET", `/domains/${this.enc(name)}`);
  }
  updateDomain(name: string, settings: DomainSettings): Promise<DomainView> {
    return this.call("PATCH", `/domains/${this.enc(name)}`, settings);
  }
  async deleteDomain(name: string): Promise<void> {
    await this.call("DELETE", `/domains/${this.enc(name)}`);
  }
  setForward(address: string, targets: string[]): Promise<ForwardView> {
    return this.call("PUT", `/forwards/${this.enc(address)}`, { targets });
  }
  async removeForward(address: string): Promise<void> {
    await this.call("DELETE", `/forwards/${this.enc(address)}`);
  }
  async listForwards(domain?: string): Promise<ForwardView[]> {
    const q = domain ? `?domain=${this.enc(domain)}` : "";
    return (await this.call<{ forwards: ForwardView[] }>("GET", `/forwards${q}`)).forwards;
  }
  addAppPassword(address: string, name: string, protocols?: string[]) {
    return this.call<{ appPassword: AppPasswordView; secret: string }>(
      "POST",
      `/accounts/${this.enc(address)}/app-passwords`,
      protocols ? { name, protocols } : { name },
    );
  }
  async listAppPasswords(address: string): Promise<AppPasswordView[]> {
    return (
      await this.call<{ appPasswords: AppPasswordView[] }>(
        "GET",
        `/accounts/${this.enc(address)}/app-passwords`,
      )
    ).appPasswords;
  }
  async revokeAppPassword(address: string, name: string): Promise<void> {
    await this.call("DELETE", `/accounts/${this.enc(address)}/app-passwords/${this.enc(name)}`);
  }
  async setRequireAppPasswords(address: string, required: boolean): Promise<void> {
    await this.call("PUT", `/accounts/${this.enc(address)}/require-app-passwords`, { required });
  }
}
