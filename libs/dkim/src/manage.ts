/**
 * `mailctl dkim add|list`: creates a domain's key (stored encrypted) and
 * says which TXT record to publish.
 */
import type { DkimAlgorithm, DkimKeyRow, Store } from "@aerogram/store";
import { encryptKey } from "./key-encryption.ts";
import { dnsRecord, generateDkimKey } from "./key-pair.ts";

export interface DkimKeyInfo {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  active: boolean;
  createdAt: Date;
  dns: { name: string; value: string };
}

function info(k: DkimKeyRow): DkimKeyInfo {
  return {
    domain: k.domain,
    selector: k.selector,
    algorithm: k.algorithm,
    active: k.active,
    createdAt: k.createdAt,
    dns: dnsRecord(k),
  };
}

/** A selector that sorts by date and tells the algorithm: e.g. "ag202612e" (RFC 6376 §3.1 allows any label). */
export function defaultSelector(algorithm: DkimAlgorithm, now = new Date()): string {
  const ym = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
  return `ag${ym}${algorithm === "ed25519" ? "e" : "r"}`;
}

export async function addDkimKey(
  store: Pick<Store, "dkimKeys">,
  secret: string,
  req: { domain: string; selector?: string; algorithm?: DkimAlgorithm },
): Promise<DkimKeyInfo> {
  const algorithm = req.algorithm ?? "ed25519";
  const selector = req.selector ?? defaultSelector(algorithm);
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(selector)) {
    throw new Error(`selector ${JSON.stringify(selector)} is not a DNS label (RFC 6376 §3.1)`);
  }
  const generated = generateDkimKey(algorithm);
  const row = await store.dkimKeys.add({
    domain: req.domain.toLowerCase(),
    selector,
    algorithm,
    privateKeyEncrypted: encryptKey(secret, generated.privateKeyPem),
    publicKey: generated.publicKey,
  });
  return info(row);
}

export async function listDkimKeys(store: Pick<Store, "dkimKeys">): Promise<DkimKeyInfo[]> {
  return (await store.dkimKeys.list()).map(info);
}
