/**
 * SPF, DKIM and DMARC verdicts for a received message (mailauth), recorded in
 * Authentication-Results (RFC 8601) and Received-SPF (RFC 7208 §9.1) headers.
 * Verdicts are recorded, never enforced here, and never block delivery: the
 * whole check is time-boxed, and when it runs out of time or fails every
 * method is recorded as temperror.
 */
import type { Readable } from "node:stream";
import { authenticate } from "mailauth";
import type { DnsLookup } from "./dns-resolver.ts";

export interface AuthInput {
  /** The client's IP address. */
  ip: string;
  /** HELO/EHLO name. */
  helo: string;
  /** MAIL FROM ("" for the null reverse-path). */
  sender: string;
  /** Our host name: the authserv-id. */
  hostname: string;
}

export interface AuthVerdicts {
  spf: string;
  dkim: string;
  dmarc: string;
  /** Header lines to prepend, CRLF-terminated. */
  headers: string;
}

export interface AuthCheckOptions {
  resolver: DnsLookup;
  /** Upper bound for the whole check (ms). */
  timeBoxMs: number;
}

/** RFC 8601 §2.2 authserv-id / value: keep header injection out of what a client chose. */
function token(s: string): string {
  return s.replace(/[^\w.@+:[\]-]/g, "") || "unknown";
}

function temperror(input: AuthInput, why: string): AuthVerdicts {
  const from = input.sender ? ` smtp.mailfrom=${token(input.sender)}` : "";
  return {
    spf: "temperror",
    dkim: "temperror",
    dmarc: "temperror",
    headers:
      `Authentication-Results: ${token(input.hostname)};\r\n` +
      ` spf=temperror (${why})${from};\r\n dkim=temperror (${why});\r\n dmarc=temperror (${why})\r\n`,
  };
}

export async function checkAuthentication(
  message: Readable,
  input: AuthInput,
  opts: AuthCheckOptions,
): Promise<AuthVerdicts> {
  let timer: NodeJS.Timeout | undefined;
  const timeBox = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), opts.timeBoxMs);
  });
  const check = authenticate(message, {
    ip: input.ip,
    helo: input.helo,
    sender: input.sender,
    mta: input.hostname,
    resolver: opts.resolver as never,
    disableArc: true,
    disableBimi: true,
  }).catch((err: Error) => err);
  try {
    const r = await Promise.race([check, timeBox]);
    if (r === "timeout") {
      message.destroy();
      return temperror(input, "checks timed out");
    }
    if (r instanceof Error) return temperror(input, "check failed");
    const dkimResults = r.dkim?.results ?? [];
    const dkim = dkimResults.some((x) => x.status?.result === "pass")
      ? "pass"
      : (dkimResults[0]?.status?.result ?? "none");
    return {
      spf: r.spf ? String(r.spf.status?.result ?? "none") : "none",
      dkim: String(dkim),
      dmarc: r.dmarc ? String(r.dmarc.status?.result ?? "none") : "none",
      headers: r.headers.endsWith("\r\n") ? r.headers : `${r.headers}\r\n`,
    };
  } finally {
    clearTimeout(timer);
  }
}
