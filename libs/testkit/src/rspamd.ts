/**
 * A private rspamd (Debian's package) for tests: its own config, database,
 * run and log directories under a temp dir, the normal worker (/checkv2) and
 * the controller (learnspam/learnham) on free loopback ports, no outside DNS
 * (a resolver on 127.0.0.1:1 that never answers, so no lookup leaves the
 * machine), no Redis (checkv2 needs none; learning answers with an error
 * without a statistics backend, which is what our learner must survive).
 *
 * Thresholds are set so that what a test sends decides the action, not the
 * machine's DNS: reject at 150, add header at 50, no greylisting; rules added
 * for tests: a Subject containing "[spam-test]" scores 100 (add header),
 * "[softreject-test]" forces soft reject; GTUBE is rspamd's own forced reject.
 *
 * Running as root, rspamd must be told whom to drop to (`-u _rspamd -g _rspamd`,
 * the Debian package's user), and that user must be able to read the config
 * and write the db/run dirs; as another user it runs as that user.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./temp.ts";

export const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

export interface PrivateRspamd {
  /** http://127.0.0.1:<port> of the normal worker. */
  url: string;
  /** http://127.0.0.1:<port> of the controller. */
  controllerUrl: string;
  stop(): Promise<void>;
}

export function rspamdAvailable(): string | undefined {
  if (!existsSync("/usr/bin/rspamd")) return "rspamd is not installed (Debian package rspamd)";
  return undefined;
}

const TEST_RULES = `
rspamd_config.AEROGRAM_TEST_SPAM = {
  callback = function(task)
    local s = task:get_header('Subject')
    return s ~= nil and string.find(s, '[spam-test]', 1, true) ~= nil
  end,
  score = 100.0,
  description = 'Aerogram test: spam marker in Subject',
}
rspamd_config:register_symbol({
  name = 'AEROGRAM_TEST_SOFTREJECT',
  type = 'prefilter',
  priority = 10,
  callback = function(task)
    local s = task:get_header('Subject')
    if s ~= nil and string.find(s, '[softreject-test]', 1, true) ~= nil then
      task:set_pre_result('soft reject', 'test soft reject', 'aerogram')
    end
  end,
})
`;

function config(normalPort: number, controllerPort: number): string {
  return `.include "$CONFDIR/common.conf"
options {
  .include "$CONFDIR/options.inc"
  pidfile = "$RUNDIR/rspamd.pid";
  # Hyperscan compiles every regexp at start: minutes of CPU on a loaded machine, for nothing a test needs.
  disable_hyperscan = true;
  dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 1; }
}
logging {
  type = "console";
  level = "error";
}
worker "normal" {
  .include "$CONFDIR/worker-normal.inc"
  bind_socket = "127.0.0.1:${normalPort}";
  count = 1;
}
worker "controller" {
  .include "$CONFDIR/worker-controller.inc"
  bind_socket = "127.0.0.1:${controllerPort}";
  count = 1;
}
`;
}

async function waitReady(
  url: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`rspamd exited (${child.exitCode}):\n${log()}`);
    try {
      const r = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      if (r.ok && (await r.text()).includes("pong")) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`rspamd not ready within ${timeoutMs} ms:\n${log()}`);
}

export interface PrivateRspamdOptions {
  /**
   * Bayes statistics in this Redis (host:port) and database, under statfile
   * symbols unique to this instance, so learnspam/learnham really learn.
   * Without it rspamd has no statistics backend and answers learns with 204.
   */
  bayesRedis?: { server: string; db: number };
  timeoutMs?: number;
}

/** Starts rspamd and waits for /ping (loading its rules takes seconds, more on a loaded machine). */
export async function startPrivateRspamd(opts: PrivateRspamdOptions = {}): Promise<PrivateRspamd> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const root = mkdtempSync(join(tmpdir(), "aerogram-rspamd-"));
  const dirs = ["local.d", "db", "run", "log"].map((d) => join(root, d));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const normal = await freePort();
  const controller = await freePort();
  writeFileSync(join(root, "rspamd.conf"), config(normal, controller));
  writeFileSync(join(root, "local.d", "actions.conf"), "reject = 150;\nadd_header = 50;\ngreylist = null;\n");
  // Modules that would only reach outside servers (none are reachable from a test).
  for (const module of ["fuzzy_check", "rbl", "surbl", "phishing", "asn", "emails"]) {
    writeFileSync(join(root, "local.d", `${module}.conf`), "enabled = false;\n");
  }
  writeFileSync(join(root, "rspamd.local.lua"), TEST_RULES);
  if (opts.bayesRedis) {
    const id = root
      .slice(-6)
      .replace(/[^A-Za-z0-9]/g, "X")
      .toUpperCase();
    writeFileSync(
      join(root, "local.d", "classifier-bayes.conf"),
      `servers = "${opts.bayesRedis.server}";\ndb = "${opts.bayesRedis.db}";\nmin_learns = 1;\nmin_tokens = 5;\n` +
        `learn_condition = "return function() return true end";\n` +
        `statfile { symbol = "AG_${id}_HAM"; spam = false; }\nstatfile { symbol = "AG_${id}_SPAM"; spam = true; }\n`,
    );
  }
  const args = [
    "-f",
    "-c",
    join(root, "rspamd.conf"),
    "--var",
    `LOCAL_CONFDIR=${root}`,
    "--var",
    `DBDIR=${join(root, "db")}`,
    "--var",
    `RUNDIR=${join(root, "run")}`,
    "--var",
    `LOGDIR=${join(root, "log")}`,
  ];
  if (process.getuid?.() === 0) {
    execFileSync("id", ["_rspamd"], { stdio: "ignore" });
    chmodSync(root, 0o755);
    for (const d of dirs) chmodSync(d, 0o777);
    args.push("-u", "_rspamd", "-g", "_rspamd");
  }
  const child = spawn("/usr/bin/rspamd", args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const url = `http://127.0.0.1:${normal}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, () => out, timeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, controllerUrl: `http://127.0.0.1:${controller}`, stop };
}
