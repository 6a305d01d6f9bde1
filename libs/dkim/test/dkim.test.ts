/**
 * DKIM keys: DNS record shapes (RFC 6376 §3.6.1, RFC 8463 §4.2), encryption
 * at rest, and signatures that verify against the published record (mailauth's
 * verifier with a stub resolver serving that record) for both algorithms.
 */
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { test } from "node:test";
import type { DkimKeyRow } from "@aerogram/store";
import { dkimVerify } from "mailauth";
import {
  DkimSigner,
  decryptKey,
  dnsRecord,
  encryptKey,
  generateDkimKey,
  KeyDecryptionError,
  publicKeyOf,
  zoneLine,
} from "../src/index.ts";

const SECRET = "unit-test-secret-0123456789";

test("key encryption: round trip; a wrong secret or a damaged row is refused", () => {
  const sealed = encryptKey(SECRET, "-----BEGIN PRIVATE KEY-----\nabc\n");
  assert.match(sealed, /^v1:/);
  assert.doesNotMatch(sealed, /PRIVATE KEY/);
  assert.equal(decryptKey(SECRET, sealed), "-----BEGIN PRIVATE KEY-----\nabc\n");
  assert.throws(() => decryptKey("another-secret-0123456", sealed), KeyDecryptionError);
  assert.throws(
    () =>
      decryptKey(
        SECRET,
        sealed.replace(/.$/, (c) => (c === "A" ? "B" : "A")),
      ),
    KeyDecryptionError,
  );
});

