/**
 * DKIM key pairs and their DNS records: Ed25519 (RFC 8463) or RSA-2048
 * (RFC 6376 §3.3.3, RFC 8301 asks for at least 1024 bits; 2048 is today's norm).
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { DkimAlgorithm } from "@aerogram/store";

export interface GeneratedKey {
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** The p= value of the TXT record. */
  publicKey: string;
}

/**
 * The p= value: for RSA the DER SubjectPublicKeyInfo in base64 (RFC 6376
 * §3.6.1); for Ed25519 the bare 32-octet public key in base64 (RFC 8463 §4.2).
 */
export function publicKeyValue(algorithm: DkimAlgorithm, key: KeyObject): string {
  const spki = key.export({ type: "spki", format: "der" });
  // An Ed25519 SPKI is a fixed 12-octet prefix followed by the 32-octet key.
  return (algorithm === "ed25519" ? spki.subarray(spki.length - 32) : spki).toString("base64");
}

export function generateDkimKey(algorithm: DkimAlgorithm): GeneratedKey {
  const pair =
    algorithm === "ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    algorithm,
    privateKeyPem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: publicKeyValue(algorithm, pair.publicKey),
  };
}

/** The p= value of a stored private key (to check a key against its record). */
export function publicKeyOf(algorithm: DkimAlgorithm, privateKeyPem: string): string {
  return publicKeyValue(algorithm, createPublicKey(privateKeyPem));
}

/** The TXT record to publish at `<selector>._domainkey.<domain>` (RFC 6376 §3.6.1). */
export function dnsRecord(k: {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
}): {
  name: string;
  value: string;
} {
  const keyType = k.algorithm === "ed25519" ? "ed25519" : "rsa";
  return { name: `${k.selector}._domainkey.${k.domain}`, value: `v=DKIM1; k=${keyType}; p=${k.publicKey}` };
}

/** A BIND zone-file line; long values are split into 255-octet strings (RFC 1035 §3.3.14). */
export function zoneLine(record: { name: string; value: string }): string {
  const chunks = record.value.match(/.{1,255}/g) ?? [];
  return `${record.name}. IN TXT ( ${chunks.map((c) => `"${c}"`).join(" ")} )`;
}
