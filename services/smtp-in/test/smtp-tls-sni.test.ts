/**
 * TLS per hostname on the SMTP ports (issue 23), configured as operators do
 * (TLS_CERT_FILE/TLS_KEY_FILE + TLS_SNI_CERTS): STARTTLS and implicit TLS
 * choose the certificate by SNI and fall back to the default without it.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { requireServer, selfSignedCertificate, tempDir } from "@aerogram/testkit";
import { startService, startSmtpBackend } from "./support.ts";

async function starttlsName(port: number, servername?: string): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port });
  let text = "";
  const until = async (re: RegExp) => {
    const deadline = Date.now() + 10_000;
    while (!re.test(text)) {
      if (Date.now() > deadline) throw new Error(`expected ${re}; got ${JSON.stringify(text)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    text = "";
  };
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1");
  });
  await until(/^220 .*\r\n/m);
  socket.write("EHLO client.example\r\n");
  await until(/^250 .*\r\n/m);
  socket.write("STARTTLS\r\n");
  await until(/^220 .*\r\n/m);
  socket.removeAllListeners("data");
  const secure = tlsConnect({ socket, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
  await new Promise<void>((resolve, reject) => {
    secure.once("secureConnect", resolve);
    secure.once("error", reject);
  });
  const cn = String(secure.getPeerCertificate().subject.CN);
  secure.destroy();
  return cn;
}

async function implicitName(port: number, servername?: string): Promise<string> {
  const s = tlsConnect({
    host: "127.0.0.1",
    port,
    rejectUnauthorized: false,
    ...(servername ? { servername } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    s.once("secureConnect", resolve);
    s.once("error", reject);
  });
  const cn = String(s.getPeerCertificate().subject.CN);
  s.destroy();
  return cn;
}

test("STARTTLS and implicit TLS pick the certificate by SNI, the default without it", async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return;
  const dir = await tempDir("aerogram-smtp-sni-");
  t.after(() => dir.remove());
  const main = selfSignedCertificate(dir.path, "mx.example.com");
  const other = selfSignedCertificate(dir.path, "mx.other.example");
  const backend = await startSmtpBackend();
  t.after(() => backend.stop());
  const runtime = await backend.runtime("smtp-in-sni-test", {
    TLS_CERT_FILE: main.certFile,
    TLS_KEY_FILE: main.keyFile,
    TLS_SNI_CERTS: `${other.certFile}:${other.keyFile}`,
    SMTPS_PORT: "0",
  });
  t.after(() => runtime.close());
  const { service, stop } = await startService(runtime, { securePort: 0 });
  t.after(stop);
  const [plain, secure] = service.ports();
  assert.equal(await starttlsName(plain!, "mx.other.example"), "mx.other.example");
  assert.equal(await starttlsName(plain!), "mx.example.com");
  assert.equal(await implicitName(secure!, "mx.other.example"), "mx.other.example");
  assert.equal(await implicitName(secure!, "unknown.example"), "mx.example.com");
});
