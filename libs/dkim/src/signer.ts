/**
 * Signs outgoing mail with its From: domain's active key (RFC 6376 §5), with
 * mailauth's signer. Keys are read from the store and decrypted once per
 * minute per domain, not per message.
 */
import type { DkimKeyRow, Store } from "@aerogram/store";
import { dkimSign } from "mailauth";
import { decryptKey } from "./key-encryption.ts";

export type SignResult =
  | { signed: true; header: string; domain: string; selector: string }
  | { signed: false; reason: "no_key" | "error"; error?: string };

export interface DkimSignerOptions {
  store: Pick<Store, "dkimKeys">;
  /** DKIM_ENCRYPTION_KEY. */
  secret: string;
  cacheMs?: number;
}

export class DkimSigner {
  private readonly cache = new Map<string, { expires: number; key: DkimKeyRow | undefined; pem?: string }>();

  constructor(private readonly opts: DkimSignerOptions) {}

  /** The DKIM-Signature header (with CRLF) for a whole message, or why there is none. */
  async sign(message: Buffer, domain: string): Promise<SignResult> {
    try {
      const entry = await this.keyFor(domain.toLowerCase());
      if (!entry.key || !entry.pem) return { signed: false, reason: "no_key" };
      const result = await dkimSign(message, {
        // mailauth's default header list is RFC 6376 §5.4.1's recommendation (From,
        // Subject, Date, To, Cc, Message-ID, the MIME and reply headers).
        canonicalization: "relaxed/relaxed",
        signatureData: [
          {
            signingDomain: entry.key.domain,
            selector: entry.key.selector,
            privateKey: entry.pem,
            algorithm: entry.key.algorithm === "ed25519" ? "ed25519-sha256" : "rsa-sha256",
          },
        ],
      } as unknown as Parameters<typeof dkimSign>[1]);
      if (result.errors?.length) {
        return { signed: false, reason: "error", error: String(result.errors[0]) };
      }
      return {
        signed: true,
        header: result.signatures,
        domain: entry.key.domain,
        selector: entry.key.selector,
      };
    } catch (err) {
      return { signed: false, reason: "error", error: (err as Error).message };
    }
  }

  private async keyFor(domain: string): Promise<{ key: DkimKeyRow | undefined; pem?: string }> {
    const now = Date.now();
    const hit = this.cache.get(domain);
    if (hit && hit.expires > now) return hit;
    const key = await this.opts.store.dkimKeys.signingKey(domain);
    const entry = {
      expires: now + (this.opts.cacheMs ?? 60_000),
      key,
      ...(key ? { pem: decryptKey(this.opts.secret, key.privateKeyEncrypted) } : {}),
    };
    this.cache.set(domain, entry);
    return entry;
  }
}
