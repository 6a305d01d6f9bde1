/**
 * The benchmark's load generator: a minimal POP3 client and the two timed
 * phases. pop3-bench.ts runs it in a child process of its own for either
 * server, so the client's CPU never competes with an in-process gateway's
 * event loop (Dovecot's processes never shared one with it either):
 *
 *   node --import tsx bench/pop3-clients.ts '<Load as JSON>'   → Result as JSON on stdout
 */
import { connect, type Socket } from "node:net";

/** A minimal POP3 client that reads responses without copying more than it must. */
export class Client {
  private chunks: Buffer[] = [];
  private want: { multi: boolean; resolve: (bytes: number) => void; reject: (e: Error) => void } | undefined;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.check();
    });
    socket.on("error", (e) => this.want?.reject(e));
  }
  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: "127.0.0.1" }, () => resolve(new Client(s)));
      s.setNoDelay(true);
      s.once("error", reject);
    });
  }
  private check(): void {
    if (!this.want) return;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [buf];
    const first = buf.indexOf("\r\n");
    if (first === -1) return;
    if (buf[0] !== 0x2b) {
      this.finish(buf, first + 2, new Error(buf.subarray(0, first).toString()));
    } else if (!this.want.multi) {
      this.finish(buf, first + 2);
    } else {
      const end = buf.indexOf("\r\n.\r\n", first);
      if (end !== -1) this.finish(buf, end + 5);
    }
  }
  private finish(buf: Buffer, used: number, error?: Error): void {
    this.chunks = used < buf.length ? [buf.subarray(used)] : [];
    const w = this.want!;
    this.want = undefined;
    if (error) w.reject(error);
    else w.resolve(used);
  }
  read(multi: boolean): Promise<number> {
    return new Promise((resolve, reject) => {
      this.want = { multi, resolve, reject };
      this.check();
    });
  }
  cmd(line: string, multi = false): Promise<number> {
    this.socket.write(`${line}\r\n`);
    return this.read(multi);
  }
  close(): void {
    this.socket.destroy();
  }
}

export async function login(port: number, user: string, password: string): Promise<Client> {
  const c = await Client.open(port);
  try {
    await c.read(false);
    await c.cmd(`USER ${user}`);
    await c.cmd(`PASS ${password}`);
  } catch (error) {
    c.close();
    throw error;
  }
  return c;
}

export interface Result {
  /** Sessions that got an -ERR (e.g. [SYS/TEMP] when a backend timed out) or lost their connection. */
  errors: number;
  sessionsPerSecond: number;
  retrPerSecond: number;
  mbPerSecond: number;
  /** Sessions phase: mean client-side milliseconds per step (greeting = connect + greeting). */
  stepMs: Record<Step, number>;
}

const STEPS = ["greeting", "USER", "PASS", "STAT", "QUIT"] as const;
type Step = (typeof STEPS)[number];

export interface Load {
  /** One per server process (Aerogram replicas behind no balancer): client i uses ports[i % ports.length]. */
  ports: number[];
  users: string[];
  password: string;
  seconds: number;
  messages: number;
  /** Run only one phase (the bench samples CPU per phase); both when absent. */
  phase?: "sessions" | "retr";
}

/** Phase 1: sessions (connect, login, STAT, QUIT) per second; phase 2: sessions that RETR every message. */
export async function measure({ ports, users, password, seconds, messages, phase }: Load): Promise<Result> {
  const portOf = new Map(users.map((u, i) => [u, ports[i % ports.length]!]));
  let errors = 0;
  const forSeconds = async (work: (user: string) => Promise<number>) => {
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    const totals = await Promise.all(
      users.map(async (u) => {
        let n = 0;
        while (performance.now() < deadline) {
          // A failed session (an overloaded backend answers [SYS/TEMP]) counts as an
          // error and the client goes on, as a mail client would at its next poll.
          try {
            n += await work(u);
          } catch {
            errors++;
          }
        }
        return n;
      }),
    );
    return { total: totals.reduce((a, b) => a + b, 0), seconds: (performance.now() - started) / 1000 };
  };
  const spent: Record<Step, number> = { greeting: 0, USER: 0, PASS: 0, STAT: 0, QUIT: 0 };
  const skipped = { total: 0, seconds: 1 };
  const sessions =
    phase === "retr"
      ? skipped
      : await forSeconds(async (u) => {
          let t = performance.now();
          const lap = (step: Step) => {
            const now = performance.now();
            spent[step] += now - t;
            t = now;
          };
          const c = await Client.open(portOf.get(u)!);
          try {
            await c.read(false);
            lap("greeting");
            await c.cmd(`USER ${u}`);
            lap("USER");
            await c.cmd(`PASS ${password}`);
            lap("PASS");
            await c.cmd("STAT");
            lap("STAT");
            await c.cmd("QUIT");
            lap("QUIT");
          } finally {
            c.close();
          }
          return 1;
        });
  let bytes = 0;
  const retrs =
    phase === "sessions"
      ? skipped
      : await forSeconds(async (u) => {
          const c = await login(portOf.get(u)!, u, password);
          let n = 0;
          try {
            for (let i = 1; i <= messages; i++) {
              // Not `bytes += await …`: that reads `bytes` before the await and loses the other clients' counts.
              const got = await c.cmd(`RETR ${i}`, true);
              bytes += got;
              n++;
            }
            await c.cmd("QUIT");
          } finally {
            c.close();
          }
          return n;
        });
  const stepMs = Object.fromEntries(STEPS.map((k) => [k, spent[k] / Math.max(1, sessions.total)])) as Record<
    Step,
    number
  >;
  return {
    errors,
    stepMs,
    sessionsPerSecond: sessions.total / sessions.seconds,
    retrPerSecond: retrs.total / retrs.seconds,
    mbPerSecond: bytes / retrs.seconds / 1e6,
  };
}

if (process.argv[1]?.endsWith("pop3-clients.ts") && process.argv[2]) {
  const result = await measure(JSON.parse(process.argv[2]) as Load);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
