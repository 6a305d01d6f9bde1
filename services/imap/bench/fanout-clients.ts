/**
 * Child process of fanout-bench.ts: holds a share of the idle IMAP sessions on
 * raw sockets (a few hundred bytes each, no client library), bound to its own
 * 127.0.0.x source address. Told over IPC which sessions to open; reports every
 * untagged EXISTS an idler receives, with a timestamp on the machine's clock
 * (performance.timeOrigin + performance.now(), comparable across processes).
 */
import { connect, type Socket } from "node:net";

export interface IdlerSpec {
  /** Global idler index. */
  id: number;
  user: string;
  pass: string;
  port: number;
}

export type ToClients = { type: "open"; idlers: IdlerSpec[]; localAddress: string; concurrency: number };

export type FromClients =
  | { type: "ready"; opened: number; failed: number; failedIds: number[]; firstError?: string }
  /** Flat triples: idler id, EXISTS count, time (ms since the epoch, fractional). */
  | { type: "exists"; data: number[] }
  | { type: "closed"; id: number };

const now = (): number => performance.timeOrigin + performance.now();

let outbox: number[] = [];
let flushing = false;
function report(id: number, n: number): void {
  outbox.push(id, n, now());
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    const data = outbox;
    outbox = [];
    process.send!({ type: "exists", data } satisfies FromClients);
  });
}

const sockets: Socket[] = [];
let idling = 0;

function openIdler(spec: IdlerSpec, localAddress: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: spec.port, localAddress });
    let buffer = "";
    let step = 0;
    socket.setEncoding("latin1");
    socket.setNoDelay(true);
    socket.on("error", (err) => {
      if (step < 2) reject(err);
    });
    socket.on("close", () => {
      if (step === 2) process.send!({ type: "closed", id: spec.id } satisfies FromClients);
      if (step < 2) reject(new Error(`closed during setup: ${buffer.slice(0, 200)}`));
    });
    socket.on("data", (data: string) => {
      buffer += data;
      if (step === 0) {
        if (!buffer.includes("\r\n")) return;
        step = 1;
        buffer = "";
        socket.write(`a LOGIN "${spec.user}" "${spec.pass}"\r\nb SELECT INBOX\r\nc IDLE\r\n`);
        return;
      }
      if (step === 1) {
        const refused = /^[abc] (NO|BAD).*$/m.exec(buffer);
        if (refused) {
          socket.destroy();
          reject(new Error(refused[0]));
          return;
        }
        const at = buffer.indexOf("+ idling\r\n");
        if (at < 0) return;
        step = 2;
        buffer = buffer.slice(at + 10);
        idling++;
        resolve();
      }
      // Idling: every complete line; "* n EXISTS" is the update under measurement.
      let end = buffer.indexOf("\r\n");
      while (end >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const m = /^\* (\d+) EXISTS$/.exec(line);
        if (m) report(spec.id, Number(m[1]));
        end = buffer.indexOf("\r\n");
      }
    });
    sockets.push(socket);
  });
}

process.on("message", async (message: ToClients) => {
  if (message.type !== "open") return;
  let failed = 0;
  const failedIds: number[] = [];
  let firstError: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < message.idlers.length) {
      const spec = message.idlers[next++]!;
      try {
        await openIdler(spec, message.localAddress);
      } catch (err) {
        failed++;
        failedIds.push(spec.id);
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: message.concurrency }, worker));
  process.send!({
    type: "ready",
    opened: idling,
    failed,
    failedIds,
    ...(firstError ? { firstError } : {}),
  } satisfies FromClients);
});

process.on("disconnect", () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
