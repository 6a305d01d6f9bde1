/**
 * Dovecot passwd-file (`user:password:uid:gid:gecos:home:shell:extra`, one
 * account a line; `#` comments): the accounts and hashes `mailctl
 * import-accounts` creates. A line's password without a {SCHEME} is
 * Dovecot's default, CRYPT.
 */
import { normalizeImportedHash } from "@aerogram/auth";

export type PasswdLine =
  | { ok: true; line: number; address: string; passwordHash: string }
  | { ok: false; line: number; reason: string };

export function parsePasswdFile(text: string, defaultDomain?: string): PasswdLine[] {
  const out: PasswdLine[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(":");
    const user = fields[0] ?? "";
    const password = fields[1] ?? "";
    if (!user || !password) {
      out.push({ ok: false, line: i + 1, reason: "no user or no password field" });
      continue;
    }
    const address = user.includes("@") ? user : defaultDomain ? `${user}@${defaultDomain}` : undefined;
    if (!address) {
      out.push({ ok: false, line: i + 1, reason: `${user} has no domain (give --domain)` });
      continue;
    }
    try {
      out.push({
        ok: true,
        line: i + 1,
        address: address.toLowerCase(),
        passwordHash: normalizeImportedHash(password),
      });
    } catch (err) {
      out.push({ ok: false, line: i + 1, reason: (err as Error).message });
    }
  }
  return out;
}
