/**
 * Password hashes brought from Dovecot/Postfix setups (issue 22), verified at
 * login and replaced by ours (scrypt, libs/store password.ts) on the next
 * successful login. Stored as Dovecot writes them: `{SCHEME}data`. Accepted:
 *
 *   {SHA512-CRYPT} {SHA256-CRYPT}  SHA-crypt ($6$ / $5$, optional rounds=),
 *                                  implemented from Drepper's specification
 *                                  ("Unix crypt using SHA-256 and SHA-512")
 *   {BLF-CRYPT}                    bcrypt ($2a$/$2b$/$2y$), bcryptjs
 *   {ARGON2ID} {ARGON2I}           PHC strings ($argon2id$v=19$…), hash-wasm
 *   {SSHA512} {SSHA256} {SSHA}     base64(H(password ‖ salt) ‖ salt)
 *   {SHA512} {SHA256} {SHA}        base64(H(password))
 *   {PLAIN} {CLEAR} {CLEARTEXT}    the password itself
 *   {CRYPT}                        whichever of $6$, $5$, $2?$ the data is
 *
 * A passwd-file line without a {SCHEME} is Dovecot's default, CRYPT
 * (normalizeImportedHash). Anything else is refused at import, so an account
 * never holds a hash nobody can check.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";
import { argon2Verify } from "hash-wasm";

/** Our own stored format (libs/store password.ts). */
const OURS = /^scrypt\$/;

const SCHEMES = [
  "SHA512-CRYPT",
  "SHA256-CRYPT",
  "BLF-CRYPT",
  "CRYPT",
  "ARGON2ID",
  "ARGON2I",
  "SSHA512",
  "SSHA256",
  "SSHA",
  "SHA512",
  "SHA256",
  "SHA",
  "PLAIN",
  "CLEAR",
  "CLEARTEXT",
] as const;
export type ImportedScheme = (typeof SCHEMES)[number];

/** `{SCHEME}data` split; undefined when the string has no known scheme prefix. */
export function splitSchemeHash(stored: string): { scheme: ImportedScheme; data: string } | undefined {
  const m = /^\{([A-Za-z0-9.-]+)\}/.exec(stored);
  if (!m) return undefined;
  const scheme = m[1]!.toUpperCase() as ImportedScheme;
  if (!SCHEMES.includes(scheme)) return undefined;
  return { scheme, data: stored.slice(m[0].length) };
}

const SHA_CRYPT = /^\$([56])\$(?:rounds=(\d+)\$)?([^$]{0,16})\$([./0-9A-Za-z]{43}|[./0-9A-Za-z]{86})$/;
const BCRYPT = /^\$2[aby]\$\d{2}\$[./0-9A-Za-z]{53}$/;
const ARGON2 = /^\$argon2(id|i)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const DIGEST_BYTES = { SSHA512: 64, SSHA256: 32, SSHA: 20, SHA512: 64, SHA256: 32, SHA: 20 } as const;
const DIGEST_ALG = {
  SSHA512: "sha512",
  SSHA256: "sha256",
  SSHA: "sha1",
  SHA512: "sha512",
  SHA256: "sha256",
  SHA: "sha1",
};

/**
 * A hash as given to `mailctl add --password-hash` or found in a passwd-file,
 * in the form it is stored: `{SCHEME}data`. Without a scheme, `defaultScheme`
 * (Dovecot's default_pass_scheme; CRYPT). Throws when the scheme is unknown or
 * the data is not of its shape.
 */
export function normalizeImportedHash(hash: string, defaultScheme: ImportedScheme = "CRYPT"): string {
  const h = hash.trim();
  const split = splitSchemeHash(h) ?? (h.startsWith("{") ? undefined : { scheme: defaultScheme, data: h });
  if (!split) throw new Error(`unsupported password scheme in ${JSON.stringify(h.slice(0, 24))}`);
  if (!wellFormed(split.scheme, split.data)) throw new Error(`malformed {${split.scheme}} hash`);
  return `{${split.scheme}}${split.data}`;
}

function wellFormed(scheme: ImportedScheme, data: string): boolean {
  switch (scheme) {
    case "SHA512-CRYPT":
      return SHA_CRYPT.test(data) && data.startsWith("$6$");
    case "SHA256-CRYPT":
      return SHA_CRYPT.test(data) && data.startsWith("$5$");
    case "BLF-CRYPT":
      return BCRYPT.test(data);
    case "CRYPT":
      return SHA_CRYPT.test(data) || BCRYPT.test(data);
    case "ARGON2ID":
    case "ARGON2I":
      return ARGON2.test(data) && data.startsWith(`$${scheme.toLowerCase()}$`);
    case "SSHA512":
    case "SSHA256":
    case "SSHA":
      return base64Bytes(data) > DIGEST_BYTES[scheme];
    case "SHA512":
    case "SHA256":
    case "SHA":
      return base64Bytes(data) === DIGEST_BYTES[scheme];
    default:
      return true;
  }
}

function base64Bytes(s: string): number {
  return /^[A-Za-z0-9+/]+=*$/.test(s) ? Buffer.from(s, "base64").length : -1;
}

