// FETCH BINARY of a 16 MiB base64 attachment (about 12 MiB decoded), over the
// wire, against Dovecot in the same run: time at the client, and the server
// process's CPU time and peak RSS for the command (from /proc: VmHWM is reset
// through clear_refs before each FETCH, so the peak is the command's own).
//
// Ours: `npm start`'s main with only IMAP, on a fresh database of the test
// PostgreSQL and a filesystem blob directory. Dovecot: its imap binary,
// pre-authenticated over FIFOs (no daemon, port or password), Maildir.
// Rounds alternate which server goes first.
//
// Run: node --import tsx services/imap/bench/binary-fetch-bench.ts [--smoke] [--rounds N]
//      (--smoke: a 1 MiB attachment, one round). Needs PostgreSQL on
//      127.0.0.1:5432 and /usr/lib/dovecot/imap (Dovecot is skipped, with a
//      note, when missing). Listens on 127.0.0.1:43110 (IMAP_PORT overrides).
import { spawn, spawnSync } from "node:child_process";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  openSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { connect, type Socket } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import {
  cleanEnv,
  createTestDatabase,
  DOVECOT_IMAP,
  dovecotPreauth,
  runTsProcess,
  startTsProcess,
  tempDir,
} from "@aerogram/testkit";

const args = process.argv.slice(2);
const SMOKE = args.includes("--smoke");
const ROUNDS = SMOKE ? 1 : Number(args[args.indexOf("--rounds") + 1] || 5);
const DECODED_BYTES = SMOKE ? 768 * 1024 : 12 * 1024 * 1024;
const PORT = Number(process.env.IMAP_PORT ?? 43110);
const PASSWORD = "binary-bench";

/** The message: a short text part and a base64 attachment of DECODED_BYTES random octets. */
function message(): { bytes: Buffer; decoded: Buffer } {
  const decoded = Buffer.allocUnsafe(DECODED_BYTES);
  let x = 12345;
  for (let i = 0; i < decoded.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    decoded[i] = x >>> 24;
  }
  const b64 = decoded.toString("base64").replace(/(.{76})/g, "$1\r\n");
  const bytes = Buffer.from(
    [
      "From: bench@example.net",
      "To: binary@example.com",
      "Subject: big attachment",
      "Message-ID: <binary-bench@example.net>",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=bb",
      "",
      "--bb",
      "Content-Type: text/plain",
      "",
      "see attachment",
      "--bb",
      "Content-Type: application/octet-stream",
      "Content-Transfer-Encoding: base64",
      "",
      b64.trimEnd(),
      "--bb--",
      "",
    ].join("\r\n"),
  );
  return { bytes, decoded };
}

