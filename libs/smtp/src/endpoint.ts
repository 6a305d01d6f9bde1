/**
 * Where and how an SMTP service listens (SMTP-in and submission alike), and
 * the part of it every SMTP service takes from the config.
 */
import { readFileSync } from "node:fs";
import type { Config } from "@aerogram/config";
import type { ProxyProtocolOptions, TlsCertificates } from "@aerogram/net";

/** Where and how an SMTP service listens: SMTP-in and submission alike. */
export interface SmtpEndpointOptions {
  /** Plain port (STARTTLS when TLS is configured), 0 = any. */
  port: number;
  /** Implicit-TLS port (RFC 8314), needs TLS. */
  securePort: number | undefined;
  bindAddress: string;
  /** Our name in the greeting and trace headers. */
  hostname: string;
  /** `certificates`: per-SNI certificates reloaded from their files (libs/net TlsCertificates). */
  tls: { key: Buffer; cert: Buffer; certificates?: TlsCertificates } | undefined;
  /**
   * PROXY protocol v1/v2 on both ports (config.proxyProtocol): the client's
   * address from the header is the session's, in limits, logs, Received and
   * Authentication-Results. Unset: no header expected.
   */
  proxyProtocol: ProxyProtocolOptions | undefined;
}

/** The endpoint settings every SMTP service takes from the config (the ports are its own). */
export function endpointFromConfig(
  c: Config,
  certificates?: TlsCertificates,
): Pick<SmtpEndpointOptions, "bindAddress" | "hostname" | "tls" | "proxyProtocol"> {
  return {
    bindAddress: c.bindAddress,
    hostname: c.hostname,
    tls: c.tls
      ? {
          key: readFileSync(c.tls.keyFile),
          cert: readFileSync(c.tls.certFile),
          ...(certificates ? { certificates } : {}),
        }
      : undefined,
    proxyProtocol: c.proxyProtocol,
  };
}
