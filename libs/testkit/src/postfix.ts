/**
 * A private Postfix (Debian's package, if installed) for the comparisons: its
 * own config, queue and data directories under a temp dir, SMTP on a loopback
 * port. It either delivers every recipient of one domain by virtual(8) into one
 * local maildir (the MX reference of the smtp-in bench), or relays everything
 * it receives from loopback to one next hop (the submission bench's reference
 * for "submission + outbound queue": accept, fsync into its queue, relay; no
 * AUTH, TLS or DKIM, so it does less per message than Aerogram). Nothing here
 * installs Postfix; without it the bench says so.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuSeconds, processTree } from "./proc-cpu.ts";

/** What the private Postfix does with mail: deliver one domain to a maildir, or relay all to one port. */
export type PostfixRole = { deliverDomain: string } | { relayToPort: number };

export interface PrivatePostfix {
  port: number;
  /** Messages delivered into the maildir so far (0 for a relay). */
  delivered(): number;
  /** The master and every Postfix process under it (for CPU per message). */
  pids(): number[];
  /** CPU seconds of those processes, with what the master's reaped children used. */
  cpuSeconds(): number;
  stop(): void;
}

function roleSettings(role: PostfixRole, mail: string, uid: string, gid: string): string[] {
  if ("relayToPort" in role) {
    return [
      "myhostname = bench-relay.localdomain",
      "smtpd_relay_restrictions = permit_mynetworks, reject",
      `relayhost = [127.0.0.1]:${role.relayToPort}`,
      "smtp_tls_security_level = none",
      "default_destination_concurrency_limit = 20",
    ];
  }
  return [
    "myhostname = bench-postfix.localdomain",
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
    `virtual_mailbox_domains = ${role.deliverDomain}`,
    `virtual_mailbox_base = ${mail}`,
    "virtual_mailbox_maps = static:maildir/",
    `virtual_uid_maps = static:${uid}`,
    `virtual_gid_maps = static:${gid}`,
    "virtual_minimum_uid = 1",
  ];
}

export function postfixAvailable(): string | undefined {
  if (!existsSync("/usr/sbin/postfix")) return "not installed";
  if (process.getuid?.() !== 0) return "needs root to run a private instance";
  try {
    execFileSync("id", ["postfix"], { stdio: "ignore" });
  } catch {
    return "no postfix user";
  }
  return undefined;
}

export function startPrivatePostfix(port: number, role: PostfixRole): PrivatePostfix {
  const root = mkdtempSync(join(tmpdir(), "aerogram-bench-postfix-"));
  const etc = join(root, "etc");
  const mail = join(root, "mail");
  for (const d of [etc, join(root, "spool"), join(root, "data"), mail]) mkdirSync(d, { recursive: true });
  const uid = execFileSync("id", ["-u", "postfix"]).toString().trim();
  const gid = execFileSync("id", ["-g", "postfix"]).toString().trim();
  // Postfix's daemons run as the postfix user: they must reach and own these.
  chmodSync(root, 0o755);
  execFileSync("chown", ["-R", `${uid}:${gid}`, mail, join(root, "data")]);
  writeFileSync(
    join(etc, "main.cf"),
    [
      "compatibility_level = 3.6",
      `queue_directory = ${join(root, "spool")}`,
      `data_directory = ${join(root, "data")}`,
      "command_directory = /usr/sbin",
      "daemon_directory = /usr/lib/postfix/sbin",
      "meta_directory = /etc/postfix",
      "mail_owner = postfix",
      "setgid_group = postdrop",
      ...roleSettings(role, mail, uid, gid),
      "mydestination =",
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "mynetworks = 127.0.0.0/8",
      "alias_maps =",
      "alias_database =",
      "disable_dns_lookups = yes",
      "smtp_dns_support_level = disabled",
      "smtpd_peername_lookup = no",
      "biff = no",
      `maillog_file = ${join(root, "maillog")}`,
      `maillog_file_prefixes = ${root}`,
      "smtpd_client_connection_count_limit = 0",
      "smtpd_client_connection_rate_limit = 0",
      "smtpd_client_message_rate_limit = 0",
      "default_process_limit = 100",
      "",
    ].join("\n"),
  );
  const master = readFileSync("/etc/postfix/master.cf", "utf8")
    .split("\n")
    .map((l) => (/^smtp\s+inet\s/.test(l) ? `127.0.0.1:${port} inet n - n - - smtpd` : l))
    .join("\n");
  writeFileSync(join(etc, "master.cf"), master);
  execFileSync("/usr/sbin/postfix", ["-c", etc, "set-permissions"], { stdio: "ignore" });
  execFileSync("/usr/sbin/postfix", ["-c", etc, "start"], { stdio: "ignore" });
  const newDir = join(mail, "maildir", "new");
  const pids = () => {
    try {
      return processTree(Number(readFileSync(join(root, "spool", "pid", "master.pid"), "utf8").trim()));
    } catch {
      return [];
    }
  };
  return {
    port,
    delivered: () => (existsSync(newDir) ? readdirSync(newDir).length : 0),
    pids,
    cpuSeconds: () => pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    stop() {
      try {
        execFileSync("/usr/sbin/postfix", ["-c", etc, "stop"], { stdio: "ignore" });
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