/** One IMAP connection (socket or a FIFO pair) that collects what the server writes. */
class Wire {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiter: (() => void) | undefined;
  constructor(
    private readonly write: (b: Buffer | string) => void,
    onData: (listener: (d: Buffer) => void) => void,
  ) {
    onData((d) => {
      this.chunks.push(d);
      this.length += d.length;
      this.waiter?.();
    });
  }
  send(b: Buffer | string): void {
    this.write(b);
  }
  /** Waits for the tagged completion of `tag`; returns everything received up to it. */
  async until(re: RegExp): Promise<Buffer> {
    for (;;) {
      const all = Buffer.concat(this.chunks);
      this.chunks = [all];
      // only the tail can hold the completion line
      const tail = all.subarray(Math.max(0, all.length - 4096)).toString("latin1");
      if (re.test(tail)) {
        this.chunks = [];
        this.length = 0;
        return all;
      }
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
  }
}

interface Proc {
  pid: number;
}

function procStat(pid: number): { cpuMs: number; rssKiB: number; hwmKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)![1]);
  return { cpuMs: (ticks * 1000) / 100, rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

interface Sample {
  ms: number;
  cpuMs: number;
  peakAboveMiB: number;
}

async function measure(proc: Proc, wire: Wire, tag: string, expect: Buffer): Promise<Sample> {
  writeFileSync(`/proc/${proc.pid}/clear_refs`, "5"); // reset VmHWM to the current RSS
  const before = procStat(proc.pid);
  const t0 = process.hrtime.bigint();
  wire.send(`${tag} FETCH 1 (BINARY.PEEK[2])\r\n`);
  const answer = await wire.until(new RegExp(`${tag} OK[^\\r]*\\r\\n$`));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = procStat(proc.pid);
  const m = /BINARY\[2\] ~?\{(\d+)\}\r\n/.exec(answer.subarray(0, 200).toString("latin1"));
  if (!m || Number(m[1]) !== expect.length)
    throw new Error(`${tag}: unexpected answer ${answer.subarray(0, 200)}`);
  const start = answer.indexOf("}\r\n") + 3;
  if (!answer.subarray(start, start + expect.length).equals(expect)) throw new Error(`${tag}: wrong octets`);
  return { ms, cpuMs: after.cpuMs - before.cpuMs, peakAboveMiB: (after.hwmKiB - before.rssKiB) / 1024 };
}

async function ours(msg: Buffer, dir: string) {
  const db = await createTestDatabase();
  const env = cleanEnv({
    DATABASE_URL: db.url,
    DATA_DIR: dir,
    BLOB_DIR: join(dir, "blobs"),
    AEROGRAM_SERVICES: "imap",
    IMAP_PORT: String(PORT),
    HTTP_PORT: "0",
    DEMO_ACCOUNT: "false",
  });
  const add = await runTsProcess(
    "services/admin/src/mailctl.ts",
    ["add", "binary@example.com", "--password", PASSWORD],
    env,
  );
  if (add.code !== 0) throw new Error(add.stderr);
  const server = startTsProcess("services/aerogram/src/main.ts", [], env);
  await server.waitFor(/IMAP\s+\S+:(\d+)/, 120_000);
  const socket: Socket = connect({ host: "127.0.0.1", port: PORT });
  const wire = new Wire(
    (b) => socket.write(b),
    (l) => socket.on("data", l),
  );
  await wire.until(/\* OK[^\r]*\r\n$/);
  wire.send(`a LOGIN binary@example.com ${PASSWORD}\r\n`);
  await wire.until(/a OK[^\r]*\r\n$/);
  wire.send(`b APPEND INBOX {${msg.length}}\r\n`);
  await wire.until(/\+[^\r]*\r\n$/);
  wire.send(msg);
  wire.send("\r\n");
  await wire.until(/b OK[^\r]*\r\n$/);
  wire.send("c SELECT INBOX\r\n");
  await wire.until(/c OK[^\r]*\r\n$/);
  return {
    proc: { pid: server.child.pid! },
    wire,
    async close() {
      socket.destroy();
      await server.stop("SIGTERM");
      await db.drop();
    },
  };
}

async function dovecot(msg: Buffer, dir: string) {
  const work = join(dir, "dovecot");
  const { conf, env } = dovecotPreauth(work)!;
  // stdin must be a pipe or FIFO: a socket makes imap believe it runs from inetd
  const fifoIn = join(work, "in");
  const fifoOut = join(work, "out");
  spawnSync("mkfifo", [fifoIn, fifoOut]);
  const child = spawn("sh", ["-c", 'exec "$0" -c "$1" <"$2" >"$3"', DOVECOT_IMAP, conf, fifoIn, fifoOut], {
    env,
    stdio: "ignore",
  });
  const input = createWriteStream("", { fd: openSync(fifoIn, "w") });
  const output = createReadStream("", { fd: openSync(fifoOut, "r") });
  const wire = new Wire(
    (b) => input.write(b),
    (l) => output.on("data", (d) => l(d as Buffer)),
  );
  await wire.until(/\* PREAUTH[^\r]*\r\n$/);
  wire.send(`b APPEND INBOX {${msg.length}+}\r\n`);
  wire.send(msg);
  wire.send("\r\n");
  await wire.until(/b OK[^\r]*\r\n$/);
  wire.send("c SELECT INBOX\r\n");
  await wire.until(/c OK[^\r]*\r\n$/);
  return {
    proc: { pid: child.pid! },
    wire,
    async close() {
      input.end("z LOGOUT\r\n");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
};
const fmt = (xs: number[], digits = 0) => {
  const { min, median, max } = stats(xs);
  return `${min.toFixed(digits)} / ${median.toFixed(digits)} / ${max.toFixed(digits)}`;
};

const dir = await tempDir("aerogram-binary-bench-");
const { bytes, decoded } = message();
const servers: { name: string; s: Awaited<ReturnType<typeof ours>> }[] = [];
try {
  servers.push({ name: "aerogram", s: await ours(bytes, dir.path) });
  if (existsSync(DOVECOT_IMAP)) servers.push({ name: "dovecot", s: await dovecot(bytes, dir.path) });
  else console.log(`${DOVECOT_IMAP} missing: no reference in this run`);
  console.log(
    `FETCH BINARY.PEEK[2] of a ${(bytes.length / 2 ** 20).toFixed(1)} MiB message (${(decoded.length / 2 ** 20).toFixed(1)} MiB decoded), ${ROUNDS} round(s), alternating; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  const samples = new Map<string, Sample[]>(servers.map((x) => [x.name, []]));
  let tag = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const { name, s } of order)
      samples.get(name)!.push(await measure(s.proc, s.wire, `f${tag++}`, decoded));
  }
  console.log(
    "| server | wall ms min/med/max | server CPU ms min/med/max | server peak RSS above idle MiB min/med/max |",
  );
  console.log("| --- | --- | --- | --- |");
  for (const [name, xs] of samples) {
    console.log(
      `| ${name} | ${fmt(xs.map((x) => x.ms))} | ${fmt(xs.map((x) => x.cpuMs))} | ${fmt(
        xs.map((x) => x.peakAboveMiB),
        1,
      )} |`,
    );
  }
  const a = samples.get("aerogram")!;
  const d = samples.get("dovecot");
  if (d) {
    const r = (f: (x: Sample) => number) => (stats(a.map(f)).median / stats(d.map(f)).median).toFixed(2);
    console.log(
      `| aerogram/dovecot (medians) | ${r((x) => x.ms)} | ${r((x) => x.cpuMs)} | ${r((x) => x.peakAboveMiB)} |`,
    );
  }
  console.log(
    `load average at the end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
} finally {
  for (const { s } of servers) await s.close();
  await dir.remove();
}
