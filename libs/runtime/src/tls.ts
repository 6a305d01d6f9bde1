/**
 * The process's TLS certificates (issue 23): TLS_CERT_FILE/TLS_KEY_FILE as the
 * default, TLS_SNI_CERTS chosen by SNI, reloaded every TLS_RELOAD_INTERVAL_MS
 * when the files change (libs/net tls.ts). One set per runtime, shared by
 * IMAP, POP3 and the SMTP ports, with the days-until-expiry gauge
 * `aerogram_tls_certificate_expiry_days{name}` (the alert in deploy/ fires
 * below 14 days) and a log line per reload or failed reload.
 */
import { sharedTlsCertificates, type TlsCertificates } from "@aerogram/net";
import { sharedGauge } from "@aerogram/observability";
import type { Runtime } from "./index.ts";

export function runtimeTls(
  runtime: Pick<Runtime, "config" | "log" | "metrics">,
): TlsCertificates | undefined {
  const { config, log } = runtime;
  if (!config.tls) return undefined;
  const certs = sharedTlsCertificates(config, {
    default: config.tls,
    extra: config.identity.sniCertificates,
    reloadIntervalMs: config.identity.tlsReloadIntervalMs,
    onReloaded: (c) =>
      log.info({ file: c.certFile, names: c.names, notAfter: c.notAfter }, "TLS certificate reloaded"),
    onReloadError: (files, err) =>
      log.warn({ err, file: files.certFile }, "TLS certificate not reloaded; the previous one stays in use"),
  });
  const gauge = sharedGauge(runtime.metrics, {
    name: "aerogram_tls_certificate_expiry_days",
    help: "Days until each TLS certificate in use expires (by its first DNS name)",
    labelNames: ["name"],
    collect() {
      this.reset();
      for (const c of certs.certificates()) this.set({ name: c.names[0] ?? c.certFile }, c.daysLeft);
    },
  });
  void gauge;
  return certs;
}
