/**
 * Moving users in from Dovecot (issue 22): a passwd-file whose hashes
 * Dovecot's own `doveadm pw` produced (run now, so the test checks against
 * the reference implementation, not against our own idea of the format) is
 * imported with `mailctl import-accounts`; every user then logs in over an
 * IMAP socket with the password, a wrong one is refused, and after the first
 * good login the stored hash is ours (scrypt), which keeps working.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ImapServer } from "@aerogram/imap";
import type { Runtime } from "@aerogram/runtime";
import { requireServer, startTestBackend, type TestBackend, tempDir } from "@aerogram/testkit";
import { runLifecycleCommand } from "../src/lifecycle-commands.ts";

const DOVEADM = "/usr/bin/doveadm";
let backend: TestBackend<"fs">;
let rt: Runtime;
let server: ImapServer;
let port: number;
let dir: { path: string; remove(): Promise<void> };

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  backend = await startTestBackend({ blobs: "fs" });
  // One wrong password per user from one address: more than the default free failures per IP.
  rt = await backend.runtime("admin-passwords-test", {
    IMAP_PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    AUTH_FREE_FAILURES: "100",
  });
  server = new ImapServer(rt);
  port = Number(/:(\d+)/.exec((await server.listen({ port: 0, host: "127.0.0.1" }))[0]!)![1]);
  dir = await tempDir("aerogram-passwd-");
});
after(async () => {
  server?.close();
  await rt?.close();
  await backend?.stop();
  await dir?.remove();
});

/** LOGIN over a fresh IMAP connection; returns the tagged line. */
function imapLogin(user: string, pass: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    let buf = "";
    let sent = false;
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      if (!sent && buf.includes("* OK")) {
        sent = true;
        const q = (x: string) => `"${x.replace(/["\\]/g, "\\$&")}"`;
        s.write(`a LOGIN ${q(user)} ${q(pass)}\r\n`);
      }
      const m = /^a (OK|NO|BAD)[^\r\n]*/m.exec(buf);
      if (m) {
        s.end("b LOGOUT\r\n");
        resolve(m[0]);
      }
    });
    s.on("error", reject);
    setTimeout(() => reject(new Error(`no LOGIN answer: ${buf}`)), 20_000).unref();
  });
}

const doveadmPw = (scheme: string, password: string) =>
  execFileSync(DOVEADM, ["pw", "-s", scheme, "-p", password]).toString().trim();

test("a Dovecot passwd-file's users log in over IMAP and are rehashed to scrypt", async (t) => {
  if (!backend) return t.skip("no postgres");
  if (!existsSync(DOVEADM)) return t.skip("doveadm not installed");
  const users = [
    { user: "sha512@old.test", scheme: "SHA512-CRYPT", password: "correct horse" },
    { user: "sha256@old.test", scheme: "SHA256-CRYPT", password: "battery:staple" },
    { user: "blf@old.test", scheme: "BLF-CRYPT", password: "pässwörd" },
    { user: "argon@old.test", scheme: "ARGON2ID", password: "argon-secret" },
    { user: "ssha@old.test", scheme: "SSHA512", password: "salted" },
    { user: "plain", scheme: "PLAIN", password: "in the clear" }, // no domain: --domain supplies it
  ];
  const lines = users.map((u) => `${u.user}:${doveadmPw(u.scheme, u.password)}:1000:1000::/home/${u.user}::`);
  // A bare crypt string (Dovecot's default scheme, CRYPT), a comment, and two bad lines.
  lines.push(`crypt@old.test:${doveadmPw("SHA512-CRYPT", "bare crypt").replace(/^\{[^}]+\}/, "")}`);
  lines.push("# a comment", "nohash@old.test::1000", "weird@old.test:{NTLM}0123456789abcdef");
  const file = join(dir.path, "passwd");
  await writeFile(file, `${lines.join("\n")}\n`);

  const r = await runLifecycleCommand(rt, ["import-accounts", file, "--domain", "old.test"]);
  assert.match(r.output, /^7 accounts created, 0 updated, 2 lines refused/);
  assert.match(r.output, /line \d+: no user or no password field/);
  assert.match(r.output, /line \d+: unsupported password scheme/);
  assert.equal(r.code, 1);

  const all = [
    ...users.map((u) => ({
      user: u.user.includes("@") ? u.user : `${u.user}@old.test`,
      password: u.password,
    })),
    { user: "crypt@old.test", password: "bare crypt" },
  ];
  for (const u of all) {
    const a = (await rt.store.accounts.byAddress(u.user))!;
    const before = (await rt.store.accounts.passwordHash(a.id))!;
    assert.match(before, /^\{[A-Z0-9-]+\}/, `${u.user} holds the imported hash`);
    assert.match(
      await imapLogin(u.user, `${u.password}x`),
      /^a NO/,
      `${u.user}: a wrong password is refused`,
    );
    assert.equal((await rt.store.accounts.passwordHash(a.id))!, before, "a failed login changes nothing");
    assert.match(await imapLogin(u.user, u.password), /^a OK/, `${u.user} logs in`);
    let after = before;
    for (let i = 0; i < 100 && after === before; i++) {
      await new Promise((res) => setTimeout(res, 20));
      after = (await rt.store.accounts.passwordHash(a.id))!;
    }
    assert.match(after, /^scrypt\$/, `${u.user} rehashed to ours after the good login`);
  }
  // Logins keep working on the new hash (past the authenticator's cache: a new server).
  const fresh = new ImapServer(rt);
  const freshPort = Number(/:(\d+)/.exec((await fresh.listen({ port: 0, host: "127.0.0.1" }))[0]!)![1]);
  const old = port;
  port = freshPort;
  try {
    for (const u of all) assert.match(await imapLogin(u.user, u.password), /^a OK/);
  } finally {
    port = old;
    fresh.close();
  }

  // mailctl add --password-hash, and a hash of an unknown shape refused.
  const added = await runLifecycleCommand(rt, [
    "add",
    "one@old.test",
    "--password-hash",
    doveadmPw("BLF-CRYPT", "one pw"),
  ]);
  assert.match(added.output, /created one@old.test with a BLF-CRYPT password hash/);
  assert.match(await imapLogin("one@old.test", "one pw"), /^a OK/);
  const refused = await runLifecycleCommand(rt, [
    "add",
    "two@old.test",
    "--password-hash",
    "{SHA512-CRYPT}nonsense",
  ]);
  assert.equal(refused.code, 1);
  assert.equal(await rt.store.accounts.byAddress("two@old.test"), undefined);
});
