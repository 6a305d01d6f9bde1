/**
 * AdminOps over the admin HTTP API: what mailctl uses when AEROGRAM_ADMIN_URL
 * is set (with ADMIN_TOKEN), e.g. against a Kubernetes deployment.
 */

import { ADMIN_API_PREFIX } from "./admin-api.ts";
import {
  type AccountChanges,
  type AccountView,
  type AdminOps,
  ConflictError,
  type DkimKeyView,
  type HealthView,
  InvalidInputError,
  type MailboxView,
  NotFoundError,
  type QueueEntryView,
  type SenderPoliciesView,
  type SenderPolicyTarget,
  type SenderPolicyValue,
} from "./admin-ops.ts";
import { HttpIdentityOps } from "./identity-api.ts";
import { HttpSharing, type SharingOps } from "./sharing.ts";
import { httpSieveOps, type SieveAdminOps } from "./sieve-admin.ts";

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "AdminApiError";
  }
}

export class HttpAdmin implements AdminOps {
  private readonly base: string;
  readonly identity: HttpIdentityOps;
  readonly sharing: SharingOps = new HttpSharing(<T>(method: string, path: string, body?: unknown) =>
    this.call<T>(method, path, body),
  );

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
  ) {
    this.base = `${baseUrl.replace(/\/+$/, "")}${ADMIN_API_PREFIX}`;
    this.#sieve = httpSieveOps((method, path, body) => this.call(method, path, body));
    this.identity = new HttpIdentityOps(<T>(method: string, path: string, body?: unknown) =>
      this.call<T>(method, path, body),
    );
  }

  /** Sieve scripts and spam settings (sieve-admin.ts). */
  readonly #sieve: SieveAdminOps;
  putSieveScript: SieveAdminOps["putSieveScript"] = (...a) => this.#sieve.putSieveScript(...a);
  getSieveScript: SieveAdminOps["getSieveScript"] = (...a) => this.#sieve.getSieveScript(...a);
  activateSieveScript: SieveAdminOps["activateSieveScript"] = (...a) => this.#sieve.activateSieveScript(...a);
  listSieveScripts: SieveAdminOps["listSieveScripts"] = (...a) => this.#sieve.listSieveScripts(...a);
  setSpamToInbox: SieveAdminOps["setSpamToInbox"] = (...a) => this.#sieve.setSpamToInbox(...a);

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (res.ok) return parsed as T;
    const message = (parsed as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`;
    if (res.status === 404) throw new NotFoundError(message);
    if (res.status === 409) throw new ConflictError(message);
    if (res.status === 400) throw new InvalidInputError(message);
    throw new AdminApiError(res.status, `admin API: ${message} (HTTP ${res.status})`);
  }

  private account(address: string): string {
    return `/accounts/${encodeURIComponent(address)}`;
  }

  createAccount(input: { address: string; password?: string; quotaBytes?: number | null }) {
    return this.call<{ account: AccountView; generatedPassword?: string }>("POST", "/accounts", input);
  }

  async listAccounts(): Promise<AccountView[]> {
    return (await this.call<{ accounts: AccountView[] }>("GET", "/accounts")).accounts;
  }

  getAccount(address: string): Promise<AccountView> {
    return this.call("GET", this.account(address));
  }

  updateAccount(address: string, changes: AccountChanges): Promise<AccountView> {
    return this.call("PATCH", this.account(address), changes);
  }

  setPassword(address: string, password?: string): Promise<{ generatedPassword?: string }> {
    return this.call("PUT", `${this.account(address)}/password`, password === undefined ? {} : { password });
  }

  async deleteAccount(address: string): Promise<void> {
    await this.call("DELETE", this.account(address));
  }

  addAlias(address: string, alias: string): Promise<AccountView> {
    return this.call("POST", `${this.account(address)}/aliases`, { alias });
  }

  removeAlias(address: string, alias: string): Promise<AccountView> {
    return this.call("DELETE", `${this.account(address)}/aliases/${encodeURIComponent(alias)}`);
  }

  async mailboxes(address: string): Promise<MailboxView[]> {
    return (await this.call<{ mailboxes: MailboxView[] }>("GET", `${this.account(address)}/mailboxes`))
      .mailboxes;
  }

  health(): Promise<HealthView> {
    return this.call("GET", "/health");
  }

  async listQueue(opts: { domain?: string } = {}): Promise<QueueEntryView[]> {
    const q = opts.domain ? `?domain=${encodeURIComponent(opts.domain)}` : "";
    return (await this.call<{ entries: QueueEntryView[] }>("GET", `/queue${q}`)).entries;
  }

  flushQueue(id?: number): Promise<{ flushed: number }> {
    return this.call("POST", id === undefined ? "/queue/flush" : `/queue/${id}/flush`, {});
  }

  async deleteQueueEntry(id: number): Promise<void> {
    await this.call("DELETE", `/queue/${id}`);
  }

  addDkimKey(input: {
    domain: string;
    selector?: string;
    algorithm?: "ed25519" | "rsa";
  }): Promise<DkimKeyView> {
    return this.call("POST", "/dkim", input);
  }

  async listDkimKeys(): Promise<DkimKeyView[]> {
    return (await this.call<{ keys: DkimKeyView[] }>("GET", "/dkim")).keys;
  }

  listSenderPolicies(): Promise<SenderPoliciesView> {
    return this.call("GET", "/sender-policies");
  }

  async setSenderPolicy(target: SenderPolicyTarget, policy: SenderPolicyValue | null): Promise<void> {
    const path =
      "domain" in target
        ? `/sender-policies/domains/${encodeURIComponent(target.domain)}`
        : `/sender-policies/accounts/${encodeURIComponent(target.account)}`;
    await this.call("PUT", path, { policy });
  }
}
