/**
 * TLS for the mail listeners: implicit TLS (993, 995, 465) and STARTTLS/STLS
 * upgrades.
 *
 * `TlsCertificates` holds a default certificate (TLS_CERT_FILE/TLS_KEY_FILE)
 * and any number of extra ones chosen by SNI (TLS_SNI_CERTS): each serves the
 * DNS names of its subjectAltName (or its CN without one), `*.example.com`
 * wildcards one label deep. Every handshake asks for the current context, so
 * after a reload new connections get the new certificate while established
 * sessions keep the one they negotiated.
 *
 * Reload: the files are checked every `reloadIntervalMs` (size, mtime, inode:
 * cert-manager replaces Secret files through a symlink swap, which fs.watch
 * misses). A pair that fails to load — a file half-written mid-rotation, a key
 * that doesn't match its certificate — is reported and the old context stays;
 * the next check tries again.
 */

import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

/** What a TLS server socket needs: the default context and, with several certificates, the SNI callback. */
export type TlsSource = SecureContext | TlsCertificates;

interface Loaded {
  files: CertificateFiles;
  /** size:mtime:ino of both files when loaded. */
  stamp: string;
  /** The files' stamp when a reload last failed: not retried (nor reported again) until they change. */
  failedStamp?: string;
  context: SecureContext;
  names: string[];
  notAfter: Date;
}

export interface CertificateInfo {
  certFile: string;
  names: string[];
  notAfter: Date;
  daysLeft: number;
}

export interface TlsCertificatesOptions {
  /** The certificate for clients that send no SNI or a name no other certificate has. */
  default: CertificateFiles;
  /** More certificates, chosen by SNI. */
  extra?: CertificateFiles[];
  /** How often to check the files for changes; 0 or absent: never. */
  reloadIntervalMs?: number;
  /** A pair that changed but could not be loaded (the old one stays in use). */
  onReloadError?: (files: CertificateFiles, error: Error) => void;
  /** A pair that was reloaded. */
  onReloaded?: (info: CertificateInfo) => void;
}

function stampOf(files: CertificateFiles): string {
  return [files.certFile, files.keyFile]
    .map((f) => {
      const s = statSync(f);
      return `${s.size}:${s.mtimeMs}:${s.ino}`;
    })
    .join("|");
}

