/**
 * Where the key-encryption secret comes from: DKIM_ENCRYPTION_KEY (a
 * Kubernetes Secret in the chart), or, for the embedded single-process
 * default only, a random key file created once in DATA_DIR beside the
 * database it protects. With a real database and no secret there is no
 * signing (and `mailctl dkim add` refuses): a secret next to a shared
 * database would be no secret.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function dkimSecret(o: {
  configured: string | undefined;
  dataDir: string;
  embedded: boolean;
}): string | undefined {
  if (o.configured) return o.configured;
  if (!o.embedded) return undefined;
  const path = join(o.dataDir, "dkim-encryption.key");
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  mkdirSync(o.dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64");
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return readFileSync(path, "utf8").trim();
    throw err;
  }
}