/** Whether the stored hash is of a scheme we replace at the next login. */
export function needsRehash(stored: string): boolean {
  return !OURS.test(stored);
}

/** Verifies a password against an imported `{SCHEME}data` hash (false for our own format or unknown ones). */
export async function verifyImportedHash(password: string, stored: string): Promise<boolean> {
  const split = splitSchemeHash(stored);
  if (!split || !wellFormed(split.scheme, split.data)) return false;
  const { scheme, data } = split;
  switch (scheme) {
    case "SHA512-CRYPT":
    case "SHA256-CRYPT":
      return sameString(shaCryptOf(password, data), data);
    case "BLF-CRYPT":
      return bcrypt.compare(password, data);
    case "CRYPT":
      return BCRYPT.test(data)
        ? bcrypt.compare(password, data)
        : sameString(shaCryptOf(password, data), data);
    case "ARGON2ID":
    case "ARGON2I":
      return argon2Verify({ password, hash: data });
    case "SSHA512":
    case "SSHA256":
    case "SSHA": {
      const raw = Buffer.from(data, "base64");
      const n = DIGEST_BYTES[scheme];
      const salt = raw.subarray(n);
      const digest = createHash(DIGEST_ALG[scheme])
        .update(Buffer.from(password, "utf8"))
        .update(salt)
        .digest();
      return timingSafeEqual(digest, raw.subarray(0, n));
    }
    case "SHA512":
    case "SHA256":
    case "SHA": {
      const digest = createHash(DIGEST_ALG[scheme]).update(password, "utf8").digest();
      return timingSafeEqual(digest, Buffer.from(data, "base64"));
    }
    case "PLAIN":
    case "CLEAR":
    case "CLEARTEXT":
      return sameString(password, data);
  }
}

function sameString(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y) && a === b;
}

// ---- SHA-crypt (Drepper, "Unix crypt using SHA-256 and SHA-512", 2008) ----

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;

/** The byte triples of the final encoding, per the specification's tables. */
const ORDER_256: [number, number, number, number][] = [
  [0, 10, 20, 4],
  [21, 1, 11, 4],
  [12, 22, 2, 4],
  [3, 13, 23, 4],
  [24, 4, 14, 4],
  [15, 25, 5, 4],
  [6, 16, 26, 4],
  [27, 7, 17, 4],
  [18, 28, 8, 4],
  [9, 19, 29, 4],
  [-1, 31, 30, 3],
];
const ORDER_512: [number, number, number, number][] = [
  [0, 21, 42, 4],
  [22, 43, 1, 4],
  [44, 2, 23, 4],
  [3, 24, 45, 4],
  [25, 46, 4, 4],
  [47, 5, 26, 4],
  [6, 27, 48, 4],
  [28, 49, 7, 4],
  [50, 8, 29, 4],
  [9, 30, 51, 4],
  [31, 52, 10, 4],
  [53, 11, 32, 4],
  [12, 33, 54, 4],
  [34, 55, 13, 4],
  [56, 14, 35, 4],
  [15, 36, 57, 4],
  [37, 58, 16, 4],
  [59, 17, 38, 4],
  [18, 39, 60, 4],
  [40, 61, 19, 4],
  [62, 20, 41, 4],
  [-1, -1, 63, 2],
];

/** Repeats `block` to exactly `length` bytes. */
function stretch(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

/**
 * The full crypt string ("$6$rounds=N$salt$hash" or "$6$salt$hash") of a
 * password with the salt and rounds of `setting` (an existing hash).
 */
export function shaCryptOf(password: string, setting: string): string {
  const m = /^\$([56])\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new Error("not a SHA-crypt setting");
  const alg = m[1] === "5" ? "sha256" : "sha512";
  const customRounds = m[2] !== undefined;
  const rounds = customRounds ? Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Number(m[2]))) : ROUNDS_DEFAULT;
  const saltText = m[3]!.slice(0, 16);
  const P = Buffer.from(password, "utf8");
  const S = Buffer.from(saltText, "utf8");
  const H = (...parts: Buffer[]) => {
    const h = createHash(alg);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const B = H(P, S, P);
  const a = createHash(alg).update(P).update(S).update(stretch(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  const dp = createHash(alg);
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pp = stretch(dp.digest(), P.length);
  const ds = createHash(alg);
  for (let i = 0; i < 16 + A[0]!; i++) ds.update(S);
  const Sp = stretch(ds.digest(), S.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const c = createHash(alg);
    c.update(i & 1 ? Pp : C);
    if (i % 3 !== 0) c.update(Sp);
    if (i % 7 !== 0) c.update(Pp);
    c.update(i & 1 ? C : Pp);
    C = c.digest();
  }
  let encoded = "";
  for (const [i2, i1, i0, n] of alg === "sha256" ? ORDER_256 : ORDER_512) {
    let w = ((i2 < 0 ? 0 : C[i2]!) << 16) | ((i1 < 0 ? 0 : C[i1]!) << 8) | C[i0]!;
    for (let k = 0; k < n; k++) {
      encoded += ITOA64[w & 0x3f];
      w >>= 6;
    }
  }
  return `$${m[1]}$${customRounds ? `rounds=${rounds}$` : ""}${saltText}$${encoded}`;
}
