/**
 * IMAPS with certificate hot reload (issue 23), over real sockets: a session
 * logged in over implicit TLS stays usable while the certificate files are
 * replaced (as cert-manager rotates a Secret), new connections get the new
 * certificate, STARTTLS on the plain port too, and a half-written certificate
 * file never reaches a client.
 */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import type { Runtime } from "@aerogram/runtime";
import { requireServer, selfSignedCertificate, tempDir } from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";
import { type Backends, createAccount, startBackends } from "./helpers.ts";

let backends: Backends | undefined;
let runtime: Runtime;
let server: ImapServer;
let dir: { path: string; remove(): Promise<void> };
let imapsPort = 0;
let rotated: { certFile: string; keyFile: string };

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  dir = await tempDir("aerogram-imaps-reload-");
  const first = selfSignedCertificate(dir.path, "imap.example.com");
  rotated = selfSignedCertificate(dir.path, "imap2.example.com");
  const live = { certFile: join(dir.path, "tls.crt"), keyFile: join(dir.path, "tls.key") };
  copyFileSync(first.certFile, live.certFile);
  copyFileSync(first.keyFile, live.keyFile);
  backends = await startBackends();
  runtime = await backends.runtime("imap-tls-test", {
    TLS_CERT_FILE: live.certFile,
    TLS_KEY_FILE: live.keyFile,
    TLS_RELOAD_INTERVAL_MS: "100",
    IMAPS_PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
  });
  server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, tlsPort: 0, host: "127.0.0.1" });
  imapsPort = Number(/IMAPS\s+[\d.]+:(\d+)/.exec(endpoints.join("\n"))![1]);
});

after(async () => {
  if (!backends) return;
  server.close();
  await runtime.close();
  await backends.stop();
  await dir.remove();
});

function open(): Promise<{ socket: TLSSocket; cn: string; read(re: RegExp): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port: imapsPort, rejectUnauthorized: false });
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    const read = async (re: RegExp) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const m = re.exec(text);
        if (m) {
          text = text.slice(m.index + m[0].length);
          return m[0];
        }
        if (Date.now() > deadline) throw new Error(`expected ${re}; got ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    socket.once("secureConnect", () =>
      resolve({ socket, cn: String(socket.getPeerCertificate().subject.CN), read }),
    );
    socket.once("error", reject);
  });
}

test("replacing the certificate files: new IMAPS connections get the new certificate, a logged-in session is intact", async (t) => {
  if (!backends) return t.skip("no postgres");
  const account = await createAccount(runtime);
  const session = await open();
  assert.equal(session.cn, "imap.example.com");
  await session.read(/\* OK .*\r\n/);
  session.socket.write(`a LOGIN "${account.user}" "${account.pass}"\r\n`);
  assert.match(await session.read(/a (OK|NO).*\r\n/), /a OK/);

  // Half-written first: the certificate file is cut short, the key not yet replaced.
  const pem = readFileSync(rotated.certFile, "utf8");
  writeFileSync(join(dir.path, "tls.crt"), pem.slice(0, 300));
  await new Promise((r) => setTimeout(r, 300));
  const during = await open();
  assert.equal(during.cn, "imap.example.com", "a half-written file is never served");
  during.socket.destroy();

  writeFileSync(join(dir.path, "tls.crt"), pem);
  copyFileSync(rotated.keyFile, join(dir.path, "tls.key"));
  const deadline = Date.now() + 15_000;
  let cn = "";
  while (Date.now() < deadline) {
    const c = await open();
    cn = c.cn;
    c.socket.destroy();
    if (cn === "imap2.example.com") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(cn, "imap2.example.com");

  session.socket.write("b SELECT INBOX\r\n");
  assert.match(await session.read(/b (OK|NO|BAD).*\r\n/), /b OK \[READ-WRITE\]/);
  session.socket.write("c LOGOUT\r\n");
  await session.read(/c OK.*\r\n/);
  // The expiry gauge reports the certificate now in use.
  const metrics = await runtime.metrics.metrics();
  assert.match(metrics, /aerogram_tls_certificate_expiry_days\{name="imap2\.example\.com"[^}]*\} 0\.9\d*/);
});
