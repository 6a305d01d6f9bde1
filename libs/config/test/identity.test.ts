/** The identity settings (issue 23): defaults, and each bad value named at start. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../src/index.ts";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.variable}: ${p.message}`);
  }
}

test("defaults: no OAuth, + as the sub-address separator, public endpoints from MAIL_HOSTNAME, 10 s reload", () => {
  const c = loadConfig({ MAIL_HOSTNAME: "mx.example.com" });
  assert.equal(c.identity.oidc, undefined);
  assert.equal(c.identity.recipientDelimiter, "+");
  assert.deepEqual(c.identity.publicEndpoints, {
    host: "mx.example.com",
    imapsPort: 993,
    pop3sPort: 995,
    submissionsPort: 465,
    submissionPort: 587,
  });
  assert.deepEqual(c.identity.sniCertificates, []);
  assert.equal(c.identity.tlsReloadIntervalMs, 10_000);
  assert.equal(loadConfig({ RECIPIENT_DELIMITER: "" }).identity.recipientDelimiter, "", "empty turns it off");
});

test("OIDC and TLS_SNI_CERTS parse; a bad or incomplete value names its variable", () => {
  const c = loadConfig({
    OIDC_ISSUER: "https://id.example.com/realms/mail",
    OIDC_AUDIENCE: "aerogram",
    OIDC_SINGLE_USE_TOKENS: "true",
    TLS_CERT_FILE: "/c/tls.crt",
    TLS_KEY_FILE: "/c/tls.key",
    TLS_SNI_CERTS: "/a/tls.crt:/a/tls.key,/b/tls.crt:/b/tls.key",
    PUBLIC_MAIL_HOST: "imap.example.com",
  });
  assert.equal(c.identity.oidc?.issuer, "https://id.example.com/realms/mail");
  assert.equal(c.identity.oidc?.usernameClaim, "email");
  assert.equal(c.identity.oidc?.singleUseTokens, true);
  assert.deepEqual(c.identity.sniCertificates, [
    { certFile: "/a/tls.crt", keyFile: "/a/tls.key" },
    { certFile: "/b/tls.crt", keyFile: "/b/tls.key" },
  ]);
  assert.equal(c.identity.publicEndpoints.host, "imap.example.com");

  assert.match(problems({ OIDC_ISSUER: "https://id.example.com" }).join("\n"), /OIDC_AUDIENCE: required/);
  assert.match(problems({ OIDC_AUDIENCE: "x" }).join("\n"), /OIDC_ISSUER: required/);
  assert.match(
    problems({ OIDC_ISSUER: "id.example.com", OIDC_AUDIENCE: "x" }).join("\n"),
    /OIDC_ISSUER: expected an http/,
  );
  assert.match(problems({ RECIPIENT_DELIMITER: "@" }).join("\n"), /RECIPIENT_DELIMITER: expected separator/);
  assert.match(problems({ TLS_SNI_CERTS: "/a.crt:/a.key" }).join("\n"), /TLS_SNI_CERTS: needs TLS_CERT_FILE/);
  assert.match(
    problems({ TLS_CERT_FILE: "/c", TLS_KEY_FILE: "/k", TLS_SNI_CERTS: "/only-a-cert.crt" }).join("\n"),
    /TLS_SNI_CERTS: expected a comma list of certfile:keyfile pairs/,
  );
  assert.match(problems({ PUBLIC_IMAPS_PORT: "99999" }).join("\n"), /PUBLIC_IMAPS_PORT/);
  assert.match(problems({ TLS_RELOAD_INTERVAL_MS: "-1" }).join("\n"), /TLS_RELOAD_INTERVAL_MS/);
});
