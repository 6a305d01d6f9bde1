/**
 * Blob references (issue 22) against real Postgres and s3rver, with every S3
 * request going through a recording proxy: expunges, account deletion and
 * failed or duplicate deliveries release blobs; the reclaimer deletes them
 * after the grace period, keeps shared content, and never lists the bucket.
 */
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { S3BlobStore } from "@aerogram/blobstore";
import { createEventBus } from "@aerogram/events";
import { BlobReclaimedError, Store } from "@aerogram/store";
import { createTestDatabase, requireServer, startS3 } from "@aerogram/testkit";
import { BlobReclaimer, Delivery } from "../src/index.ts";
import { settle } from "./settle.ts";

const message = (n: string) =>
  Buffer.from(
    `From: a@remote.test\r\nTo: x@example.com\r\nSubject: ${n}\r\nMessage-ID: <${n}@remote.test>\r\n\r\nbody ${n}\r\n`,
  );

/** An HTTP proxy in front of s3rver that records every request line. */
async function recordingProxy(
  target: string,
): Promise<{ endpoint: string; requests: string[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A ListObjects(V2) request: a GET of the bucket itself (no key), e.g. `/bucket?list-type=2`. */
const isListing = (line: string, bucket: string) =>
  new RegExp(`^GET /${bucket}/?(\\?|$)`).test(line) || /[?&]list-type=/.test(line);

async function setup(t: import("node:test").TestContext) {
  const db = await createTestDatabase();
  const s3 = await startS3();
  const proxy = await recordingProxy(s3.endpoint);
  const store = await Store.open({ url: db.url, poolMax: 6 });
  const blobs = new S3BlobStore({
    bucket: s3.bucket,
    region: s3.region,
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  const events = await createEventBus({ kind: "memory", subjectPrefix: "t" });
  t.after(async () => {
    await events.close();
    await blobs.close();
    await store.close();
    await proxy.close();
    await s3.stop();
    await db.drop();
  });
  const delivery = new Delivery({ store, blobs, events });
  // Grace 0 makes every release due at once (the races below); tombstones still live an hour.
  const reclaimer = (graceMs: number) =>
    new BlobReclaimer({ store, blobs }, { graceMs, tombstoneMs: 3600_000, intervalMs: 60_000, batch: 50 });
  const account = async (address: string) => {
    const a = await store.accounts.create({ address, password: "pw" });
    return { id: a.id, inbox: (await store.mailboxes.byName(a.id, "INBOX"))!.id };
  };
  return { store, blobs, delivery, reclaimer, account, proxy, bucket: s3.bucket };
}

test("expunge, account deletion and unused deliveries free their blobs; shared content is kept; no listing", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store, blobs, delivery, reclaimer, account, proxy, bucket } = await setup(t);
  const x = await account("x@example.com");
  const y = await account("y@example.com");

  // One blob shared by two mailboxes.
  const shared = await delivery.deliver(message("shared"), [{ mailboxId: x.inbox }, { mailboxId: y.inbox }]);
  await store.messages.expunge(x.inbox, "all");
  assert.equal((await store.blobReclaim.entry(shared.key))?.state, "pending", "the expunge released it");
  // Within the grace period nothing is even looked at.
  assert.equal((await reclaimer(3600_000).drain()).deleted, 0);
  assert.ok(await blobs.stat(shared.key));
  // Past it: y's copy still references the blob, so it is kept and the entry dropped.
  const kept = await settle(reclaimer(0), store);
  assert.deepEqual([kept.deleted, kept.kept], [0, 1]);
  assert.ok(await blobs.stat(shared.key), "shared content survives");
  assert.equal(await store.blobReclaim.entry(shared.key), undefined);

  // The last reference goes: deleted after the grace period, a tombstone left.
  await store.messages.expunge(y.inbox, "all");
  const freed = await settle(reclaimer(0), store);
  assert.equal(freed.deleted, 1);
  assert.equal(freed.bytes, shared.size);
  assert.equal(await blobs.stat(shared.key), undefined, "the expunged message's blob is gone");

  // Account deletion (the cascade through mailboxes and messages) releases every blob.
  const z = await account("z@example.com");
  const zs = [];
  for (const n of ["z1", "z2", "z3"]) zs.push(await delivery.deliver(message(n), [{ mailboxId: z.inbox }]));
  await store.accounts.delete(z.id);
  for (const b of zs) assert.equal((await store.blobReclaim.entry(b.key))?.state, "pending");
  assert.equal((await settle(reclaimer(0), store)).deleted, 3);
  for (const b of zs) assert.equal(await blobs.stat(b.key), undefined);

  // A failed delivery (its mailbox gone) releases what it stored.
  const orphan = await delivery.storeBlob(message("orphan"));
  await assert.rejects(delivery.commit(orphan, [{ mailboxId: 999_999 }]));
  await waitFor(async () => (await store.blobReclaim.entry(orphan.key)) !== undefined);
  // A duplicate delivery releases too, but its blob is the first delivery's: kept.
  const dedupe = { key: "smtp:dup-1", windowSeconds: 3600 };
  const first = await delivery.storeBlob(message("dup"));
  assert.equal((await delivery.commitOnce(first, [{ mailboxId: x.inbox }], dedupe)).duplicate, false);
  const again = await delivery.storeBlob(message("dup"));
  assert.equal((await delivery.commitOnce(again, [{ mailboxId: x.inbox }], dedupe)).duplicate, true);
  await waitFor(async () => (await store.blobReclaim.entry(again.key)) !== undefined);
  const after = await settle(reclaimer(0), store);
  assert.deepEqual([after.deleted, after.kept], [1, 1]);
  assert.equal(await blobs.stat(orphan.key), undefined);
  assert.ok(await blobs.stat(first.key));

  const deletes = proxy.requests.filter((r) => r.startsWith("DELETE "));
  assert.equal(deletes.length, 5, `one DELETE per freed blob: ${deletes.join(", ")}`);
  assert.deepEqual(
    proxy.requests.filter((r) => isListing(r, bucket)),
    [],
    "the bucket is never listed",
  );
});

test("a delivery whose content the reclaimer deleted after storeBlob never commits a dangling row", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store, blobs, delivery, reclaimer, account } = await setup(t);
  const x = await account("x@example.com");
  const y = await account("y@example.com");
  const old = await delivery.deliver(message("same"), [{ mailboxId: x.inbox }]);
  await store.messages.expunge(x.inbox, "all");

  // The new delivery stores identical content (a no-op: the object exists)...
  const stored = await delivery.storeBlob(message("same"));
  assert.equal(stored.key, old.key);
  // ...and the reclaimer deletes it before the delivery commits (its grace period is 0 here).
  assert.equal((await settle(reclaimer(0), store)).deleted, 1);
  await assert.rejects(delivery.commit(stored, [{ mailboxId: y.inbox }]), BlobReclaimedError);
  assert.equal((await store.mailboxes.byId(y.inbox))?.messageCount, 0, "no row without its blob");

  // Delivered again (the content stored again), it commits: the tombstone is cleared.
  const retried = await delivery.deliver(message("same"), [{ mailboxId: y.inbox }]);
  assert.equal(retried.appended[0]?.uids.length, 1);
  assert.ok(await blobs.stat(retried.key));
  assert.equal(await store.blobReclaim.entry(retried.key), undefined);

  // A reclaimer holding the entry while a commit arrives: the commit waits for it, then refuses.
  await store.messages.expunge(y.inbox, "all");
  const again = await delivery.storeBlob(message("same"));
  let commit: Promise<unknown> | undefined;
  const slow = new BlobReclaimer(
    {
      store,
      blobs: {
        delete: async (key) => {
          commit = delivery.commit(again, [{ mailboxId: x.inbox }]).then(
            () => "committed",
            (e) => e,
          );
          await new Promise((r) => setTimeout(r, 300));
          await blobs.delete(key);
        },
      },
    },
    { graceMs: 0, tombstoneMs: 3600_000, intervalMs: 60_000, batch: 10 },
  );
  assert.equal((await settle(slow, store)).deleted, 1);
  assert.ok((await commit) instanceof BlobReclaimedError, "the waiting commit saw the tombstone");
  assert.equal((await store.mailboxes.byId(x.inbox))?.messageCount, 0);
});

