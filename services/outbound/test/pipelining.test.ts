/**
 * RFC 2920 PIPELINING on the wire, against a raw SMTP server on a socket:
 * a server that offers PIPELINING and withholds its MAIL/RCPT replies until
 * DATA has arrived gets the message (a client waiting for each reply would
 * time out); the message arrives dot-stuffed correctly (RFC 5321 §4.5.2)
 * and in one piece after the 354; a RCPT refusal in the batch is a
 * per-recipient failure; a server without PIPELINING is still served one
 * command at a time. Also the pure parts: dot-stuffing and the commands'
 * parameters.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import { createTestDatabase, requireServer, type TestDatabase, tempDir, uniqueId } from "@aerogram/testkit";
import { createWorker, parseRoutes } from "../src/index.ts";
import { dataBlock, encodeXtext, envelopeCommands } from "../src/pipelined-send.ts";

interface RawServer {
  port: number;
  /** Messages as received after un-stuffing, with their envelope. */
  messages: { from: string; to: string[]; data: string }[];
  /** Socket reads that held MAIL, RCPT and DATA together. */
  batchedReads: number;
  close(): Promise<void>;
}

/**
 * A minimal SMTP server. With `pipelining` it offers PIPELINING and answers
 * MAIL and RCPT only once DATA is in (RFC 2920 lets a server answer when it
 * likes; a client that waits for each reply deadlocks against it).
 */
