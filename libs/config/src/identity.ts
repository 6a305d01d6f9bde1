/**
 * Identity and onboarding settings (issue 23): OAuth 2.0 logins (OIDC issuer,
 * audience, claim), sub-addressing, the public names and ports client
 * autoconfiguration hands out, and TLS per hostname with hot reload.
 *
 * Kept apart from index.ts so this block grows without every branch editing
 * the one schema (as protocol-limits.ts does).
 */
import { z } from "zod";

const blankIsUnset = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

const whole = (def: number, min: number, hint: string) =>
  z.preprocess(
    blankIsUnset,
    z.coerce
      .number({ error: "expected a number" })
      .int("expected a whole number")
      .min(min, `expected ${hint}`)
      .max(Number.MAX_SAFE_INTEGER, "expected a smaller number")
      .default(def),
  );

const publicPort = (def: number) =>
  z.preprocess(
    blankIsUnset,
    z.coerce
      .number({ error: "expected a TCP port number" })
      .int("expected a whole number")
      .min(1, "expected a port from 1 to 65535")
      .max(65535, "expected a port from 1 to 65535")
      .default(def),
  );

const httpsUrl = z.preprocess(
  blankIsUnset,
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === "https:" || u.protocol === "http:";
      } catch {
        return false;
      }
    }, "expected an http(s):// URL")
    .optional(),
);

const flag = z.preprocess(
  blankIsUnset,
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const s = v.toLowerCase();
      if (["1", "true", "yes", "on"].includes(s)) return true;
      if (["0", "false", "no", "off"].includes(s)) return false;
      ctx.addIssue({ code: "custom", message: "expected true or false" });
      return z.NEVER;
    }),
);

