/**
 * Where the shared integration servers are (TEST_DATABASE_URL, TEST_NATS_URL,
 * TEST_REDIS_URL; defaults: this machine's 127.0.0.1), unique names for one
 * test file's share of them, and the reachability rule: an unreachable server
 * fails the test under CI=true and skips it (with the reason) elsewhere.
 */
import { randomBytes } from "node:crypto";
import { connect as netConnect } from "node:net";
import type { TestContext } from "node:test";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export type ServerName = "postgres" | "nats" | "redis";

const SERVERS: Record<ServerName, { url: string; port: number }> = {
  postgres: { url: TEST_DATABASE_URL, port: 5432 },
  nats: { url: TEST_NATS_URL, port: 4222 },
  redis: { url: TEST_REDIS_URL, port: 6379 },
};

/** A short unique token for names (databases, buckets, subjects, keys). */
export function uniqueId(): string {
  return `${process.pid.toString(36)}${randomBytes(4).toString("hex")}`;
}

/** Whether something accepts TCP connections at the URL's host and port (2 s at most). */
export function tcpReachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = netConnect({ host: u.hostname || "127.0.0.1", port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** For before() hooks (which can't skip): are these servers up? Tests then call requireServers. */
export async function serversReachable(names: readonly ServerName[]): Promise<boolean> {
  const up = await Promise.all(names.map((n) => tcpReachable(SERVERS[n].url, SERVERS[n].port)));
  return up.every(Boolean);
}

/**
 * Ensures a real server is reachable. Under CI=true an unreachable server is a
 * failure (nothing may be skipped); elsewhere the test is skipped with a reason.
 * Returns false when the caller should return early.
 */
export async function requireServer(t: TestContext, name: ServerName): Promise<boolean> {
  const { url, port } = SERVERS[name];
  if (await tcpReachable(url, port)) return true;
  const msg = `${name} is not reachable at ${url}`;
  if (process.env.CI === "true") throw new Error(`${msg} (CI=true: integration servers are required)`);
  t.skip(msg);
  return false;
}

/** requireServer for several servers in turn. */
export async function requireServers(t: TestContext, names: readonly ServerName[]): Promise<boolean> {
  for (const n of names) if (!(await requireServer(t, n))) return false;
  return true;
}
