import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { selfSignedCertificate, tempDir } from "@aerogram/testkit";
import { IdleSweeper, LineSplitter, Listener, loadSecureContext } from "../src/index.ts";

const lines = (events: ReturnType<LineSplitter["push"]>) =>
  events.map((e) => (e.kind === "line" ? e.line.toString() : "<too-long>"));

test("LineSplitter: CRLF and bare LF, split anywhere, limit enforced without buffering", () => {
  const s = new LineSplitter(10);
  assert.deepEqual(lines(s.push(Buffer.from("USER a\r\nPA"))), ["USER a"]);
  assert.deepEqual(lines(s.push(Buffer.from("SS b\nNOOP\r"))), ["PASS b"]);
  assert.deepEqual(lines(s.push(Buffer.from("\n"))), ["NOOP"]);
  assert.deepEqual(lines(s.push(Buffer.from("0123456789\r\n"))), ["0123456789"], "exactly the limit");
  assert.deepEqual(lines(s.push(Buffer.from("x".repeat(100_000)))), []);
  assert.ok(s.buffered <= 11, "an over-long line is not buffered");
  assert.deepEqual(lines(s.push(Buffer.from("yyy\r\nQUIT\r\n"))), ["<too-long>", "QUIT"]);
  assert.deepEqual(lines(s.push(Buffer.from("01234567890\r\n"))), ["<too-long>"]);
});

test("LineSplitter: byte-at-a-time gives the same lines", () => {
  const input = Buffer.from("A1 LOGIN x y\r\nB\nC\r\n\r\nD");
  const whole = lines(new LineSplitter(100).push(input));
  const s = new LineSplitter(100);
  const bytewise = [...input].flatMap((b) => lines(s.push(Buffer.from([b]))));
  assert.deepEqual(bytewise, whole);
  assert.deepEqual(whole, ["A1 LOGIN x y", "B", "C", ""]);
});

test("IdleSweeper times out idle sessions and spares active ones", () => {
  const sweeper = new IdleSweeper(60_000);
  const timedOut: string[] = [];
  const a = { onIdleTimeout: () => timedOut.push("a") };
  const b = { onIdleTimeout: () => timedOut.push("b") };
  sweeper.watch(a, 100);
  sweeper.watch(b, 100);
  const t0 = performance.now();
  sweeper.sweep(t0 + 50);
  assert.equal(timedOut.length, 0);
  sweeper.touch(b);
  sweeper.sweep(performance.now() + 100);
  assert.ok(timedOut.includes("a"));
  sweeper.sweep(performance.now() + 1000);
  assert.deepEqual(timedOut.sort(), ["a", "b"]);
  assert.equal(sweeper.size, 0);
  sweeper.close();
});

test("IdleSweeper deadline: activity does not extend it, a new watch removes it", () => {
  const sweeper = new IdleSweeper(60_000);
  const timedOut: string[] = [];
  const slow = { onIdleTimeout: () => timedOut.push("slow") };
  const loggedIn = { onIdleTimeout: () => timedOut.push("logged-in") };
  sweeper.watch(slow, 1000, 3000);
  sweeper.watch(loggedIn, 1000, 3000);
  const t0 = performance.now();
  // Both trickle a byte well within the idle limit…
  sweeper.touch(slow);
  sweeper.touch(loggedIn);
  // …and one of them logs in, which replaces its limits (no deadline any more).
  sweeper.watch(loggedIn, 60_000);
  sweeper.sweep(t0 + 900);
  assert.equal(timedOut.length, 0);
  sweeper.sweep(t0 + 3100);
  assert.deepEqual(timedOut, ["slow"]);
  sweeper.close();
});

test("IdleSweeper deadline can be extended (a budget that grows with bytes received)", () => {
  const sweeper = new IdleSweeper(60_000);
  const timedOut: string[] = [];
  const session = { onIdleTimeout: () => timedOut.push("s") };
  const t0 = performance.now();
  sweeper.watch(session, Number.POSITIVE_INFINITY, 1000);
  sweeper.extendDeadline(session, 500);
  sweeper.extendDeadline({ onIdleTimeout() {} }, 500); // not watched: nothing happens
  sweeper.sweep(t0 + 1400);
  assert.deepEqual(timedOut, []);
  sweeper.sweep(t0 + 1600);
  assert.deepEqual(timedOut, ["s"]);
  sweeper.close();
});

test("Listener tracks connections and drains", async () => {
  const listener = new Listener({
    host: "127.0.0.1",
    port: 0,
    onConnection: (socket) => socket.write("hello\r\n"),
  });
  const { port } = await listener.listen();
  const clients = await Promise.all(
    [1, 2, 3].map(
      () =>
        new Promise<ReturnType<typeof connect>>((resolve) => {
          const c = connect(port, "127.0.0.1");
          c.once("data", () => resolve(c));
        }),
    ),
  );
  assert.equal(listener.connections, 3);
  listener.stopAccepting();
  await assert.rejects(
    new Promise((resolve, reject) =>
      connect(port, "127.0.0.1").once("connect", resolve).once("error", reject),
    ),
  );
  clients[0]!.end();
  assert.equal(await listener.waitForConnections(2000), 2);
  listener.destroyAll();
  assert.equal(await listener.waitForConnections(2000), 0);
  for (const c of clients) c.destroy();
});

test("implicit TLS listener hands over a TLS socket after the handshake", async () => {
  const dir = await tempDir("aerogram-net-tls-");
  try {
    const { certFile, keyFile } = selfSignedCertificate(dir.path);
    const listener = new Listener({
      host: "127.0.0.1",
      port: 0,
      tls: loadSecureContext({ certFile, keyFile }),
      onConnection: (socket, info) => {
        assert.equal(info.secure, true);
        socket.write(`hello over ${(socket as TLSSocket).getProtocol?.()}\r\n`);
      },
    });
    const { port } = await listener.listen();
    const greeting = await new Promise<string>((resolve, reject) => {
      const c = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false });
      c.once("data", (d) => {
        resolve(d.toString());
        c.destroy();
      });
      c.once("error", reject);
    });
    assert.match(greeting, /^hello over TLSv1\.[23]\r\n$/);
    // A plaintext client gets no greeting and is dropped, without crashing the listener.
    const plain = connect(port, "127.0.0.1");
    plain.on("error", () => {});
    plain.write("A1 CAPABILITY\r\n");
    await new Promise((resolve) => plain.once("close", resolve));
    listener.stopAccepting();
    listener.destroyAll();
  } finally {
    await dir.remove();
  }
});
