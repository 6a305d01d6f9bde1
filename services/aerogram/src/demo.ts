/**
 * The demo account a newcomer logs in with after `npm start`. Created once (on
 * an empty database), its generated password kept in DATA_DIR/demo-account.json
 * so every start can print it. Development only: off when DATABASE_URL is set
 * unless DEMO_ACCOUNT=true.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Store } from "@aerogram/store";

export const DEMO_ADDRESS = "demo@example.com";

export async function ensureDemoAccount(
  store: Store,
  dataDir: string,
): Promise<{ address: string; password: string | undefined }> {
  const file = join(dataDir, "demo-account.json");
  const existing = await store.accounts.byAddress(DEMO_ADDRESS);
  if (existing) {
    try {
      const saved = JSON.parse(await readFile(file, "utf8")) as { address: string; password: string };
      return { address: saved.address, password: saved.password };
    } catch {
      return { address: DEMO_ADDRESS, password: undefined }; // created elsewhere; password unknown here
    }
  }
  const password = randomBytes(9).toString("base64url");
  await store.accounts.create({ address: DEMO_ADDRESS, password });
  await writeFile(file, JSON.stringify({ address: DEMO_ADDRESS, password }), { mode: 0o600 });
  return { address: DEMO_ADDRESS, password };
}
