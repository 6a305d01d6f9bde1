/**
 * The ManageSieve service (RFC 5804, port 4190; 14190 under `npm start`):
 * one listener with STARTTLS when TLS is configured, sessions, drain.
 */
import type { SecureContext } from "node:tls";
import { Authenticator } from "@aerogram/auth";
import { Listener, loadSecureContext } from "@aerogram/net";
import { sharedCounter } from "@aerogram/observability";
import type { Runtime, ServiceHandle } from "@aerogram/runtime";
import { ManageSieveSession, type SessionOptions } from "./session.ts";

export interface ManageSieveOptions {
  host?: string;
  port?: number;
  tls?: SecureContext;
  idleMs?: number;
  allowInsecureAuth?: boolean;
}

export interface ManageSieveService extends ServiceHandle {
  port: number;
}

export async function startManageSieve(
  runtime: Runtime,
  opts: ManageSieveOptions = {},
): Promise<ManageSieveService> {
  const log = runtime.log.child({ service: "managesieve" });
  const c = runtime.config;
  const tls = opts.tls ?? (c.tls ? loadSecureContext(c.tls) : undefined);
  const options: SessionOptions = {
    hostname: c.hostname,
    tls,
    maxScriptBytes: c.filtering.sieve.maxScriptBytes,
    maxScripts: c.filtering.sieve.maxScripts,
    maxRedirects: c.filtering.sieve.maxRedirects,
    // RFC 5804 §1: a server MAY close idle sessions; half an hour like IMAP's autologout.
    idleMs: opts.idleMs ?? 30 * 60_000,
    allowInsecureAuth: opts.allowInsecureAuth ?? false,
  };
  const authenticator = new Authenticator(
    {
      store: runtime.store,
      limits: runtime.limits,
      log,
      metrics: runtime.metrics,
      credentials: (name) => runtime.store.accounts.loginCredentials(name),
    },
    c.protocolLimits.auth,
  );
  const commands = sharedCounter(runtime.metrics, {
    name: "aerogram_managesieve_commands_total",
    help: "ManageSieve commands by command and result (ok, no, bye)",
    labelNames: ["command", "result"],
  });
  const sessions = new Set<ManageSieveSession>();
  const host = opts.host ?? c.bindAddress;
  const listener = new Listener({
    host,
    port: opts.port ?? c.filtering.manageSievePort ?? 14190,
    ...(c.proxyProtocol ? { proxyProtocol: c.proxyProtocol } : {}),
    onConnection: (socket, info) => {
      const s = new ManageSieveSession(
        { store: runtime.store, authenticator, log, commands, options, onClose: (x) => sessions.delete(x) },
        socket,
        info.remoteAddress,
        info.secure,
      );
      sessions.add(s);
      s.start();
    },
    onClientError: (err) => log.info({ err }, "ManageSieve connection refused"),
  });
  const addr = await listener.listen();
  const endpoints = [`managesieve ${host}:${addr.port}${tls ? " (STARTTLS)" : ""}`];
  log.info({ endpoints }, "managesieve listening");
  return {
    name: "managesieve",
    endpoints,
    port: addr.port,
    connections: () => listener.connections,
    async drain(graceMs: number) {
      listener.stopAccepting();
      for (const s of sessions) s.beginDrain();
      await listener.waitForConnections(graceMs);
      listener.destroyAll();
    },
  };
}
