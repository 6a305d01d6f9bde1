/**
 * The operations HTTP endpoint every service exposes:
 *   /metrics  Prometheus text format
 *   /healthz  liveness: the process is up and its event loop turns
 *   /readyz   readiness: every dependency (Postgres, blob store, event bus…)
 *             answered its probe recently, and the process is not draining
 * Other paths can be served by a fallback handler (the admin API).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; rejects (or times out) when it does not. */
  probe(): Promise<void>;
}

export interface OpsServerOptions {
  registry: Registry;
  checks: ReadinessCheck[];
  /** Per-probe time limit. */
  probeTimeoutMs?: number;
  /** Requests for other paths (e.g. the admin API); 404 when absent. */
  fallback?: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface ProbeResult {
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

export class OpsServer {
  private server: Server;
  private draining = false;

  constructor(private readonly opts: OpsServerOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`internal error: ${err.message}\n`);
      });
    });
  }

  /** Readiness flips to failing first on shutdown, so the load balancer stops sending traffic. */
  setDraining(): void {
    this.draining = true;
  }

  async runChecks(): Promise<ProbeResult[]> {
    const timeout = this.opts.probeTimeoutMs ?? 2000;
    return Promise.all(
      this.opts.checks.map(async (c) => {
        const started = performance.now();
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            c.probe(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
            }),
          ]);
          return { name: c.name, ok: true, ms: Math.round(performance.now() - started) };
        } catch (err) {
          return {
            name: c.name,
            ok: false,
            error: (err as Error).message,
            ms: Math.round(performance.now() - started),
          };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      const body = await this.opts.registry.metrics();
      res.writeHead(200, { "content-type": this.opts.registry.contentType });
      res.end(body);
    } else if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok" }));
    } else if (req.method === "GET" && path === "/readyz") {
      const checks = await this.runChecks();
      const ready = !this.draining && checks.every((c) => c.ok);
      res.writeHead(ready ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: ready ? "ready" : this.draining ? "draining" : "not ready", checks }));
    } else if (this.opts.fallback) {
      this.opts.fallback(req, res);
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
