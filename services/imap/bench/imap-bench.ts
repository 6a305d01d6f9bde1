/**
 * `npm run bench` (services/imap): imaptest stress against Aerogram and against a
 * private Dovecot on the same machine, in the same run (ratios only mean
 * something between runs under the same load).
 *
 *   imaptest users=100 clients=20 secs=30 mbox=<200 generated messages>
 *
 * Aerogram runs in this process on the test Postgres (TEST_DATABASE_URL) with
 * filesystem blobs and the in-process bus (like Dovecot's local maildir); Dovecot
 * runs from a config under a temp directory on a high loopback port with a
 * passwd-file of the same 100 users. Prints login/s, FETCH/s, APPEND/s, the
 * ratio Aerogram/Dovecot and imaptest's error count for each.
 *
 * Needs imaptest (IMAPTEST=/path, default /tmp/imaptest/src/imaptest, built
 * outside the repo) and /usr/sbin/dovecot; without them it prints
 * "imaptest/dovecot: not available" and exits 0. BENCH_SECS shortens the run.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import { createTestDatabase, tempDir } from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";

const IMAPTEST = process.env.IMAPTEST ?? "/tmp/imaptest/src/imaptest";
const DOVECOT = "/usr/sbin/dovecot";
const USERS = 100;
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const SECS = Number(process.env.BENCH_SECS ?? 30);
const PASSWORD = "bench-pass";
const DOVECOT_PORT = 31143 + (process.pid % 1000);

interface StressResult {
  totals: Record<string, number>;
  errors: number;
  output: string;
}

function generateMbox(count: number): string {
  const parts: string[] = [];
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const words = ["alpha", "beta", "gamma", "delta", "lorem", "ipsum", "mail", "server"];
  for (let i = 0; i < count; i++) {
    const lines: string[] = [];
    const n = 5 + Math.floor(random() * 60);
    for (let j = 0; j < n; j++) {
      lines.push(
        `Line ${j} of message ${i}: ${Array.from({ length: 10 }, () => words[Math.floor(random() * words.length)]).join(" ")}`,
      );
    }
    parts.push(
      `From bench@example.org Mon Jan  1 00:00:00 2024\nFrom: Sender ${i} <s${i}@example.org>\nTo: bench@example.org\n` +
        `Subject: Bench message ${i}\nDate: Mon, 1 Jan 2024 00:${String(i % 60).padStart(2, "0")}:00 +0000\n` +
        `Message-ID: <bench${i}@example.org>\n\n${lines.join("\n")}\n\n`,
    );
  }
  return parts.join("");
}

function runImaptest(port: number, mbox: string, userTemplate: string): Promise<StressResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      IMAPTEST,
      [
        "host=127.0.0.1",
        `port=${port}`,
        `user=${userTemplate}`,
        `pass=${PASSWORD}`,
        `users=${USERS}`,
        `clients=${CLIENTS}`,
        `secs=${SECS}`,
        `mbox=${mbox}`,
        "no_pipelining",
      ],
      { env: { ...process.env, LD_LIBRARY_PATH: "/usr/lib/dovecot" } },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.on("error", reject);
    child.on("close", () => {
      const totalsAt = output.lastIndexOf("Totals:");
      const block = output.slice(totalsAt).split("\n");
      const names = (block[1] ?? "").trim().split(/\s+/);
      const counts = (block[4] ?? "").trim().split(/\s+/).map(Number);
      const totals: Record<string, number> = {};
      names.forEach((name, i) => {
        totals[name] = counts[i] ?? 0;
      });
      const errors = (output.match(/^Error: /gm) ?? []).length;
      resolve({ totals, errors, output });
    });
  });
}

async function startAerogram(dir: string) {
  const db = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: "20",
    BLOB_DIR: join(dir, "blobs"),
    DATA_DIR: dir,
    LOG_LEVEL: "error",
    IMAP_PORT: "0",
  });
  const runtime = await createRuntime(config, { service: "imap-bench" });
  for (let i = 1; i <= USERS; i++) {
    await runtime.store.accounts.create({ address: `bench${i}@example.org`, password: PASSWORD });
  }
  const server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
  const port = Number(/:(\d+)/.exec(endpoints[0]!)![1]);
  return {
    port,
    async stop() {
      server.close();
      await runtime.close();
      await db.drop();
    },
  };
}

async function startDovecot(dir: string) {
  const mail = join(dir, "mail");
  await mkdir(mail, { recursive: true });
  await chmod(dir, 0o755);
  await chown(mail, 108, 111).catch(() => {});
  const users = Array.from(
    { length: USERS },
    (_, i) => `bench${i + 1}:{PLAIN}${PASSWORD}:108:111::${mail}/bench${i + 1}`,
  ).join("\n");
  await writeFile(join(dir, "users"), `${users}\n`);
  await writeFile(
    join(dir, "dovecot.conf"),
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = ${dir}/users
}
userdb {
  driver = passwd-file
  args = ${dir}/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${DOVECOT_PORT}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap {
  process_limit = 1024
}
`,
  );
  await new Promise<void>((resolve, reject) => {
    const child = spawn(DOVECOT, ["-c", join(dir, "dovecot.conf")], { stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`dovecot exited ${code}`))));
  });
  await new Promise((r) => setTimeout(r, 1000));
  return {
    port: DOVECOT_PORT,
    async stop() {
      await new Promise<void>((resolve) => {
        const child = spawn(DOVECOT, ["-c", join(dir, "dovecot.conf"), "stop"], { stdio: "ignore" });
        child.on("exit", () => resolve());
      });
    },
  };
}

function rates(result: StressResult) {
  return {
    login: (result.totals.Logi ?? 0) / SECS,
    fetch: ((result.totals.Fetc ?? 0) + (result.totals.Fet2 ?? 0)) / SECS,
    append: (result.totals.Appe ?? 0) / SECS,
  };
}

async function main(): Promise<void> {
  if (!existsSync(IMAPTEST) || !existsSync(DOVECOT)) {
    console.log("imaptest/dovecot: not available");
    return;
  }
  const dir = await tempDir("aerogram-imap-bench-");
  await chmod(dir.path, 0o755); // Dovecot's unprivileged processes read under it
  const mbox = join(dir.path, "bench.mbox");
  await writeFile(mbox, generateMbox(200));
  const aerogramDir = join(dir.path, "aerogram");
  await mkdir(aerogramDir);
  const aerogram = await startAerogram(aerogramDir);
  let ours: StressResult;
  try {
    ours = await runImaptest(aerogram.port, mbox, "bench%d@example.org");
  } finally {
    await aerogram.stop();
  }
  const dovecotDir = join(dir.path, "dovecot");
  await mkdir(dovecotDir);
  let theirs: StressResult | null = null;
  try {
    const dovecot = await startDovecot(dovecotDir);
    try {
      theirs = await runImaptest(dovecot.port, mbox, "bench%d");
    } finally {
      await dovecot.stop();
    }
  } catch (err) {
    console.log(`dovecot: not available (${(err as Error).message})`);
  }
  const a = rates(ours);
  console.log(`imaptest stress: users=${USERS} clients=${CLIENTS} secs=${SECS}, 200-message mbox`);
  const row = (name: string, r: ReturnType<typeof rates>, errors: number) =>
    console.log(
      `${name.padEnd(9)} login/s ${r.login.toFixed(1).padStart(8)}  FETCH/s ${r.fetch.toFixed(1).padStart(8)}  APPEND/s ${r.append.toFixed(1).padStart(8)}  errors ${errors}`,
    );
  row("aerogram", a, ours.errors);
  if (theirs) {
    const d = rates(theirs);
    row("dovecot", d, theirs.errors);
    const ratio = (x: number, y: number) => (y > 0 ? (x / y).toFixed(2) : "n/a");
    console.log(
      `ratio     login ${ratio(a.login, d.login)}x  FETCH ${ratio(a.fetch, d.fetch)}x  APPEND ${ratio(a.append, d.append)}x (aerogram/dovecot)`,
    );
  }
  if (ours.errors > 0)
    console.log(
      ours.output
        .split("\n")
        .filter((l) => l.startsWith("Error"))
        .slice(0, 10)
        .join("\n"),
    );
  if (process.env.BENCH_VERBOSE) {
    console.log(ours.output.slice(-3000));
    if (theirs) console.log(theirs.output.slice(-3000));
  }
  if (process.env.BENCH_KEEP) console.log(`kept ${dir.path}`);
  else await dir.remove();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
