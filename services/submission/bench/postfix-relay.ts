/**
 * A private Postfix (Debian's package) relaying everything it receives from
 * loopback to one next hop (the bench's sink): its own config, queue and data
 * directories under a temp dir, SMTP on a loopback port of our range. What it
 * does per message is the reference's "submission + outbound queue": accept,
 * fsync into its queue, relay. It does no AUTH, no TLS and no DKIM here (those
 * need Cyrus/Dovecot SASL and OpenDKIM), so it does less work than Aerogram.
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

export interface PostfixRelay {
  port: number;
  /** CPU seconds (user+system) used so far by the instance's processes (master, its children and the reaped ones). */
  cpuSeconds(): number;
  stop(): void;
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

const TICKS = 100; // USER_HZ on Linux

/** utime+stime (+ cutime+cstime when `reaped`) of one process, in seconds; 0 when gone. */
export function processCpuSeconds(pid: number, reaped = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ": state=0 ppid=1 … utime=11 stime=12 cutime=13 cstime=14.
    const own = Number(f[11]) + Number(f[12]);
    return (reaped ? own + Number(f[13]) + Number(f[14]) : own) / TICKS;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function startPostfixRelay(port: number, nextHop: number): PostfixRelay {
  const root = mkdtempSync(join(tmpdir(), "aerogram-bench-postfix-relay-"));
  const etc = join(root, "etc");
  for (const d of [etc, join(root, "spool"), join(root, "data")]) mkdirSync(d, { recursive: true });
  chmodSync(root, 0o755);
  const uid = execFileSync("id", ["-u", "postfix"]).toString().trim();
  const gid = execFileSync("id", ["-g", "postfix"]).toString().trim();
  execFileSync("chown", ["-R", `${uid}:${gid}`, join(root, "data")]);
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
      "myhostname = bench-relay.localdomain",
      "mydestination =",
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "mynetworks = 127.0.0.0/8",
      "smtpd_relay_restrictions = permit_mynetworks, reject",
      `relayhost = [127.0.0.1]:${nextHop}`,
      "alias_maps =",
      "alias_database =",
      "disable_dns_lookups = yes",
      "smtp_dns_support_level = disabled",
      "smtpd_peername_lookup = no",
      "smtp_tls_security_level = none",
      "biff = no",
      `maillog_file = ${join(root, "maillog")}`,
      `maillog_file_prefixes = ${root}`,
      "smtpd_client_connection_count_limit = 0",
      "smtpd_client_connection_rate_limit = 0",
      "smtpd_client_message_rate_limit = 0",
      "default_process_limit = 100",
      "default_destination_concurrency_limit = 20",
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
  const pidFile = join(root, "spool", "pid", "master.pid");
  return {
    port,
    cpuSeconds() {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      return processCpuSeconds(pid, true) + childrenOf(pid).reduce((s, c) => s + processCpuSeconds(c), 0);
    },
    stop() {
      try {
        execFileSync("/usr/sbin/postfix", ["-c", etc, "stop"], { stdio: "ignore" });
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
