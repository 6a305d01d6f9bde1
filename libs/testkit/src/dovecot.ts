/**
 * A private Dovecot (Debian's package, when installed) as the reference server
 * of benches and comparison tests: its whole configuration, passwd-file, state
 * and maildirs under a temp directory, its own loopback ports, run in the
 * foreground as our child and stopped with it. The system's Dovecot (if any) is
 * never touched, and nothing is installed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort, tempDir } from "./temp.ts";

export const DOVECOT = "/usr/sbin/dovecot";
export type DovecotProtocol = "imap" | "pop3";

/** "nobody": Dovecot never runs mail processes as root, so the maildirs belong to this uid/gid. */
const MAIL_UID = 65534;

/** Why a private Dovecot can't run here, or undefined when it can. */
export function dovecotUnavailable(protocols: readonly DovecotProtocol[]): string | undefined {
  if (!existsSync(DOVECOT)) return `${DOVECOT} not installed`;
  for (const p of protocols) if (!existsSync(`/usr/lib/dovecot/${p}`)) return `dovecot ${p} not installed`;
  return undefined;
}

export interface DovecotOptions {
  protocols: readonly DovecotProtocol[];
  /** Login names of the passwd-file (all with `password`). */
  users: readonly string[];
  password: string;
  /** PLAIN (default) or a salted SHA-256 hash ({SSHA256}): what a login costs Dovecot. */
  passwordScheme?: "PLAIN" | "SSHA256";
  /** Messages put in each user's maildir (cur/, LF line ends as maildir stores them) before start. */
  mail?: Readonly<Record<string, readonly Buffer[]>>;
  /** Lines inside `service <name> { }` blocks, e.g. { "pop3-login": ["service_count = 0"] }. */
  services?: Readonly<Partial<Record<`${DovecotProtocol}` | `${DovecotProtocol}-login`, readonly string[]>>>;
  /** More top-level configuration (auth cache, protocol sections, limits). */
  settings?: string;
  /**
   * Shared mailboxes: the acl and imap_acl plugins (ACLs in dovecot-acl files,
   * RFC 4314 commands) and a shared namespace "Other Users/<user>/" over every
   * user's maildir, "/" as the separator, as Aerogram names them (the comparison
   * tests of issue 24). Don't combine with `settings` that define namespaces.
   */
  acl?: boolean;
}

export interface PrivateDovecot {
  dir: string;
  /** The loopback port of each protocol asked for. */
  ports: Partial<Record<DovecotProtocol, number>>;
  /** The master process (its children are the login, auth and mail processes). */
  pid: number;
  stop(): Promise<void>;
}

/** Dovecot's {SSHA256} scheme: base64(SHA-256(password + salt) + salt). */
function ssha256(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha256").update(password).update(salt).digest();
  return `{SSHA256}${Buffer.concat([digest, salt]).toString("base64")}`;
}

async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid);
    else await chown(p, uid, uid);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function configuration(dir: string, opts: DovecotOptions, ports: Partial<Record<DovecotProtocol, number>>) {
  const block = (name: string, lines: readonly string[]) =>
    `service ${name} {\n${lines.map((l) => `  ${l}`).join("\n")}\n}\n`;
  const services = opts.protocols.flatMap((p) => [
    block(`${p}-login`, [
      `inet_listener ${p} {\n    address = 127.0.0.1\n    port = ${ports[p]}\n  }`,
      `inet_listener ${p}s {\n    port = 0\n  }`,
      ...(opts.services?.[`${p}-login`] ?? []),
    ]),
    ...(opts.services?.[p] ? [block(p, opts.services[p])] : []),
  ]);
  return `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = ${opts.protocols.join(" ")}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${MAIL_UID} gid=${MAIL_UID} home=${dir}/home/%u
}
service anvil {
  chroot =
}
${services.join("")}${opts.acl ? aclConfiguration(dir) : ""}${opts.settings ?? ""}
`;
}

/** The acl plugin with a shared namespace (DovecotOptions.acl). */
function aclConfiguration(dir: string): string {
  return `mail_plugins = $mail_plugins acl
protocol imap {
  mail_plugins = $mail_plugins imap_acl
}
plugin {
  acl = vfile:cache_secs=0
  acl_shared_dict = file:${dir}/home/shared-mailboxes.db
}
namespace inbox {
  inbox = yes
  separator = /
  prefix =
}
namespace shared {
  type = shared
  separator = /
  prefix = Other Users/%%u/
  location = maildir:${dir}/home/%%u/Maildir:INDEXPVT=~/Maildir/shared/%%u
  subscriptions = no
  list = children
}
`;
}

/** Starts a private Dovecot; resolves once every listener accepts connections. */
export async function startPrivateDovecot(opts: DovecotOptions): Promise<PrivateDovecot> {
  const why = dovecotUnavailable(opts.protocols);
  if (why) throw new Error(why);
  const dir = await tempDir("aerogram-dovecot-");
  // Dovecot's unprivileged auth and mail processes read under it.
  await chmod(dir.path, 0o755);
  const ports: Partial<Record<DovecotProtocol, number>> = {};
  for (const p of opts.protocols) ports[p] = await freePort();
  const scheme = opts.passwordScheme ?? "PLAIN";
  const secret = () => (scheme === "PLAIN" ? `{PLAIN}${opts.password}` : ssha256(opts.password));
  await writeFile(join(dir.path, "passwd"), opts.users.map((u) => `${u}:${secret()}\n`).join(""));
  for (const u of opts.users) {
    const maildir = join(dir.path, "home", u, "Maildir");
    for (const sub of ["cur", "new", "tmp"]) await mkdir(join(maildir, sub), { recursive: true });
    let i = 0;
    for (const m of opts.mail?.[u] ?? []) {
      // Maildir stores LF line ends; Dovecot adds the CRs on the way out.
      const text = m.toString("latin1").replace(/\r\n/g, "\n");
      await writeFile(join(maildir, "cur", `${1_700_000_000 + i}.${i}.bench:2,`), text, "latin1");
      i++;
    }
  }
  await mkdir(join(dir.path, "home"), { recursive: true });
  await chownTree(join(dir.path, "home"), MAIL_UID);
  for (const sub of ["run", "state"]) await mkdir(join(dir.path, sub), { recursive: true });
  const conf = join(dir.path, "dovecot.conf");
  await writeFile(conf, configuration(dir.path, opts, ports));
  const child: ChildProcess = spawn(DOVECOT, ["-F", "-c", conf], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (process.env.BENCH_KEEP_DOVECOT) console.log(`dovecot files kept in ${dir.path}`);
    else await dir.remove();
  };
  const deadline = Date.now() + 15_000;
  for (const p of opts.protocols) {
    while (!(await accepts(ports[p]!))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`dovecot did not start (exit ${child.exitCode}; see its log in ${dir.path})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { dir: dir.path, ports, pid: child.pid!, stop };
}