test("DNS records: Ed25519 p= is the bare 32-octet key, RSA p= the SubjectPublicKeyInfo; long values split", () => {
  const ed = generateDkimKey("ed25519");
  assert.equal(Buffer.from(ed.publicKey, "base64").length, 32);
  assert.equal(publicKeyOf("ed25519", ed.privateKeyPem), ed.publicKey);
  const rsa = generateDkimKey("rsa");
  const spki = createPublicKey({ key: Buffer.from(rsa.publicKey, "base64"), format: "der", type: "spki" });
  assert.equal(spki.asymmetricKeyDetails?.modulusLength, 2048);
  const record = dnsRecord({
    domain: "example.com",
    selector: "s1",
    algorithm: "rsa",
    publicKey: rsa.publicKey,
  });
  assert.equal(record.name, "s1._domainkey.example.com");
  assert.match(record.value, /^v=DKIM1; k=rsa; p=/);
  const line = zoneLine(record);
  assert.ok(line.match(/"[^"]{1,255}"/g)!.length >= 2, "split into 255-octet strings");
});

for (const algorithm of ["ed25519", "rsa"] as const) {
  test(`${algorithm}: the signature verifies against the published key, and not against another`, async () => {
    const key = generateDkimKey(algorithm);
    const row: DkimKeyRow = {
      domain: "example.com",
      selector: "sel",
      algorithm,
      privateKeyEncrypted: encryptKey(SECRET, key.privateKeyPem),
      publicKey: key.publicKey,
      active: true,
      createdAt: new Date(),
    };
    const signer = new DkimSigner({
      store: {
        dkimKeys: { signingKey: async (d: string) => (d === "example.com" ? row : undefined) },
      } as never,
      secret: SECRET,
    });
    const message = Buffer.from("From: a@example.com\r\nTo: b@example.net\r\nSubject: s\r\n\r\nbody\r\n");
    const signed = await signer.sign(message, "example.com");
    assert.equal(signed.signed, true);
    assert.deepEqual(await signer.sign(message, "other.example"), { signed: false, reason: "no_key" });
    const full = Buffer.concat([Buffer.from(signed.signed ? signed.header : ""), message]);
    const published = (value: string) => async (name: string) => {
      if (name !== "sel._domainkey.example.com") throw Object.assign(new Error("nx"), { code: "ENOTFOUND" });
      return [[value]];
    };
    const ok = await dkimVerify(full, { resolver: published(dnsRecord(row).value) as never });
    assert.equal(ok.results[0]?.status.result, "pass");
    const other = generateDkimKey(algorithm);
    const bad = await dkimVerify(full, {
      resolver: published(dnsRecord({ ...row, publicKey: other.publicKey }).value) as never,
    });
    assert.equal(bad.results[0]?.status.result, "fail");
  });
}

test("relaxed canonicalization: awkward messages verify with mailauth (both algorithms), an altered one does not", async () => {
  const awkward: [string, string][] = [
    ["bare LF line ends", "From: a@example.com\nTo: b@example.net\nSubject: lf\n\nline one\nline two\n"],
    [
      "whitespace runs, trailing whitespace, folded and repeated headers",
      "From:   a@example.com  \r\nTo: b@example.net\r\nTo:\tc@example.net\r\nSubject: a\r\n  folded\t\t subject \r\nX-Other: not signed\r\n\r\n  lead   and trail \t \r\n\tx\t\ty\r\n",
    ],
    ["an empty body", "From: a@example.com\r\nSubject: empty\r\n\r\n"],
    ["no final line end", "From: a@example.com\r\nSubject: no end\r\n\r\nlast line"],
    ["empty lines at the end", "From: a@example.com\r\nSubject: tail\r\n\r\nbody\r\n\r\n \r\n\r\n"],
    ["empty lines in the middle", "From: a@example.com\r\nSubject: gaps\r\n\r\na\r\n\r\n\r\nb\r\n"],
    [
      "8-bit header and body octets",
      "From: =?utf-8?q?J=C3=BCrgen?= <a@example.com>\r\nSubject: Grüße ünd mehr\r\n\r\nÄpfel, Öl, Übermut\r\n",
    ],
  ];
  const published = (row: DkimKeyRow) => async (name: string) => {
    if (name !== "sel._domainkey.example.com") throw Object.assign(new Error("nx"), { code: "ENOTFOUND" });
    return [[dnsRecord(row).value]];
  };
  for (const algorithm of ["ed25519", "rsa"] as const) {
    const key = generateDkimKey(algorithm);
    const row: DkimKeyRow = {
      domain: "example.com",
      selector: "sel",
      algorithm,
      privateKeyEncrypted: encryptKey(SECRET, key.privateKeyPem),
      publicKey: key.publicKey,
      active: true,
      createdAt: new Date(),
    };
    const signer = new DkimSigner({
      store: { dkimKeys: { signingKey: async () => row } } as never,
      secret: SECRET,
    });
    for (const [what, text] of awkward) {
      const message = Buffer.from(text, "utf8");
      const signed = await signer.sign(message, "example.com");
      assert.ok(signed.signed, `${algorithm}, ${what}: signed`);
      assert.match(signed.header, /^DKIM-Signature: v=1; a=[^\r\n]*\r\n( [^\r\n]*\r\n)+$/);
      const full = Buffer.concat([Buffer.from(signed.header, "latin1"), message]);
      const verdict = await dkimVerify(full, { resolver: published(row) as never });
      assert.equal(verdict.results[0]?.status.result, "pass", `${algorithm}, ${what}`);
      // A signed header changed: the signature fails; a body changed: the body hash does not match.
      const header = Buffer.from(full.toString("latin1").replace("Subject: ", "Subject: X"), "latin1");
      const headerVerdict = await dkimVerify(header, { resolver: published(row) as never });
      assert.equal(headerVerdict.results[0]?.status.result, "fail", `${algorithm}, ${what}: header altered`);
      const body = Buffer.concat([full, Buffer.from("one more line\r\n")]);
      const bodyVerdict = await dkimVerify(body, { resolver: published(row) as never });
      assert.notEqual(bodyVerdict.results[0]?.status.result, "pass", `${algorithm}, ${what}: body altered`);
    }
  }
});
