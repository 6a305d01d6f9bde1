/**
 * Identity administration (issue 23): domains (with their defaults, catch-all
 * and alias target), forwarding addresses, app passwords and the "require app
 * passwords" account option. Like AdminOps, one interface with a store
 * implementation (the API server, mailctl's direct mode) and an HTTP one
 * (mailctl with AEROGRAM_ADMIN_URL), so mailctl and the API share the command set.
 *
 * Revoking an app password, or turning on "require app passwords", ends the
 * account's live sessions on every replica (`revokeSessions`, a bus beacon).
 */
import {
  type Account,
  type AppPassword,
  AppPasswordExistsError,
  type Domain,
  DomainExistsError,
  DomainInUseError,
  DomainNotFoundError,
  type DomainSettings,
  InvalidAddressError,
  InvalidAppPasswordError,
  InvalidDomainError,
  normalizeAddress,
  type Store,
} from "@aerogram/store";
import { ConflictError, InvalidInputError, NotFoundError } from "./admin-ops.ts";

export interface DomainView {
  name: string;
  aliasOf: string | null;
  catchAll: string | null;
  defaultQuotaBytes: number | null;
  retentionDays: number | null;
  spamAction: "inbox" | "junk" | "reject" | null;
  accounts: number;
  createdAt: string;
}

export interface ForwardView {
  address: string;
  targets: string[];
}

export interface AppPasswordView {
  name: string;
  protocols: string[];
  createdAt: string;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
}

export interface IdentityOps {
  addDomain(name: string, settings?: DomainSettings): Promise<DomainView>;
  listDomains(): Promise<DomainView[]>;
  getDomain(name: string): Promise<DomainView>;
  updateDomain(name: string, settings: DomainSettings): Promise<DomainView>;
  deleteDomain(name: string): Promise<void>;
  setForward(address: string, targets: string[]): Promise<ForwardView>;
  removeForward(address: string): Promise<void>;
  listForwards(domain?: string): Promise<ForwardView[]>;
  /** The secret is returned once, here. */
  addAppPassword(
    address: string,
    name: string,
    protocols?: string[],
  ): Promise<{ appPassword: AppPasswordView; secret: string }>;
  listAppPasswords(address: string): Promise<AppPasswordView[]>;
  revokeAppPassword(address: string, name: string): Promise<void>;
  setRequireAppPasswords(address: string, required: boolean): Promise<void>;
}

export function domainView(d: Domain): DomainView {
  return {
    name: d.name,
    aliasOf: d.aliasOf,
    catchAll: d.catchAll,
    defaultQuotaBytes: d.defaultQuotaBytes,
    retentionDays: d.retentionDays,
    spamAction: d.spamAction,
    accounts: d.accounts,
    createdAt: d.createdAt.toISOString(),
  };
}

function appPasswordView(p: AppPassword): AppPasswordView {
  return {
    name: p.name,
    protocols: p.protocols,
    createdAt: p.createdAt.toISOString(),
    lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
    lastUsedIp: p.lastUsedIp,
    revokedAt: p.revokedAt?.toISOString() ?? null,
  };
}

/** Store errors → the admin error kinds the API maps to status codes. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DomainExistsError || err instanceof AppPasswordExistsError)
      throw new ConflictError(err.message);
    if (err instanceof DomainInUseError) throw new ConflictError(err.message);
    if (err instanceof DomainNotFoundError) throw new NotFoundError(err.message);
    if (
      err instanceof InvalidDomainError ||
      err instanceof InvalidAddressError ||
      err instanceof InvalidAppPasswordError
    )
      throw new InvalidInputError(err.message);
    throw err;
  }
}

export class StoreIdentityOps implements IdentityOps {
  constructor(
    private readonly store: Store,
    /** Ends the account's sessions everywhere (libs/auth revokeSessions); absent: nothing to tell. */
    private readonly revokeSessions: (accountId: number) => void = () => {},
  ) {}

  private async account(address: string): Promise<Account> {
    const normalized = await translated(async () => normalizeAddress(address));
    const a = await this.store.accounts.byAddress(normalized);
    if (!a) throw new NotFoundError(`no account ${normalized}`);
    return a;
  }

  async addDomain(name: string, settings: DomainSettings = {}): Promise<DomainView> {
    return domainView(await translated(() => this.store.domains.add(name, settings)));
  }

  async listDomains(): Promise<DomainView[]> {
    return (await this.store.domains.list()).map(domainView);
  }

  async getDomain(name: string): Promise<DomainView> {
    const d = await this.store.domains.get(name);
    if (!d) throw new NotFoundError(`no domain ${name.trim().toLowerCase()}`);
    return domainView(d);
  }

  async updateDomain(name: string, settings: DomainSettings): Promise<DomainView> {
    return domainView(await translated(() => this.store.domains.update(name, settings)));
  }

  async deleteDomain(name: string): Promise<void> {
    await translated(() => this.store.domains.delete(name));
  }

  async setForward(address: string, targets: string[]): Promise<ForwardView> {
    return translated(() => this.store.domains.setForward(address, targets));
  }

  async removeForward(address: string): Promise<void> {
    if (!(await this.store.domains.removeForward(address)))
      throw new NotFoundError(`no forwarding address ${address.trim().toLowerCase()}`);
  }

  listForwards(domain?: string): Promise<ForwardView[]> {
    return this.store.domains.listForwards(domain);
  }

  async addAppPassword(address: string, name: string, protocols?: string[]) {
    const a = await this.account(address);
    const { appPassword, secret } = await translated(() =>
      this.store.appPasswords.create(a.id, name, protocols),
    );
    return { appPassword: appPasswordView(appPassword), secret };
  }

  async listAppPasswords(address: string): Promise<AppPasswordView[]> {
    const a = await this.account(address);
    return (await this.store.appPasswords.list(a.id)).map(appPasswordView);
  }

  async revokeAppPassword(address: string, name: string): Promise<void> {
    const a = await this.account(address);
    if (!(await this.store.appPasswords.revoke(a.id, name)))
      throw new NotFoundError(`${a.address} has no live app password ${JSON.stringify(name)}`);
    this.revokeSessions(a.id);
  }

  async setRequireAppPasswords(address: string, required: boolean): Promise<void> {
    const a = await this.account(address);
    await this.store.accounts.setRequireAppPasswords(a.id, required);
    // Sessions logged in with the main password must not outlive the new rule.
    if (required) this.revokeSessions(a.id);
  }
}
