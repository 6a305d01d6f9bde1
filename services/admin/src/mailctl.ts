/**
 * mailctl: account administration from the command line.
 *   npm run mailctl -- add <address> [--password <pw>] [--quota <bytes>]
 *   npm run mailctl -- list
 *   npm run mailctl -- passwd <address> [--password <pw>]
 *   npm run mailctl -- disable|enable|delete <address>
 *   npm run mailctl -- alias <address> <alias>
 * It uses the same configuration as the services: with DATABASE_URL it talks
 * to that server; without, to the embedded database of a running `npm start`
 * (or opens ./data/pg itself when none runs).
 */
import { randomBytes } from "node:crypto";
import { ConfigError, loadConfig } from "@aerogram/config";
import { connectOrStartEmbedded } from "@aerogram/embedded-pg";
import { createLogger } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { runMailctl } from "./mailctl-commands.ts";

async function main(): Promise<number> {
  const config = loadConfig();
  createLogger({ level: "silent" });
  let url = config.database.url;
  let stopEmbedded = async () => {};
  if (!url) {
    const pgEmbedded = await connectOrStartEmbedded({
      dir: config.database.embeddedDir,
      port: config.database.embeddedPort,
    });
    url = pgEmbedded.url;
    stopEmbedded = () => pgEmbedded.stop();
  }
  const store = await Store.open({ url, poolMax: 2, applicationName: "aerogram-mailctl" });
  try {
    const { output, code } = await runMailctl(store, process.argv.slice(2), () =>
      randomBytes(9).toString("base64url"),
    );
    if (output) (code === 0 ? process.stdout : process.stderr).write(`${output}\n`);
    return code;
  } finally {
    await store.close();
    await stopEmbedded();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : `mailctl: ${(err as Error).message}`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
