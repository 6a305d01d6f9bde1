// MIME index benchmark (issue targets in brackets):
//  1. index throughput on a generated mixed-mail corpus, one core [>= 200 MB/s]
//  2. peak RSS growth while indexing a 100 MB message streamed from a
//     generator [< 10 MB]
//  3. stored index size (JSON bytes) as a share of message size [<= 2%]
// Run: node --import tsx libs/mime/bench/index-bench.ts   (or npm run bench -w @aerogram/mime)
// BENCH_SMOKE=1 (the smoke test in npm test): 20 messages, 0.2 s, a 4 MB message.
import { benchKnob } from "@aerogram/testkit";
import { createIndexer, indexMessageSync } from "../src/index.ts";

const CORPUS_MESSAGES = benchKnob("BENCH_MESSAGES", 200, 20);
const THROUGHPUT_SECONDS = benchKnob("BENCH_SECONDS", 3, 0.2);
const BIG_MESSAGE_MB = benchKnob("BENCH_BIG_MB", 100, 4);

const CHUNK = 64 * 1024;

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

const WORDS =
  "the quick brown fox jumps over lazy dog мир привет invoice meeting report tomorrow please find attached".split(
    " ",
  );

function prose(r: () => number, bytes: number): string {
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    const words: string[] = [];
    for (let i = 0; i < 8 + Math.floor(r() * 6); i++) words.push(WORDS[Math.floor(r() * WORDS.length)]!);
    const line = words.join(" ");
    lines.push(line);
    n += line.length + 2;
  }
  return lines.join("\r\n");
}

function base64Body(r: () => number, bytes: number): string {
  const raw = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = (r() * 256) | 0;
  return raw
    .toString("base64")
    .replace(/(.{76})/g, "$1\r\n")
    .trimEnd();
}

function headers(r: () => number, i: number, extra: string[]): string[] {
  return [
    `Return-Path: <sender${i}@example.com>`,
    `Received: from mx${i % 7}.example.net (mx.example.net [192.0.2.${i % 250}]) by mail.example.org with ESMTPS id ${i}`,
    `Received: from client (client.example.com [198.51.100.${i % 250}]) by mx.example.net with ESMTPSA id abc${i}`,
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1; h=from:to:subject:date;",
    ` bh=${base64Body(r, 32).replace(/\r\n/g, "")}; b=${base64Body(r, 128).replace(/\r\n/g, "")}`,
    `From: =?UTF-8?B?${Buffer.from(`Отправитель ${i}`).toString("base64")}?= <sender${i}@example.com>`,
    `To: Recipient <rcpt${i}@example.org>, Team: a@example.org, b@example.org;`,
    `Subject: =?UTF-8?Q?Re:_report_${i}_=E2=80=94_draft?=`,
    `Date: Mon, ${1 + (i % 28)} Apr 2025 10:${String(i % 60).padStart(2, "0")}:00 +0200`,
    `Message-ID: <msg${i}.${Math.floor(r() * 1e9)}@example.com>`,
    "MIME-Version: 1.0",
    ...extra,
  ];
}

/** A mixed corpus: plain text, alternatives, attachments of many sizes, forwards. */
function makeCorpus(count: number): Buffer[] {
  const r = rng(42);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 10;
    let lines: string[];
    if (kind < 3) {
      lines = [
        ...headers(r, i, ["Content-Type: text/plain; charset=utf-8"]),
        "",
        prose(r, 1000 + r() * 8000),
      ];
    } else if (kind < 6) {
      lines = [
        ...headers(r, i, ['Content-Type: multipart/alternative; boundary="alt"']),
        "",
        "--alt",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        prose(r, 2000 + r() * 6000),
        "--alt",
        "Content-Type: text/html; charset=utf-8",
        "",
        `<html><body><p>${prose(r, 4000 + r() * 20000)}</p></body></html>`,
        "--alt--",
      ];
    } else {
      // attachments: 20 KB .. 4 MB, log-uniform
      const attachments: string[] = [];
      const n = 1 + Math.floor(r() * 3);
      for (let k = 0; k < n; k++) {
        const size = Math.floor(20_000 * 200 ** r());
        attachments.push(
          "--mix",
          `Content-Type: application/pdf; name="file-${k}.pdf"`,
          "Content-Transfer-Encoding: base64",
          `Content-Disposition: attachment; filename*=UTF-8''%D1%84%D0%B0%D0%B9%D0%BB-${k}.pdf`,
          "",
          base64Body(r, size),
        );
      }
      const body = [
        "--mix",
        "Content-Type: text/plain; charset=utf-8",
        "",
        prose(r, 1500),
        ...attachments,
        "--mix--",
      ];
      if (kind === 9) {
        // forwarded message with its own multipart
        lines = [
          ...headers(r, i, ['Content-Type: multipart/mixed; boundary="fwd"']),
          "",
          "--fwd",
          "Content-Type: text/plain",
          "",
          "Forwarded message below.",
          "--fwd",
          "Content-Type: message/rfc822",
          "",
          ...headers(r, i + 1000, ['Content-Type: multipart/mixed; boundary="mix"']),
          "",
          ...body,
          "--fwd--",
        ];
      } else {
        lines = [...headers(r, i, ['Content-Type: multipart/mixed; boundary="mix"']), "", ...body];
      }
    }
    out.push(Buffer.from(`${lines.join("\r\n")}\r\n`, "utf8"));
  }
  return out;
}

