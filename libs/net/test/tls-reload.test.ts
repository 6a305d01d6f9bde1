/**
 * TLS per hostname and hot reload (issue 23) over real sockets: an implicit-
 * TLS Listener and a STARTTLS-style upgrade with a TlsCertificates set. SNI
 * picks the certificate (exact CN/SAN, wildcard, default); replacing the
 * files switches new connections to the new certificate while an established
 * session keeps working; a half-written file or a mismatched key keeps the
 * old certificate, with the failure reported, until a good pair appears.
 */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { selfSignedCertificate, tempDir } from "@aerogram/testkit";
import { type CertificateFiles, Listener, TlsCertificates, upgradeToTls } from "../src/index.ts";

let dir: { path: string; remove(): Promise<void> };
let live: CertificateFiles;
let other: CertificateFiles;
let wildcard: CertificateFiles;
let next: CertificateFiles;

before(async () => {
  dir = await tempDir("aerogram-tls-reload-");
  const first = selfSignedCertificate(dir.path, "mail.example.com");
  // The files the server reads; rotations copy other pairs over them.
  live = { certFile: join(dir.path, "live.crt"), keyFile: join(dir.path, "live.key") };
  copyFileSync(first.certFile, live.certFile);
  copyFileSync(first.keyFile, live.keyFile);
  other = selfSignedCertificate(dir.path, "mx.other.example");
  wildcard = selfSignedCertificate(dir.path, "*.wild.example");
  next = selfSignedCertificate(join(dir.path), "next.example.com");
});
after(() => dir.remove());

function connect(port: number, servername?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: "127.0.0.1",
      port,
      rejectUnauthorized: false,
      ...(servername ? { servername } : {}),
    });
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });
}

const cn = (s: TLSSocket) => String(s.getPeerCertificate().subject.CN);

/** An echo server over implicit TLS with the given certificates. */
async function echoListener(tls: TlsCertificates): Promise<{ port: number; close(): Promise<void> }> {
  const listener = new Listener({
    host: "127.0.0.1",
    port: 0,
    tls,
    onConnection: (socket) => socket.on("data", (d) => socket.write(d)),
  });
  const { port } = await listener.listen();
  return {
    port,
    close: async () => {
      listener.stopAccepting();
      listener.destroyAll();
    },
  };
}

async function echo(s: TLSSocket, text: string): Promise<string> {
  s.write(text);
  return new Promise((resolve) => s.once("data", (d: Buffer) => resolve(d.toString())));
}

test("SNI picks the certificate: exact name, wildcard, default for unknown names and no SNI", async () => {
  const certs = new TlsCertificates({ default: live, extra: [other, wildcard] });
  const server = await echoListener(certs);
  try {
    const seen: string[] = [];
    for (const name of ["mx.other.example", "a.wild.example", "unknown.example", undefined]) {
      const s = await connect(server.port, name);
      seen.push(cn(s));
      s.destroy();
    }
    assert.deepEqual(seen, ["mx.other.example", "*.wild.example", "mail.example.com", "mail.example.com"]);
    assert.deepEqual(
      certs.certificates().map((c) => [c.names[0], Math.round(c.daysLeft)]),
      [
        ["mail.example.com", 1],
        ["mx.other.example", 1],
        ["*.wild.example", 1],
      ],
    );
  } finally {
    await server.close();
    certs.close();
  }
});

test("replacing the files: new connections get the new certificate, an open session keeps working", async () => {
  const errors: string[] = [];
  const certs = new TlsCertificates({
    default: live,
    reloadIntervalMs: 100,
    onReloadError: (_f, err) => errors.push(err.message),
  });
  const server = await echoListener(certs);
  try {
    const before = await connect(server.port, "mail.example.com");
    assert.equal(cn(before), "mail.example.com");
    assert.equal(await echo(before, "ping"), "ping");

    // Half-written rotation: the certificate file is cut short. The old pair stays.
    const pem = readFileSync(next.certFile, "utf8");
    writeFileSync(live.certFile, pem.slice(0, pem.length / 2));
    const failed = certs.reload();
    assert.deepEqual(failed.reloaded, []);
    assert.deepEqual(failed.failed, [live.certFile]);
    assert.match(errors.at(-1) ?? "", /live\.crt: not a PEM certificate/);
    const during = await connect(server.port);
    assert.equal(cn(during), "mail.example.com", "still the old certificate");
    during.destroy();

    // The certificate is complete but the key is still the old one: a mismatch, also refused.
    writeFileSync(live.certFile, pem);
    assert.deepEqual(certs.reload().failed, [live.certFile]);
    assert.match(errors.at(-1) ?? "", /live\.key: key unusable/);

    // The key arrives: the timer picks the pair up by itself.
    copyFileSync(next.keyFile, live.keyFile);
    const deadline = Date.now() + 10_000;
    let seen = "";
    while (Date.now() < deadline) {
      const s = await connect(server.port);
      seen = cn(s);
      s.destroy();
      if (seen === "next.example.com") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(seen, "next.example.com");
    // The session opened before the rotation is intact.
    assert.equal(await echo(before, "still here"), "still here");
    assert.equal(cn(before), "mail.example.com");
    before.destroy();
  } finally {
    await server.close();
    certs.close();
    copyFileSync(join(dir.path, "mail.example.com.crt"), live.certFile);
    copyFileSync(join(dir.path, "mail.example.com.key"), live.keyFile);
  }
});

test("STARTTLS-style upgrades use the current certificate and SNI too", async () => {
  const certs = new TlsCertificates({ default: live, extra: [other] });
  const server = createServer((socket) => {
    void upgradeToTls(socket, certs).then(
      (tls) => tls.on("data", (d) => tls.write(d)),
      () => {},
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    const s = await connect(port, "mx.other.example");
    assert.equal(cn(s), "mx.other.example");
    assert.equal(await echo(s, "hi"), "hi");
    s.destroy();
  } finally {
    server.close();
    certs.close();
  }
});

test("a missing file at start is a clear error naming it", () => {
  assert.throws(
    () => new TlsCertificates({ default: { certFile: join(dir.path, "nope.crt"), keyFile: live.keyFile } }),
    /nope\.crt/,
  );
});
