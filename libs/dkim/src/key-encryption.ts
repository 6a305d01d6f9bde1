/**
 * Private DKIM keys at rest: AES-256-GCM under a key derived from the
 * configured secret (DKIM_ENCRYPTION_KEY, typically from a Kubernetes Secret).
 * Format: "v1:<iv b64>:<tag b64>:<ciphertext b64>". A database dump alone
 * does not give the signing keys away.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

export class KeyDecryptionError extends Error {
  constructor() {
    super("cannot decrypt the DKIM key: wrong DKIM_ENCRYPTION_KEY or a damaged row");
    this.name = "KeyDecryptionError";
  }
}

function derive(secret: string): Buffer {
  // The secret is operator-chosen text or random base64; sha256 gives the 32-octet key either way.
  return createHash("sha256").update("aerogram-dkim-v1\0").update(secret).digest();
}

export function encryptKey(secret: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", derive(secret), iv);
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return `v1:${iv.toString("base64")}:${cipher.getAuthTag().toString("base64")}:${data.toString("base64")}`;
}

export function decryptKey(secret: string, stored: string): string {
  const [version, iv, tag, data] = stored.split(":");
  if (version !== "v1" || !iv || !tag || data === undefined) throw new KeyDecryptionError();
  try {
    const decipher = createDecipheriv("aes-256-gcm", derive(secret), Buffer.from(iv, "base64"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(data, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new KeyDecryptionError();
  }
}
