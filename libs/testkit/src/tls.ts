/** A throwaway self-signed certificate (openssl) for TLS tests. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** Writes a one-day self-signed certificate and its key into `dir`; returns the PEM file paths. */
export function selfSignedCertificate(
  dir: string,
  commonName = "aerogram.test",
): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${commonName}.crt`);
  const keyFile = join(dir, `${commonName}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "1",
      "-subj",
      `/CN=${commonName}`,
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}
