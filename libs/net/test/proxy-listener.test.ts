import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { selfSignedCertificate } from "@aerogram/testkit";
import {
  type ConnectionInfo,
  encodeProxyV1,
  encodeProxyV2,
  Listener,
  loadSecureContext,
} from "../src/index.ts";

const client = { address: "198.51.100.23", port: 40404 };
const server = { address: "192.0.2.10", port: 143 };

/** A listener that records each connection and echoes "<address>:<port> <first line>" back. */
async function echoListener(opts: Partial<ConstructorParameters<typeof Listener>[0]> = {}) {
  const seen: ConnectionInfo[] = [];
  const errors: string[] = [];
  const listener = new Listener({
    host: "127.0.0.1",
    port: 0,
    onConnection: (socket, info) => {
      seen.push(info);
      let got = "";
      socket.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        if (got.includes("\n")) socket.end(`${info.remoteAddress}:${info.remotePort} ${got}`);
      });
    },
    onClientError: (err) => errors.push(err.message),
    ...opts,
  });
  const { port } = await listener.listen();
  return { listener, port, seen, errors };
}

function exchange(port: number, chunks: Buffer[], gapMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1", async () => {
      for (const c of chunks) {
        socket.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
    let out = "";
    socket.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
  });
}

test("PROXY v1 and v2 through a real listener: client address replaced, data after the header intact", async () => {
  const { listener, port, seen } = await echoListener({ proxyProtocol: {} });
  const h = { command: "proxy", family: "tcp4", source: client, destination: server } as const;
  // Header and first line in one packet: the line must survive the header read.
  assert.equal(
    await exchange(port, [Buffer.concat([encodeProxyV1(h), Buffer.from("a1 CAPABILITY\r\n")])]),
    "198.51.100.23:40404 a1 CAPABILITY\r\n",
  );
  // v2 split byte-group-wise across packets.
  const v2 = Buffer.concat([
    encodeProxyV2(h, [{ type: 0x01, value: Buffer.from("h2") }]),
    Buffer.from("EHLO x\r\n"),
  ]);
  assert.equal(
    await exchange(port, [v2.subarray(0, 5), v2.subarray(5, 20), v2.subarray(20)], 20),
    "198.51.100.23:40404 EHLO x\r\n",
  );
  // LOCAL (a balancer health check) keeps the peer's own address.
  const local = await exchange(port, [
    encodeProxyV2({ command: "local", family: "unknown" }),
    Buffer.from("hi\n"),
  ]);
  assert.match(local, /^127\.0\.0\.1:\d+ hi\n$/);
  assert.equal(seen[0]?.proxiedBy, "127.0.0.1");
  listener.stopAccepting();
  listener.destroyAll();
});

test("missing, malformed or late headers close the connection before onConnection", async () => {
  const { listener, port, seen, errors } = await echoListener({ proxyProtocol: { headerTimeoutMs: 200 } });
  assert.equal(await exchange(port, [Buffer.from("EHLO no-header\r\n")]), "");
  assert.equal(await exchange(port, [Buffer.from("PROXY TCP4 1.2.3.4 nope 1 2\r\nEHLO x\r\n")]), "");
  assert.equal(await exchange(port, [Buffer.from("PROXY TCP4 1.2")]), "", "timed out waiting for the rest");
  assert.equal(seen.length, 0);
  assert.equal(errors.length, 3);
  assert.match(errors.join("\n"), /no PROXY header within 200 ms/);
  assert.equal(await listener.waitForConnections(1000), 0);
  listener.stopAccepting();
});

test("with trusted networks, a peer outside them is closed; inside them it is served", async () => {
  const denied = await echoListener({ proxyProtocol: { trustedNetworks: ["10.0.0.0/8"] } });
  const line = Buffer.concat([
    encodeProxyV1({ family: "tcp4", source: client, destination: server }),
    Buffer.from("x\n"),
  ]);
  assert.equal(await exchange(denied.port, [line]), "");
  assert.match(denied.errors[0] ?? "", /not a trusted proxy/);
  denied.listener.stopAccepting();

  const allowed = await echoListener({ proxyProtocol: { trustedNetworks: ["10.0.0.0/8", "127.0.0.0/8"] } });
  assert.equal(await exchange(allowed.port, [line]), "198.51.100.23:40404 x\n");
  allowed.listener.stopAccepting();
});

test("implicit TLS behind PROXY: the handshake starts after the header", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aerogram-proxy-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { certFile, keyFile } = selfSignedCertificate(dir, "localhost");
  const { listener, port } = await echoListener({
    tls: loadSecureContext({ certFile, keyFile }),
    proxyProtocol: {},
  });
  const answer = await new Promise<string>((resolve, reject) => {
    const raw = connect(port, "127.0.0.1", () => {
      raw.write(encodeProxyV2({ command: "proxy", family: "tcp4", source: client, destination: server }));
      const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: "localhost" }, () => {
        secure.write("a1 NOOP\r\n");
      });
      let out = "";
      secure.on("data", (d: Buffer) => {
        out += d.toString();
      });
      secure.on("close", () => resolve(out));
      secure.on("error", reject);
    });
  });
  assert.equal(answer, "198.51.100.23:40404 a1 NOOP\r\n");
  listener.stopAccepting();
  listener.destroyAll();
});