export const identitySchema = {
  // ---- OAuth 2.0 SASL: OAUTHBEARER (RFC 7628) and XOAUTH2 (libs/auth oauth.ts) ----
  OIDC_ISSUER: httpsUrl,
  /** Default: the issuer's discovery document's jwks_uri. */
  OIDC_JWKS_URL: httpsUrl,
  OIDC_AUDIENCE: z.preprocess(blankIsUnset, z.string().optional()),
  OIDC_USERNAME_CLAIM: z.preprocess(blankIsUnset, z.string().default("email")),
  OIDC_JWKS_REFRESH_MS: whole(5 * 60_000, 1000, "at least 1000 milliseconds"),
  OIDC_JWKS_MAX_AGE_MS: whole(24 * 3_600_000, 1000, "at least 1000 milliseconds"),
  OIDC_CLOCK_SKEW_SECONDS: whole(60, 0, "a whole number of seconds ≥ 0"),
  OIDC_SINGLE_USE_TOKENS: flag,

  // ---- recipients (libs/store domains/resolve.ts) ----
  RECIPIENT_DELIMITER: z.preprocess(
    (v) => (v === undefined ? "+" : v),
    z
      .string()
      .max(8, "expected at most 8 separator characters")
      .regex(
        /^[^\s@"<>]*$/,
        "expected separator characters (not @, quotes, <> or spaces), or empty for none",
      ),
  ),

  // ---- client autoconfiguration (services/admin autoconfig.ts) ----
  PUBLIC_MAIL_HOST: z.preprocess(blankIsUnset, z.string().optional()),
  PUBLIC_IMAPS_PORT: publicPort(993),
  PUBLIC_POP3S_PORT: publicPort(995),
  PUBLIC_SUBMISSIONS_PORT: publicPort(465),
  PUBLIC_SUBMISSION_PORT: publicPort(587),

  // ---- TLS per hostname (libs/net tls.ts) ----
  TLS_SNI_CERTS: z.preprocess(
    blankIsUnset,
    z
      .string()
      .regex(/^[^,:]+:[^,:]+(,[^,:]+:[^,:]+)*$/, "expected a comma list of certfile:keyfile pairs")
      .optional(),
  ),
  TLS_RELOAD_INTERVAL_MS: whole(10_000, 0, "a whole number of milliseconds ≥ 0 (0 = never reload)"),
};

type Parsed = { [K in keyof typeof identitySchema]?: z.output<(typeof identitySchema)[K]> };

export interface OidcConfig {
  issuer: string;
  jwksUrl: string | undefined;
  audience: string;
  usernameClaim: string;
  jwksRefreshMs: number;
  jwksMaxAgeMs: number;
  clockSkewSeconds: number;
  singleUseTokens: boolean;
}

export interface IdentityConfig {
  /** Absent: OAUTHBEARER/XOAUTH2 are not offered. */
  oidc: OidcConfig | undefined;
  /** RFC 5233 separator characters; "" = no sub-addressing. */
  recipientDelimiter: string;
  /** What autoconfig/autodiscover/mobileconfig tell clients. */
  publicEndpoints: {
    host: string;
    imapsPort: number;
    pop3sPort: number;
    submissionsPort: number;
    submissionPort: number;
  };
  /** Extra certificates chosen by SNI (names from each certificate's subjectAltName). */
  sniCertificates: { certFile: string; keyFile: string }[];
  /** How often the certificate files are checked for changes; 0 = never. */
  tlsReloadIntervalMs: number;
}

export function identityProblems(e: Parsed, hasTls: boolean): { variable: string; message: string }[] {
  const problems: { variable: string; message: string }[] = [];
  if (e.OIDC_ISSUER && !e.OIDC_AUDIENCE)
    problems.push({ variable: "OIDC_AUDIENCE", message: "required when OIDC_ISSUER is set" });
  if ((e.OIDC_AUDIENCE || e.OIDC_JWKS_URL) && !e.OIDC_ISSUER)
    problems.push({
      variable: "OIDC_ISSUER",
      message: "required when OIDC_AUDIENCE or OIDC_JWKS_URL is set",
    });
  if (e.TLS_SNI_CERTS && !hasTls)
    problems.push({
      variable: "TLS_SNI_CERTS",
      message: "needs TLS_CERT_FILE and TLS_KEY_FILE (the default)",
    });
  return problems;
}

export function identityConfig(e: Parsed, hostname: string): IdentityConfig {
  return {
    oidc:
      e.OIDC_ISSUER && e.OIDC_AUDIENCE
        ? {
            issuer: e.OIDC_ISSUER,
            jwksUrl: e.OIDC_JWKS_URL,
            audience: e.OIDC_AUDIENCE,
            usernameClaim: e.OIDC_USERNAME_CLAIM ?? "email",
            jwksRefreshMs: e.OIDC_JWKS_REFRESH_MS ?? 300_000,
            jwksMaxAgeMs: e.OIDC_JWKS_MAX_AGE_MS ?? 86_400_000,
            clockSkewSeconds: e.OIDC_CLOCK_SKEW_SECONDS ?? 60,
            singleUseTokens: e.OIDC_SINGLE_USE_TOKENS ?? false,
          }
        : undefined,
    recipientDelimiter: e.RECIPIENT_DELIMITER ?? "+",
    publicEndpoints: {
      host: e.PUBLIC_MAIL_HOST ?? hostname,
      imapsPort: e.PUBLIC_IMAPS_PORT ?? 993,
      pop3sPort: e.PUBLIC_POP3S_PORT ?? 995,
      submissionsPort: e.PUBLIC_SUBMISSIONS_PORT ?? 465,
      submissionPort: e.PUBLIC_SUBMISSION_PORT ?? 587,
    },
    sniCertificates: (e.TLS_SNI_CERTS ?? "")
      .split(",")
      .filter(Boolean)
      .map((pair) => {
        const [certFile = "", keyFile = ""] = pair.split(":");
        return { certFile: certFile.trim(), keyFile: keyFile.trim() };
      }),
    tlsReloadIntervalMs: e.TLS_RELOAD_INTERVAL_MS ?? 10_000,
  };
}

export const IDENTITY_VARIABLES = Object.keys(identitySchema);