function indexChunked(msg: Buffer): void {
  const ix = createIndexer();
  for (let p = 0; p < msg.length; p += CHUNK) ix.write(msg.subarray(p, p + CHUNK));
  ix.end();
}

function throughput(corpus: Buffer[]): { mbps: number; seconds: number; bytes: number } {
  const total = corpus.reduce((s, m) => s + m.length, 0);
  for (const m of corpus) indexChunked(m); // warm-up
  let bytes = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < THROUGHPUT_SECONDS) {
    for (const m of corpus) indexChunked(m);
    bytes += total;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return { mbps: bytes / 1e6 / elapsed, seconds: elapsed, bytes };
}

/** A 100 MB message made on the fly: multipart with a text part and big base64 attachments. */
function* bigMessage(totalBytes: number): Generator<Buffer> {
  const r = rng(7);
  yield Buffer.from(
    `${headers(r, 1, ['Content-Type: multipart/mixed; boundary="big"']).join("\r\n")}\r\n\r\n--big\r\n` +
      "Content-Type: text/plain\r\n\r\nHuge attachments follow.\r\n",
  );
  const line = Buffer.from(`${base64Body(r, 57)}\r\n`); // 76 chars + CRLF
  const block = Buffer.concat(Array.from({ length: Math.floor(CHUNK / line.length) }, () => line));
  let sent = 0;
  let part = 0;
  while (sent < totalBytes) {
    if (sent % (25 * 1024 * 1024) < block.length) {
      yield Buffer.from(
        `--big\r\nContent-Type: application/octet-stream; name="part${part++}.bin"\r\n` +
          "Content-Transfer-Encoding: base64\r\n\r\n",
      );
    }
    yield Buffer.from(block); // a fresh buffer per chunk, like a socket would deliver
    sent += block.length;
  }
  yield Buffer.from("--big--\r\n");
}

function peakRss(totalBytes: number): { growthMB: number; mbps: number; size: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const ix = createIndexer();
  const start = process.hrtime.bigint();
  let n = 0;
  for (const chunk of bigMessage(totalBytes)) {
    ix.write(chunk);
    if (++n % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const index = ix.end();
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  peak = Math.max(peak, process.memoryUsage().rss);
  return { growthMB: (peak - base) / 1024 / 1024, mbps: index.size / 1e6 / secs, size: index.size };
}

function indexSize(corpus: Buffer[]): { ratio: number; median: number; jsonBytes: number; bytes: number } {
  let json = 0;
  let bytes = 0;
  const ratios: number[] = [];
  for (const m of corpus) {
    const j = Buffer.byteLength(JSON.stringify(indexMessageSync(m)));
    json += j;
    bytes += m.length;
    ratios.push(j / m.length);
  }
  ratios.sort((a, b) => a - b);
  return { ratio: json / bytes, median: ratios[Math.floor(ratios.length / 2)]!, jsonBytes: json, bytes };
}

const corpus = makeCorpus(CORPUS_MESSAGES);
const corpusMB = corpus.reduce((s, m) => s + m.length, 0) / 1e6;
const fmt = (x: number, d = 1) => x.toFixed(d);

const t = throughput(corpus);
console.log(
  `throughput: ${fmt(t.mbps)} MB/s on ${corpus.length} mixed messages (${fmt(corpusMB)} MB, 64 KB chunks, ` +
    `${fmt(t.seconds)} s) — ${fmt(t.mbps / 200, 2)}x the 200 MB/s target`,
);
const mem = peakRss(BIG_MESSAGE_MB * 1024 * 1024);
console.log(
  `memory: peak RSS growth ${fmt(mem.growthMB)} MB indexing a ${fmt(mem.size / 1e6)} MB streamed message ` +
    `(${fmt(mem.mbps)} MB/s) — ${fmt(mem.growthMB / 10, 2)}x the 10 MB ceiling`,
);
const sz = indexSize(corpus);
console.log(
  `index size: ${fmt(sz.ratio * 100, 3)}% of message bytes overall (${sz.jsonBytes} JSON bytes for ${sz.bytes}), ` +
    `median per message ${fmt(sz.median * 100, 2)}% — ${fmt((sz.ratio * 100) / 2, 3)}x the 2% ceiling`,
);