test("concurrency: identical content delivered while the old copy is expunged and reclaimed", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store, blobs, delivery, reclaimer, account } = await setup(t);
  const x = await account("x@example.com");
  const y = await account("y@example.com");
  const rounds = 12;
  let reclaimedRaces = 0;
  for (let round = 0; round < rounds; round++) {
    const bytes = message(`round-${round}`);
    await delivery.deliver(bytes, [{ mailboxId: x.inbox }]);
    // Expunge the old copy, reclaim with no grace period, and deliver the same content, all at once.
    const deliverSame = async () => {
      for (;;) {
        try {
          return await delivery.deliver(bytes, [{ mailboxId: y.inbox }]);
        } catch (err) {
          if (!(err instanceof BlobReclaimedError)) throw err;
          reclaimedRaces++; // a temporary failure: the sender retries
        }
      }
    };
    const r = reclaimer(0);
    await Promise.all([
      store.messages.expunge(x.inbox, "all"),
      deliverSame(),
      (async () => {
        for (let i = 0; i < 3; i++) await r.drain();
      })(),
    ]);
    await r.drain();
  }
  // Every message row's blob exists: sharing never lost content.
  const { rows } = await store.pool.query<{ blob_key: string }>("SELECT blob_key FROM messages");
  assert.equal(rows.length, rounds);
  for (const row of rows)
    assert.ok(await blobs.stat(row.blob_key), `blob ${row.blob_key} of a live row exists`);
  t.diagnostic(`deliveries refused and retried after a reclaim race: ${reclaimedRaces}`);
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("condition not reached");
}

