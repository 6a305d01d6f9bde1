/**
 * Filtering administration (issue 21), one file for every surface so the
 * shared admin files only gain a line each: the operations over the store
 * (direct mailctl, the API's backend), the admin API routes
 * (/accounts/<a>/sieve…, /accounts/<a>/spam), the HTTP client for mailctl
 * against a deployment, and the `mailctl sieve …` / `mailctl spam …` commands.
 * Scripts are compiled by libs/sieve before they are stored: a script that
 * doesn't compile is refused with its line, like ManageSieve's PUTSCRIPT.
 */
import type { IncomingMessage } from "node:http";
import { basename } from "node:path";
import { COMPILER_VERSION, compileScript, SieveSyntaxError } from "@aerogram/sieve";
import type { Account, Store } from "@aerogram/store";
import { z } from "zod";
import { InvalidInputError, NotFoundError } from "./admin-ops.ts";
import { HttpError, readJsonBody } from "./http-json.ts";

export interface SieveScriptView {
  name: string;
  active: boolean;
  size: number;
}

export interface SieveAdminOps {
  /** Compiles and stores a script (replacing one of that name); `activate` makes it the active one. */
  putSieveScript(address: string, name: string, source: string, activate: boolean): Promise<void>;
  /** A script's source; without a name the active one. */
  getSieveScript(address: string, name?: string): Promise<{ name: string; source: string; active: boolean }>;
  /** Makes `name` active; "" deactivates every script. */
  activateSieveScript(address: string, name: string): Promise<void>;
  listSieveScripts(address: string): Promise<SieveScriptView[]>;
  /** The account's "deliver spam to INBOX instead of Junk" setting; null: follow its domain's spam_action. */
  setSpamToInbox(address: string, value: boolean | null): Promise<void>;
}

const MAX_SCRIPT_BYTES = 1024 * 1024;

export function storeSieveOps(store: Store, account: (address: string) => Promise<Account>): SieveAdminOps {
  return {
    async putSieveScript(address, name, source, activate) {
      const a = await account(address);
      if (!name || name.length > 512 || /[\x00-\x1f\x7f]/.test(name))
        throw new InvalidInputError("bad script name");
      if (Buffer.byteLength(source) > MAX_SCRIPT_BYTES) throw new InvalidInputError("script too large");
      let compiled: ReturnType<typeof compileScript>;
      try {
        compiled = compileScript(source);
      } catch (err) {
        if (err instanceof SieveSyntaxError)
          throw new InvalidInputError(`script does not compile: ${err.message}`);
        throw err;
      }
      await store.sieve.put(a.id, name, source, compiled, COMPILER_VERSION);
      if (activate) await store.sieve.setActive(a.id, name);
    },
    async getSieveScript(address, name) {
      const a = await account(address);
      const row = name ? await store.sieve.get(a.id, name) : await store.sieve.active(a.id);
      if (!row) throw new NotFoundError(name ? `no script ${name}` : `${a.address} has no active script`);
      return { name: row.name, source: row.source, active: row.active };
    },
    async activateSieveScript(address, name) {
      const a = await account(address);
      if (!(await store.sieve.setActive(a.id, name))) throw new NotFoundError(`no script ${name}`);
    },
    async listSieveScripts(address) {
      return store.sieve.list((await account(address)).id);
    },
    async setSpamToInbox(address, value) {
      await store.filtering.setSpamToInbox((await account(address)).id, value);
    },
  };
}

type Route = (req: IncomingMessage, params: string[]) => Promise<[number, unknown]>;

const putBody = z.strictObject({
  source: z.string().max(MAX_SCRIPT_BYTES),
  activate: z.boolean().optional(),
});
const activeBody = z.strictObject({ name: z.string().max(512) });
const spamBody = z.strictObject({ spamToInbox: z.boolean().nullable() });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success)
    throw new HttpError(400, `${r.error.issues[0]?.path.join(".") || "body"}: ${r.error.issues[0]?.message}`);
  return r.data;
}

