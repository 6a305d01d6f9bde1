/**
 * A local OIDC issuer for OAuth tests: an RSA signing key, its JWKS and the
 * discovery document served over HTTP on loopback (a free port), tokens signed
 * on demand. It can rotate its key, sign with a key it never published (a
 * forged token), and go down (every request 503) to test JWKS caching.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

export interface TokenOptions {
  /** Default: the issuer's audience. */
  audience?: string;
  /** Seconds from now; negative for an expired token. Default 600. */
  expiresIn?: number;
  /** Default: the issuer's URL. */
  issuer?: string;
  /** Sign with a key the JWKS does not hold. */
  forged?: boolean;
  jti?: string | null;
  extraClaims?: Record<string, unknown>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

export class TestOidcIssuer {
  /** Requests for the JWKS document answered (to check caching). */
  jwksRequests = 0;
  /** Every request, answered or refused while down. */
  requests = 0;
  down = false;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly audience: string,
    private keys: SigningKey[],
  ) {}

  static async start(audience = "aerogram"): Promise<TestOidcIssuer> {
    const key = await newKey();
    let issuer: TestOidcIssuer | undefined;
    const server = createServer((req, res) => {
      const self = issuer!;
      self.requests++;
      if (self.down) {
        res.writeHead(503).end();
        return;
      }
      if (req.url === "/.well-known/openid-configuration") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ issuer: self.url, jwks_uri: `${self.url}/jwks` }));
      } else if (req.url === "/jwks") {
        self.jwksRequests++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: self.keys.map((k) => k.jwk) }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    issuer = new TestOidcIssuer(server, `http://127.0.0.1:${port}`, audience, [key]);
    return issuer;
  }

  /** A new signing key; the old one leaves the JWKS (a completed rotation). */
  async rotate(): Promise<void> {
    this.keys = [await newKey()];
  }

  /** A signed JWT naming `email`. */
  async token(email: string, opts: TokenOptions = {}): Promise<string> {
    const key = opts.forged ? await newKey() : this.keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ email, ...opts.extraClaims })
      .setProtectedHeader({ alg: "RS256", kid: opts.forged ? this.keys[0]!.kid : key.kid, typ: "JWT" })
      .setIssuer(opts.issuer ?? this.url)
      .setAudience(opts.audience ?? this.audience)
      .setSubject(email)
      .setIssuedAt(now)
      .setExpirationTime(now + (opts.expiresIn ?? 600));
    if (opts.jti !== null) jwt.setJti(opts.jti ?? randomUUID());
    return jwt.sign(key.privateKey);
  }

  /** The environment a gateway needs to trust this issuer. */
  env(): Record<string, string> {
    return { OIDC_ISSUER: this.url, OIDC_AUDIENCE: this.audience };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** OAUTHBEARER's initial client response (RFC 7628 §3.1), base64. */
export function oauthBearerResponse(user: string, token: string, host = "localhost", port = 143): string {
  return Buffer.from(`n,a=${user},\x01host=${host}\x01port=${port}\x01auth=Bearer ${token}\x01\x01`).toString(
    "base64",
  );
}

/** XOAUTH2's initial client response, base64. */
export function xoauth2Response(user: string, token: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString("base64");
}