async function startRawServer(o: { pipelining: boolean; refuse?: string }): Promise<RawServer> {
  const messages: RawServer["messages"] = [];
  const state = { batchedReads: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buf = "";
    let inData = false;
    let held: string[] = [];
    let from = "";
    let to: string[] = [];
    const reply = (lines: string[]) => {
      if (o.pipelining) held.push(...lines);
      else socket.write(lines.join(""));
    };
    const flush = () => {
      socket.write(held.join(""));
      held = [];
    };
    socket.write("220 raw.test ESMTP\r\n");
    socket.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1");
      if (/^MAIL /m.test(text) && /^RCPT /m.test(text) && /^DATA\r$/m.test(text)) state.batchedReads++;
      buf += text;
      for (;;) {
        if (inData) {
          const end = buf.indexOf("\r\n.\r\n");
          if (end === -1) return;
          const data = buf
            .slice(0, end + 2)
            .split("\r\n")
            .map((l) => (l.startsWith(".") ? l.slice(1) : l))
            .join("\r\n");
          messages.push({ from, to, data });
          buf = buf.slice(end + 5);
          inData = false;
          socket.write("250 2.0.0 queued\r\n");
          continue;
        }
        const nl = buf.indexOf("\r\n");
        if (nl === -1) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") {
          socket.write(
            `250-raw.test\r\n${o.pipelining ? "250-PIPELINING\r\n" : ""}250-8BITMIME\r\n250 SIZE 10000000\r\n`,
          );
        } else if (verb === "MAIL") {
          from = /<([^>]*)>/.exec(line)![1]!;
          to = [];
          reply(["250 2.1.0 ok\r\n"]);
        } else if (verb === "RCPT") {
          const rcpt = /<([^>]*)>/.exec(line)![1]!;
          if (rcpt === o.refuse) reply(["550 5.1.1 no such user\r\n"]);
          else {
            to.push(rcpt);
            reply(["250 2.1.5 ok\r\n"]);
          }
        } else if (verb === "DATA") {
          if (to.length === 0) reply(["554 5.5.1 no valid recipients\r\n"]);
          else {
            reply(["354 go ahead\r\n"]);
            inData = true;
          }
          if (o.pipelining) flush();
        } else if (verb === "RSET" || verb === "NOOP") socket.write("250 2.0.0 ok\r\n");
        else if (verb === "QUIT") socket.end("221 2.0.0 bye\r\n");
        else socket.write("502 5.5.1 not implemented\r\n");
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    messages,
    get batchedReads() {
      return state.batchedReads;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe("pipelined transactions (RFC 2920)", () => {
  let db: TestDatabase;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let runtime: Runtime;
  let senderId: number;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres"))) return;
    db = await createTestDatabase();
    dir = await tempDir("aerogram-pipelining-");
    runtime = await createRuntime(
      loadConfig({
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: "4",
        BLOB_DIR: dir.path,
        NATS_SUBJECT_PREFIX: `t${uniqueId()}`,
        MAIL_HOSTNAME: "out.test.example",
        LOG_LEVEL: "silent",
      }),
      { service: "outbound-pipelining-test" },
    );
    senderId = (await runtime.store.accounts.create({ address: "p@local.test", password: "pw-pw-pw-pw" })).id;
  });
  after(async () => {
    await runtime?.close();
    await db?.drop();
    await dir?.remove();
  });

  async function enqueue(to: string[], body: string) {
    const messageId = `<${uniqueId()}@local.test>`;
    const blob = await new Delivery(runtime).storeBlob(
      Buffer.from(`From: p@local.test\r\nSubject: t\r\nMessage-ID: ${messageId}\r\n\r\n${body}`),
    );
    const domain = to[0]!.slice(to[0]!.indexOf("@") + 1);
    await runtime.store.outbound.enqueue({
      blobKey: blob.key,
      size: blob.size,
      sender: "p@local.test",
      senderAccountId: senderId,
      messageId,
      byDomain: new Map([[domain, to]]),
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    return messageId;
  }

  const worker = (port: number) =>
    createWorker(runtime, {
      routes: parseRoutes(`*=127.0.0.1:${port}`),
      pollMs: 20,
      leaseMs: 3000,
      timeoutMs: 2000,
      retryScheduleMs: [60_000],
      concurrency: 1,
      domainConcurrency: 1,
    });

  test("a server that answers MAIL/RCPT only after DATA gets the message, dot-stuffed right", async () => {
    const server = await startRawServer({ pipelining: true });
    const body = ".starts with a dot\r\n..two dots\r\nmiddle . dot\r\n.\r\nlast line without CRLF";
    const id = await enqueue(["a@pipe.test", "b@pipe.test"], body);
    assert.equal(await worker(server.port).drainDue(), 1);
    assert.equal(server.messages.length, 1, "delivered (a client waiting for each reply would time out)");
    const m = server.messages[0]!;
    assert.deepEqual(m.to, ["a@pipe.test", "b@pipe.test"]);
    assert.equal(m.from, "p@local.test");
    assert.ok(m.data.includes(`Message-ID: ${id}`));
    assert.ok(m.data.endsWith(`\r\n\r\n${body}\r\n`), JSON.stringify(m.data.slice(-120)));
    assert.ok(server.batchedReads >= 1, "MAIL, RCPT and DATA arrived together");
    assert.equal((await runtime.store.outbound.list()).length, 0);
    await server.close();
  });

  test("a refused RCPT in the batch fails alone; the others are delivered", async () => {
    const server = await startRawServer({ pipelining: true, refuse: "gone@pipe2.test" });
    await enqueue(["gone@pipe2.test", "here@pipe2.test"], "hello\r\n");
    assert.equal(await worker(server.port).drainDue(), 1);
    assert.equal(server.messages.length, 1);
    assert.deepEqual(server.messages[0]!.to, ["here@pipe2.test"]);
    assert.equal((await runtime.store.outbound.list()).length, 0, "done: one delivered, one bounced");
    await server.close();
  });

  test("every RCPT refused: no message is sent, the entry is finished (bounce), not retried", async () => {
    const server = await startRawServer({ pipelining: true, refuse: "gone@pipe3.test" });
    await enqueue(["gone@pipe3.test"], "hello\r\n");
    assert.equal(await worker(server.port).drainDue(), 1);
    assert.equal(server.messages.length, 0);
    assert.equal((await runtime.store.outbound.list()).length, 0);
    await server.close();
  });

  test("a server without PIPELINING is served one command at a time, several messages on one connection", async () => {
    const server = await startRawServer({ pipelining: false });
    for (let i = 0; i < 3; i++) await enqueue([`u${i}@plain.test`], `message ${i}\r\n`);
    assert.equal(await worker(server.port).drainDue(), 3);
    assert.equal(server.messages.length, 3);
    assert.equal(server.batchedReads, 0);
    await server.close();
  });

  test("dot-stuffing and the end of data (RFC 5321 §4.5.2)", () => {
    assert.equal(dataBlock(Buffer.from("a\r\n.b\r\n")).toString(), "a\r\n..b\r\n.\r\n");
    assert.equal(dataBlock(Buffer.from(".\r\nx")).toString(), "..\r\nx\r\n.\r\n");
    assert.equal(dataBlock(Buffer.from("")).toString(), ".\r\n");
    assert.equal(dataBlock(Buffer.from("a\r\n\r\n..\r\n")).toString(), "a\r\n\r\n...\r\n.\r\n");
  });

  test("MAIL and RCPT parameters only where the server offers the extension", () => {
    const e = {
      from: "s@x.test",
      to: ["r@y.test"],
      size: 123,
      eightBit: true,
      dsn: { ret: "HDRS" as const, envid: "id+1=", notify: "SUCCESS,FAILURE", orcpt: "r@y.test" },
    };
    assert.equal(
      envelopeCommands(["8BITMIME", "SIZE", "DSN"], e),
      "MAIL FROM:<s@x.test> BODY=8BITMIME SIZE=123 RET=HDRS ENVID=id+2B1+3D\r\n" +
        "RCPT TO:<r@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r@y.test\r\n",
    );
    assert.equal(envelopeCommands([], e), "MAIL FROM:<s@x.test>\r\nRCPT TO:<r@y.test>\r\n");
    assert.equal(encodeXtext("a b+é"), "a+20b+2B+C3+A9");
  });
});
