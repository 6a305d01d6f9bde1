/**
 * The administration operations, one interface with two implementations: over
 * the store directly (the API server itself, and mailctl on the embedded dev
 * setup) and over the admin HTTP API (mailctl with AEROGRAM_ADMIN_URL). mailctl
 * and the API both speak only this interface, so they share one command set.
 */

export interface AccountView {
  address: string;
  disabled: boolean;
  aliases: string[];
  /** null: no quota. */
  quotaBytes: number | null;
  createdAt: string;
  usage: { bytes: number; messages: number };
}

export interface MailboxView {
  name: string;
  specialUse: string | null;
  subscribed: boolean;
  messages: number;
  bytes: number;
}

export interface HealthView {
  status: "ready" | "not ready";
  checks: { name: string; ok: boolean; error?: string; ms: number }[];
}

export interface AccountChanges {
  disabled?: boolean;
  quotaBytes?: number | null;
}

export interface AdminOps {
  /** Without a password one is generated and returned (once). */
  createAccount(input: {
    address: string;
    password?: string;
    quotaBytes?: number | null;
  }): Promise<{ account: AccountView; generatedPassword?: string }>;
  listAccounts(): Promise<AccountView[]>;
  getAccount(address: string): Promise<AccountView>;
  updateAccount(address: string, changes: AccountChanges): Promise<AccountView>;
  /** Without a password one is generated and returned (once). */
  setPassword(address: string, password?: string): Promise<{ generatedPassword?: string }>;
  deleteAccount(address: string): Promise<void>;
  addAlias(address: string, alias: string): Promise<AccountView>;
  removeAlias(address: string, alias: string): Promise<AccountView>;
  mailboxes(address: string): Promise<MailboxView[]>;
  health(): Promise<HealthView>;
}

/** No such account (HTTP 404). */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** The address is taken (HTTP 409). */
export class ConflictError extends Error {
  override name = "ConflictError";
}

/** Bad input (HTTP 400). */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}
