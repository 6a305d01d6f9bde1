/**
 * STLS (RFC 2595): offered only when TLS is configured and not
 * yet in use; commands pipelined after STLS in plaintext are discarded (no
 * plaintext injection into the TLS session); login works over TLS.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { loadSecureContext } from "@aerogram/net";
import type { Runtime } from "@aerogram/runtime";
import { selfSignedCertificate, tempDir } from "@aerogram/testkit";
import { createPop3Service, type Pop3Service } from "../src/service.ts";
import {
  accountWithMail,
  message,
  openRuntime,
  RawClient,
  requireServers,
  serversReachable,
  startBackends,
  type TestBackends,
} from "./helpers.ts";

let backends: TestBackends | undefined;
let runtime: Runtime;
let pop3: Pop3Service;
let dir: { path: string; remove(): Promise<void> };

before(async () => {
  if (!(await serversReachable(["postgres"]))) return;
  dir = await tempDir("aerogram-pop3-tls-");
  const { certFile, keyFile } = selfSignedCertificate(dir.path, "pop3.test");
  backends = await startBackends();
  runtime = await openRuntime(backends);
  pop3 = await createPop3Service(runtime, {
    host: "127.0.0.1",
    port: 0,
    tls: loadSecureContext({ certFile, keyFile }),
  });
  await accountWithMail(runtime, "tls@example.org", "tls pass", [message(1)]);
});

after(async () => {
  if (!backends) return;
  await pop3.drain(100);
  await runtime.close();
  await backends.stop();
  await dir.remove();
});

test("STLS upgrades, discards pipelined plaintext, and login works over TLS", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const plain = await RawClient.connect(pop3.port);
  await plain.line();
  assert.match(await plain.cmd("CAPA"), /^\+OK/);
  assert.ok((await plain.lines()).includes("STLS"));
  // The NOOP rides in the same packet as STLS: it must never be executed.
  plain.send("STLS\r\nNOOP\r\n");
  assert.equal(await plain.line(), "+OK begin TLS negotiation");
  plain.socket.removeAllListeners("data");
  const secure = await new Promise<import("node:tls").TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ socket: plain.socket, rejectUnauthorized: false }, () => resolve(s));
    s.once("error", reject);
  });
  const c = RawClient.wrap(secure);
  assert.match(await c.cmd("CAPA"), /^\+OK/);
  const caps = await c.lines();
  assert.ok(!caps.includes("STLS"), "no STLS once TLS is active");
  assert.match(await c.cmd("STLS"), /^-ERR TLS is already active/);
  assert.match(await c.cmd("USER tls@example.org"), /^\+OK/);
  assert.match(await c.cmd("PASS tls pass"), /^\+OK maildrop has 1/);
  assert.match(await c.cmd("QUIT"), /^\+OK/);
});
