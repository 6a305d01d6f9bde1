/**
 * mailctl: account administration from the command line (`npm run mailctl -- help`).
 *
 * Two modes, one command set (mailctl-commands.ts):
 *  - AEROGRAM_ADMIN_URL set (e.g. http://aerogram-admin:8080): through the admin
 *    HTTP API, authenticated with ADMIN_TOKEN. For deployments.
 *  - otherwise: directly on the metadata store, with the same configuration as
 *    the services: DATABASE_URL, or the embedded database of a running
 *    `npm start` (or ./data/pg opened here when none runs). For the dev setup.
 */
import { revokeSessions } from "@aerogram/auth";
import { ConfigError, loadConfig } from "@aerogram/config";
import { dkimSecret } from "@aerogram/dkim";
import { connectOrStartEmbedded } from "@aerogram/embedded-pg";
import { createEventBus } from "@aerogram/events";
import { createLogger } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { HttpAdmin } from "./http-admin.ts";
import { isLifecycleCommand, LIFECYCLE_USAGE, runLifecycleCommand } from "./lifecycle-commands.ts";
import { runMailctl } from "./mailctl-commands.ts";
import { StoreAdmin } from "./store-admin.ts";

function print({ output, code }: { output: string; code: number }): number {
  if (output) (code === 0 ? process.stdout : process.stderr).write(`${output}\n`);
  return code;
}

async function main(): Promise<number> {
  const config = loadConfig();
  createLogger({ level: "silent" });
  const argv = process.argv.slice(2);
  if (argv[0] === "help" && argv[1] === "lifecycle") return print({ output: LIFECYCLE_USAGE, code: 0 });
  // Storage lifecycle commands need the blob store too: a runtime, in direct mode only.
  if (isLifecycleCommand(argv)) {
    if (config.adminUrl)
      return print({
        output: "mailctl: this command runs in direct mode (unset AEROGRAM_ADMIN_URL)",
        code: 2,
      });
    const { createRuntime } = await import("@aerogram/runtime");
    const rt = await createRuntime(
      { ...config, logLevel: "silent" },
      { service: "mailctl", embedded: "shared" },
    );
    try {
      return print(await runLifecycleCommand(rt, argv));
    } finally {
      await rt.close();
    }
  }
  if (config.adminUrl) {
    return print(await runMailctl(new HttpAdmin(config.adminUrl, config.adminToken), process.argv.slice(2)));
  }

  let url = config.database.url;
  let stopEmbedded = async () => {};
  if (!url) {
    const pgEmbedded = await connectOrStartEmbedded({
      dir: config.database.embeddedDir,
      port: config.database.embeddedPort,
      idleOwnerMs: config.database.embeddedStallMs,
    });
    url = pgEmbedded.url;
    stopEmbedded = () => pgEmbedded.stop();
  }
  const store = await Store.open({ url, poolMax: 2, applicationName: "aerogram-mailctl" });
  // Revocations reach the gateways over NATS; the embedded setup's in-process
  // bus lives in `npm start`'s process, which mailctl cannot reach (there, the
  // sessions end at their next login check or autologout).
  const bus = config.events.kind === "nats" ? await createEventBus(config.events) : undefined;
  try {
    const secret = dkimSecret({
      configured: config.dkimEncryptionKey,
      dataDir: config.dataDir,
      embedded: config.database.url === undefined,
    });
    return print(
      await runMailctl(
        new StoreAdmin(store, {
          ...(secret ? { dkimSecret: secret } : {}),
          ...(bus ? { revokeSessions: (id: number) => revokeSessions(bus, id) } : {}),
        }),
        process.argv.slice(2),
      ),
    );
  } finally {
    // close() flushes the published revocation before the process exits.
    await bus?.close();
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