/** Reads and checks one pair; throws with a message naming the file on anything wrong. */
function loadPair(files: CertificateFiles): Loaded {
  const stamp = stampOf(files);
  const cert = readFileSync(files.certFile);
  const key = readFileSync(files.keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${files.certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  let context: SecureContext;
  try {
    // Also fails when the key does not belong to the certificate (a rotation caught halfway).
    context = createSecureContext({ cert, key, minVersion: "TLSv1.2" });
  } catch (err) {
    throw new Error(`${files.keyFile}: key unusable with ${files.certFile} (${(err as Error).message})`);
  }
  return { files, stamp, context, names: namesOf(x509), notAfter: new Date(x509.validTo) };
}

/** DNS names of subjectAltName, or the subject CN when there are none. */
function namesOf(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  const names = san
    ? san
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.startsWith("DNS:"))
        .map((s) => s.slice(4).toLowerCase())
    : [];
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn ? [cn.trim().toLowerCase()] : [];
}

const DAY_MS = 86_400_000;

export class TlsCertificates {
  #loaded: Loaded[];
  #timer: NodeJS.Timeout | undefined;

  /** Loads every pair; throws (naming the file) when one cannot be loaded at start. */
  constructor(private readonly opts: TlsCertificatesOptions) {
    this.#loaded = [opts.default, ...(opts.extra ?? [])].map(loadPair);
    if (opts.reloadIntervalMs && opts.reloadIntervalMs > 0) {
      this.#timer = setInterval(() => this.reload(), opts.reloadIntervalMs);
      this.#timer.unref();
    }
  }

  /** The default certificate's context (clients without SNI). */
  get context(): SecureContext {
    return this.#loaded[0]!.context;
  }

  /** The context for a requested server name: exact name, then wildcard, then the default. */
  forName(servername: string | undefined): SecureContext {
    if (!servername) return this.context;
    const name = servername.toLowerCase().replace(/\.$/, "");
    const wildcard = `*.${name.slice(name.indexOf(".") + 1)}`;
    const exact = this.#loaded.find((l) => l.names.includes(name));
    if (exact) return exact.context;
    const wild = name.includes(".") ? this.#loaded.find((l) => l.names.includes(wildcard)) : undefined;
    return (wild ?? this.#loaded[0]!).context;
  }

  /** For TLSSocket's SNICallback. */
  readonly sni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.forName(servername));
  };

  /**
   * Re-reads the pairs whose files changed; a pair that fails keeps its old
   * context (reported through onReloadError). Returns what was reloaded and
   * what failed.
   */
  reload(): { reloaded: string[]; failed: string[] } {
    const reloaded: string[] = [];
    const failed: string[] = [];
    this.#loaded = this.#loaded.map((current) => {
      let stamp: string;
      try {
        stamp = stampOf(current.files);
      } catch (err) {
        failed.push(current.files.certFile);
        this.opts.onReloadError?.(current.files, err as Error);
        return current;
      }
      if (stamp === current.stamp || stamp === current.failedStamp) return current;
      try {
        const next = loadPair(current.files);
        reloaded.push(current.files.certFile);
        this.opts.onReloaded?.(info(next));
        return next;
      } catch (err) {
        failed.push(current.files.certFile);
        this.opts.onReloadError?.(current.files, err as Error);
        return { ...current, failedStamp: stamp };
      }
    });
    return { reloaded, failed };
  }

  /** Every certificate in use with its names and expiry (the days-until-expiry metric). */
  certificates(): CertificateInfo[] {
    return this.#loaded.map(info);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function info(l: Loaded): CertificateInfo {
  return {
    certFile: l.files.certFile,
    names: l.names,
    notAfter: l.notAfter,
    daysLeft: (l.notAfter.getTime() - Date.now()) / DAY_MS,
  };
}

/** A single context from PEM files (no SNI, no reload). */
export function loadSecureContext(files: CertificateFiles): SecureContext {
  return createSecureContext({
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    minVersion: "TLSv1.2",
  });
}

/** TLSSocket server options for a context or a certificate set (current default + SNI). */
export function tlsServerOptions(source: TlsSource): {
  secureContext: SecureContext;
  SNICallback?: TlsCertificates["sni"];
} {
  if (source instanceof TlsCertificates) return { secureContext: source.context, SNICallback: source.sni };
  return { secureContext: source };
}

/**
 * Upgrades a plain connection after STARTTLS/STLS. Resolves once the handshake
 * completes; rejects (and destroys the socket) when it fails. The caller must
 * have stopped reading plaintext from `socket` and discarded anything buffered
 * after the command (RFC 3207 §4.2, RFC 9051 §6.2.1: no pipelining across it).
 */
export function upgradeToTls(
  socket: Socket,
  context: TlsSource,
  handshakeTimeoutMs = 30_000,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = new TLSSocket(socket, { isServer: true, ...tlsServerOptions(context) });
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

const shared = new WeakMap<object, TlsCertificates>();

/**
 * One certificate set per process and configuration (IMAP, POP3 and the SMTP
 * ports share the files, the reload timer and the metric).
 */
export function sharedTlsCertificates(key: object, opts: TlsCertificatesOptions): TlsCertificates {
  let found = shared.get(key);
  if (!found) {
    found = new TlsCertificates(opts);
    shared.set(key, found);
  }
  return found;
}

/** Stops the reload timer of `key`'s shared set (the runtime's close: no reload of files a test or shutdown removed). */
export function closeSharedTlsCertificates(key: object): void {
  shared.get(key)?.close();
  shared.delete(key);
}
