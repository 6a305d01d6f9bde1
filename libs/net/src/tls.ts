/**
 * TLS for the mail listeners: one SecureContext from the configured PEM files,
 * used for implicit TLS (993, 995, 465) and for STARTTLS/STLS upgrades.
 */
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";

export function loadSecureContext(files: { certFile: string; keyFile: string }): SecureContext {
  return createSecureContext({
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    minVersion: "TLSv1.2",
  });
}

/**
 * Upgrades a plain connection after STARTTLS/STLS. Resolves once the handshake
 * completes; rejects (and destroys the socket) when it fails. The caller must
 * have stopped reading plaintext from `socket` and discarded anything buffered
 * after the command (RFC 3207 §4.2, RFC 9051 §6.2.1: no pipelining across it).
 */
export function upgradeToTls(
  socket: Socket,
  context: SecureContext,
  handshakeTimeoutMs = 30_000,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new Error("TLS handshake timed out"));
    }, handshakeTimeoutMs);
    tls.once("secure", () => {
      clearTimeout(timer);
      resolve(tls);
    });
    tls.once("error", (err) => {
      clearTimeout(timer);
      tls.destroy();
      reject(err);
    });
  });
}