/** The admin API routes for filtering (admin-api.ts appends them). */
export function sieveRoutes(ops: SieveAdminOps): [string, RegExp, Route][] {
  const seg = "([^/]+)";
  return [
    [
      "GET",
      new RegExp(`^/accounts/${seg}/sieve$`),
      async (_, [a]) => [200, { scripts: await ops.listSieveScripts(a!) }],
    ],
    [
      "GET",
      new RegExp(`^/accounts/${seg}/sieve/active$`),
      async (_, [a]) => [200, await ops.getSieveScript(a!)],
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/sieve/active$`),
      async (req, [a]) => {
        await ops.activateSieveScript(a!, parse(activeBody, await readJsonBody(req)).name);
        return [204, null];
      },
    ],
    [
      "GET",
      new RegExp(`^/accounts/${seg}/sieve/${seg}$`),
      async (_, [a, n]) => [200, await ops.getSieveScript(a!, decodeURIComponent(n!))],
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/sieve/${seg}$`),
      async (req, [a, n]) => {
        const body = parse(putBody, await readJsonBody(req, MAX_SCRIPT_BYTES * 2));
        await ops.putSieveScript(a!, decodeURIComponent(n!), body.source, body.activate ?? false);
        return [204, null];
      },
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/spam$`),
      async (req, [a]) => {
        await ops.setSpamToInbox(a!, parse(spamBody, await readJsonBody(req)).spamToInbox);
        return [204, null];
      },
    ],
  ];
}

/** The same operations over the admin API (HttpAdmin's `call`). */
export function httpSieveOps(
  call: <T>(method: string, path: string, body?: unknown) => Promise<T>,
): SieveAdminOps {
  const acct = (a: string) => `/accounts/${encodeURIComponent(a.trim().toLowerCase())}`;
  return {
    async putSieveScript(address, name, source, activate) {
      await call("PUT", `${acct(address)}/sieve/${encodeURIComponent(name)}`, { source, activate });
    },
    getSieveScript(address, name) {
      return call("GET", `${acct(address)}/sieve/${name ? encodeURIComponent(name) : "active"}`);
    },
    async activateSieveScript(address, name) {
      await call("PUT", `${acct(address)}/sieve/active`, { name });
    },
    async listSieveScripts(address) {
      return (await call<{ scripts: SieveScriptView[] }>("GET", `${acct(address)}/sieve`)).scripts;
    },
    async setSpamToInbox(address, value) {
      await call("PUT", `${acct(address)}/spam`, { spamToInbox: value });
    },
  };
}

export const SIEVE_USAGE = `  sieve put <address> <file> [--name N] [--activate]
                                                      store a Sieve script (name: the file's, without .sieve)
  sieve get <address> [<name>]                        print a script (default: the active one)
  sieve activate <address> <name>                     make it the active script ("" deactivates)
  sieve list <address>                                scripts, the active one marked
  spam <address> inbox|junk|domain                    where rspamd/DMARC spam goes for this account
                                                      (domain: its domain's --spam-action, else Junk)`;

/** `mailctl sieve …` and `mailctl spam …`; `readFile` reads the script file (mailctl passes fs). */
export async function runSieveCommand(
  ops: SieveAdminOps,
  command: "sieve" | "spam",
  args: string[],
  values: { name?: string | undefined; activate?: boolean | undefined },
  readFile: (path: string) => Promise<string>,
): Promise<{ output: string; code: number } | { usage: string }> {
  if (command === "spam") {
    const [address, where] = args;
    if (!address || (where !== "inbox" && where !== "junk" && where !== "domain"))
      return { usage: "spam needs an address and inbox, junk or domain" };
    await ops.setSpamToInbox(address, where === "domain" ? null : where === "inbox");
    const goes = { inbox: "goes to INBOX", junk: "goes to Junk", domain: "follows its domain's spam action" }[
      where
    ];
    return { output: `spam for ${address.toLowerCase()} ${goes}`, code: 0 };
  }
  const [sub, address, arg] = args;
  if (!address) return { usage: "sieve needs put, get, activate or list and an address" };
  switch (sub) {
    case "put": {
      if (!arg) return { usage: "sieve put needs a file" };
      const name = values.name ?? basename(arg).replace(/\.sieve$/i, "");
      await ops.putSieveScript(address, name, await readFile(arg), values.activate ?? false);
      return {
        output: `stored script ${name} for ${address.toLowerCase()}${values.activate ? " (active)" : ""}`,
        code: 0,
      };
    }
    case "get": {
      const s = await ops.getSieveScript(address, arg);
      return { output: s.source.replace(/\r?\n$/, ""), code: 0 };
    }
    case "activate":
      if (arg === undefined) return { usage: "sieve activate needs a script name" };
      await ops.activateSieveScript(address, arg);
      return {
        output: arg ? `${arg} is the active script of ${address.toLowerCase()}` : "no active script",
        code: 0,
      };
    case "list": {
      const list = await ops.listSieveScripts(address);
      return {
        output:
          list.map((s) => `${s.name}${s.active ? "  (active)" : ""}  ${s.size} bytes`).join("\n") ||
          "(no scripts)",
        code: 0,
      };
    }
    default:
      return { usage: `unknown sieve command ${sub}` };
  }
}
