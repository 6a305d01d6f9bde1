/**
 * Stored password hashes as such (issue 22): an account imported with a hash
 * from another server (`{SHA512-CRYPT}…`, libs/auth password-schemes.ts) and
 * its replacement by ours (scrypt) after the first successful login.
 */
import type { Pool } from "../db.ts";
import { hashPassword } from "./password.ts";

export class PasswordHashes {
  constructor(private readonly pool: Pool) {}

  /** Stores a hash as given (the caller checked its scheme). */
  async set(accountId: number, passwordHash: string): Promise<void> {
    await this.pool.query("UPDATE accounts SET password_hash = $2 WHERE id = $1", [accountId, passwordHash]);
  }

  /**
   * Replaces `oldHash` by our hash of `password`, only if the account still
   * has `oldHash` (a password changed meanwhile is not overwritten). Returns
   * whether it did.
   */
  async rehash(accountId: number, oldHash: string, password: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "UPDATE accounts SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
      [accountId, oldHash, await hashPassword(password)],
    );
    return (rowCount ?? 0) > 0;
  }
}