test("content stored again after its blob was reclaimed: the tombstone goes, IMAP-style appends commit", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store, blobs, delivery, reclaimer, account } = await setup(t);
  const x = await account("x@example.com");
  const first = await delivery.deliver(message("again"), [{ mailboxId: x.inbox }]);
  await store.messages.expunge(x.inbox, "all");
  assert.equal((await settle(reclaimer(0), store)).deleted, 1);
  assert.equal((await store.blobReclaim.entry(first.key))?.state, "deleted");
  // A writer that commits through the store directly (IMAP APPEND, the outbound queue) after storeBlob.
  const again = await delivery.storeBlob(message("again"));
  assert.equal(again.key, first.key);
  assert.equal(
    await store.blobReclaim.entry(again.key),
    undefined,
    "storing the content again cleared the tombstone",
  );
  const [appended] = await store.messages.append([
    { mailboxId: x.inbox, messages: [{ blobKey: again.key, size: again.size }] },
  ]);
  assert.equal(appended?.uids.length, 1);
  assert.ok(await blobs.stat(again.key));
});

test("tombstones at-commit (SMTP-in): storing reclaimed content leaves the tombstone; commitOnce clears it and commits", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store, blobs, delivery, reclaimer, account } = await setup(t);
  const x = await account("x@example.com");
  const first = await delivery.deliver(message("later"), [{ mailboxId: x.inbox }]);
  await store.messages.expunge(x.inbox, "all");
  assert.equal((await settle(reclaimer(0), store)).deleted, 1);
  // No round trip at storing: the tombstone is still there...
  const again = await delivery.storeBlob(message("later"), { tombstones: "at-commit" });
  assert.equal(again.key, first.key);
  assert.equal((await store.blobReclaim.entry(again.key))?.state, "deleted");
  // ...and the commit meets it, finds the object stored again, clears it and commits.
  const result = await delivery.commitOnce(again, [{ mailboxId: x.inbox }], {
    key: "late",
    windowSeconds: 60,
  });
  assert.equal(result.duplicate, false);
  assert.equal(await store.blobReclaim.entry(again.key), undefined);
  assert.equal((await store.mailboxes.byId(x.inbox))?.messageCount, 1);
  assert.ok(await blobs.stat(again.key));
});
