/**
 * CPU time of process trees from /proc (Linux), for CPU per operation in the
 * benchmark: a gateway's primary and workers, Dovecot's master and its login,
 * auth and pop3 processes, PostgreSQL backends.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on every Linux we run on). */
const TICKS = 100;

function children(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** `pid` and all its descendants alive now. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...children(p));
  }
  return out;
}

/**
 * User + system CPU seconds of one process and of its children it has
 * reaped (Postfix's smtpd, cleanup and virtual exit after some messages: the
 * master's cutime keeps their CPU; 0 when the process is gone).
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name (which may contain spaces).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds the given processes spend while `work` runs. Processes are
 * listed again at the end (a worker or backend started meanwhile counts from 0).
 */
export async function cpuDuring<T>(
  pids: () => number[],
  work: () => Promise<T>,
): Promise<{ result: T; cpu: number; perProcess: Map<number, number> }> {
  const before = new Map(pids().map((p) => [p, cpuSeconds(p)]));
  const result = await work();
  let cpu = 0;
  const perProcess = new Map<number, number>();
  for (const p of new Set([...before.keys(), ...pids()])) {
    const spent = Math.max(0, cpuSeconds(p) - (before.get(p) ?? 0));
    perProcess.set(p, spent);
    cpu += spent;
  }
  return { result, cpu, perProcess };
}

export function loadAverage1(): number {
  return loadavg()[0]!;
}

export function summary(values: number[]): { min: number; median: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]! };
}

/** The command name of a process (/proc/<pid>/comm), "?" when it is gone. */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}
