/**
 * Export and import jobs through the admin API over real HTTP (issue 22):
 * started with POST, watched with GET until done, with progress and a
 * summary; a bad request is a 400, an unknown job a 404, no token a 401.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Delivery } from "@aerogram/delivery";
import { OpsServer } from "@aerogram/observability";
import type { Runtime } from "@aerogram/runtime";
import { requireServer, startTestBackend, type TestBackend, tempDir } from "@aerogram/testkit";
import { createAdminApi, lifecycleJobRoutes, StoreAdmin } from "../src/index.ts";

const TOKEN = "jobs-test-token-0123456789";
let backend: TestBackend<"fs">;
let rt: Runtime;
let server: OpsServer;
let base: string;
let dir: { path: string; remove(): Promise<void> };

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  backend = await startTestBackend({ blobs: "fs" });
  rt = await backend.runtime("admin-jobs-test");
  server = new OpsServer({
    registry: rt.metrics,
    checks: [],
    fallback: createAdminApi({
      ops: new StoreAdmin(rt.store),
      token: TOKEN,
      extraRoutes: lifecycleJobRoutes(rt),
    }),
  });
  base = `http://127.0.0.1:${(await server.listen(0, "127.0.0.1")).port}/api/v1`;
  dir = await tempDir("aerogram-jobs-");
});
after(async () => {
  await server?.close();
  await rt?.close();
  await backend?.stop();
  await dir?.remove();
});

const call = async (method: string, path: string, body?: unknown, token = TOKEN) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

async function until(id: string) {
  for (let i = 0; i < 500; i++) {
    const r = await call("GET", `/jobs/${id}`);
    if (r.body.state !== "running") return r.body;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error("job did not finish");
}

test("an export job and an import job over HTTP, watched to the end", async (t) => {
  if (!backend) return t.skip("no postgres");
  const a = await rt.store.accounts.create({ address: "big@example.com", password: "pw" });
  const inbox = (await rt.store.mailboxes.byName(a.id, "INBOX"))!.id;
  const d = new Delivery(rt);
  for (let i = 0; i < 30; i++)
    await d.deliver(Buffer.from(`Subject: n${i}\r\n\r\nbody ${i}\r\n`), [{ mailboxId: inbox }]);
  await rt.store.accounts.create({ address: "copy@example.com", password: "pw" });
  const file = join(dir.path, "big.mbox");

  const started = await call("POST", "/jobs/export", {
    address: "big@example.com",
    path: file,
    format: "mbox",
  });
  assert.equal(started.status, 202);
  assert.equal(started.body.state, "running");
  const exported = await until(started.body.id as string);
  assert.equal(exported.state, "done", JSON.stringify(exported));
  assert.equal((exported.summary as { exported: number }).exported, 30);
  assert.deepEqual(exported.progress, { mailbox: "INBOX", done: 30, total: 30 });
  assert.equal(((await readFile(file, "latin1")).match(/^From /gm) ?? []).length, 30);

  const imp = await call("POST", "/jobs/import", { address: "copy@example.com", path: file });
  const imported = await until(imp.body.id as string);
  assert.equal((imported.summary as { imported: number }).imported, 30);
  const list = await call("GET", "/jobs");
  assert.equal((list.body.jobs as unknown[]).length, 2);

  // A failing job reports its error.
  const bad = await until(
    (await call("POST", "/jobs/import", { address: "nobody@example.com", path: file })).body.id as string,
  );
  assert.deepEqual([bad.state, bad.error], ["failed", "no account nobody@example.com"]);
  assert.equal(
    (await call("POST", "/jobs/export", { address: "big@example.com", path: file, format: "zip" })).status,
    400,
  );
  assert.equal((await call("GET", "/jobs/nope")).status, 404);
  assert.equal((await call("GET", "/jobs", undefined, "wrong-token")).status, 401);
});
