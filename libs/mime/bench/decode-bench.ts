// Transfer-decoding benchmark: FETCH BINARY's decode of a 16 MiB part, before
// and after issue 16's one streaming decoder.
//
//   before: the decoders FETCH BINARY used until then, kept here verbatim as
//           the baseline: base64 through a regex-stripped latin1 string;
//           quoted-printable through a number[] (about 8 bytes per octet),
//           both on the whole part read into memory;
//   after:  transfer-decoding.ts, fed the part in 64 KiB chunks (as
//           blobs.getRange streams it), output collected once.
//
// The encoded part is written to a file first; every (variant, encoding)
// runs in a fresh child process that reads it as the filesystem blob store
// does (whole: blobs.read; streamed: blobs.getRange), alternating
// before/after, ROUNDS rounds; each reports wall time, CPU time (user+sys of
// the process) and peak RSS above the child's RSS before it started reading.
// The table prints min/median/max and the after/before ratio of medians,
// with the load average at the start and the end.
//
// Run: node --import tsx libs/mime/bench/decode-bench.ts [--smoke] [--rounds N]
//      (--smoke: 1 MiB parts, one round: a seconds-long check that it runs)
import { spawnSync } from "node:child_process";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTransferStream } from "../src/index.ts";
import { referenceQp } from "../test/reference-qp.ts";

const args = process.argv.slice(2);
const SMOKE = args.includes("--smoke");
const ROUNDS = SMOKE ? 1 : Number(args[args.indexOf("--rounds") + 1] || 5);
const PART_BYTES = SMOKE ? 1 << 20 : 16 << 20;
const CHUNK = 64 * 1024;

type Variant = "before" | "after";
type Encoding = "base64" | "quoted-printable";

/** Deterministic pseudo-random generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An encoded part body of about `size` octets. */
function encodedPart(encoding: Encoding, size: number): Buffer {
  const r = rng(7);
  if (encoding === "base64") {
    const raw = Buffer.allocUnsafe(Math.floor((size * 57) / 78));
    for (let i = 0; i < raw.length; i++) raw[i] = (r() * 256) | 0;
    const text = raw.toString("base64");
    const lines: string[] = [];
    for (let i = 0; i < text.length; i += 76) lines.push(text.slice(i, i + 76));
    return Buffer.from(lines.join("\r\n"));
  }
  // quoted-printable text: words, =XX escapes for 8-bit characters, soft breaks
  const words = ["caf=C3=A9", "cr=C3=A8me", "invoice", "report", "meeting", "=E2=80=94", "tomorrow"];
  const lines: string[] = [];
  let n = 0;
  while (n < size) {
    let line = "";
    while (line.length < 70) line += `${words[Math.floor(r() * words.length)]} `;
    line += r() < 0.5 ? "=" : "";
    lines.push(line);
    n += line.length + 2;
  }
  return Buffer.from(lines.join("\r\n"));
}

// ---- the baseline: FETCH BINARY's decoders before the change (verbatim; its
// quoted-printable one is the tests' reference, test/reference-qp.ts) ----
function beforeBase64(raw: Buffer): Buffer {
  return Buffer.from(raw.toString("latin1").replace(/[^A-Za-z0-9+/]/g, ""), "base64");
}

// ---------------------------------------------------------------------------

interface Sample {
  ms: number;
  cpuMs: number;
  peakMiB: number;
  outBytes: number;
}

async function child(variant: Variant, encoding: Encoding, file: string): Promise<void> {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let out: Buffer;
  if (variant === "before") {
    // blobs.read: the whole part in one Buffer, then decoded
    const whole = readFileSync(file);
    out = encoding === "base64" ? beforeBase64(whole) : referenceQp(whole);
  } else {
    // blobs.getRange: the part streamed (the filesystem store's read stream)
    const length = statSync(file).size;
    out = (await decodeTransferStream(createReadStream(file, { highWaterMark: CHUNK }), encoding, length))!;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const peak = process.resourceUsage().maxRSS * 1024;
  const sample: Sample = {
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakMiB: Math.max(0, peak - rssBefore) / (1 << 20),
    outBytes: out.length,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function runChild(variant: Variant, encoding: Encoding, file: string): Sample {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", import.meta.filename, "--child", variant, encoding, file],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`child ${variant} ${encoding} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Sample;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
};
const fmt = (xs: number[], digits = 0) => {
  const { min, median, max } = stats(xs);
  return `${min.toFixed(digits)} / ${median.toFixed(digits)} / ${max.toFixed(digits)}`;
};

async function main(): Promise<void> {
  const ci = args.indexOf("--child");
  if (ci >= 0) return child(args[ci + 1] as Variant, args[ci + 2] as Encoding, args[ci + 3]!);
  const dir = mkdtempSync(join(tmpdir(), "aerogram-decode-bench-"));
  const load0 = loadavg().map((x) => x.toFixed(2));
  console.log(
    `FETCH BINARY decode of a ${(PART_BYTES / (1 << 20)).toFixed(0)} MiB part, ${ROUNDS} round(s), alternating; load average ${load0.join(" ")}`,
  );
  console.log(
    "| encoding | variant | wall ms min/med/max | CPU ms min/med/max | peak RSS above input MiB min/med/max |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  for (const encoding of ["base64", "quoted-printable"] as const) {
    const file = join(dir, `${encoding}.txt`);
    writeFileSync(file, encodedPart(encoding, PART_BYTES));
    const samples: Record<Variant, Sample[]> = { before: [], after: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order: Variant[] = round % 2 === 0 ? ["before", "after"] : ["after", "before"];
      for (const v of order) samples[v].push(runChild(v, encoding, file));
    }
    if (samples.before[0]!.outBytes !== samples.after[0]!.outBytes)
      throw new Error(`${encoding}: before and after decode to different lengths`);
    for (const v of ["before", "after"] as const) {
      const s = samples[v];
      console.log(
        `| ${encoding} | ${v} | ${fmt(s.map((x) => x.ms))} | ${fmt(s.map((x) => x.cpuMs))} | ${fmt(
          s.map((x) => x.peakMiB),
          1,
        )} |`,
      );
    }
    const ratio = (f: (x: Sample) => number) =>
      (stats(samples.after.map(f)).median / stats(samples.before.map(f)).median).toFixed(2);
    console.log(
      `| ${encoding} | after/before (medians) | ${ratio((x) => x.ms)} | ${ratio((x) => x.cpuMs)} | ${ratio((x) => x.peakMiB)} |`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `load average at the end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
}

await main();
