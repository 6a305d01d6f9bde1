/**
 * Client autoconfiguration on the HTTP port (issue 23), no token needed: what
 * mail clients fetch before the user has logged in.
 *
 *   GET  /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@d   Thunderbird
 *   GET  /mail/config-v1.1.xml?emailaddress=a@d                          Thunderbird via autoconfig.<domain>
 *   POST /autodiscover/autodiscover.xml (and /Autodiscover/Autodiscover.xml)  Outlook POX
 *   GET  /apple/mobileconfig?emailaddress=a@d                            Apple .mobileconfig profile
 *
 * Only implicit TLS endpoints are offered (RFC 8314 §3: prefer implicit TLS
 * for submission and access), with STARTTLS submission on 587 as a fallback
 * for Thunderbird. Hosts and ports come from PUBLIC_* settings, never from the
 * request. The domain must be one we host: we don't hand out settings for
 * other providers' users (and an unknown one gets 404).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Store } from "@aerogram/store";

export interface PublicEndpoints {
  host: string;
  imapsPort: number;
  pop3sPort: number;
  submissionsPort: number;
  submissionPort: number;
}

export interface AutoconfigOptions {
  store: Store;
  endpoints: PublicEndpoints;
  /** Shown in Thunderbird's dialog; default: the domain. */
  displayName?: string;
}

const THUNDERBIRD_PATHS = new Set(["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"]);
const AUTODISCOVER_PATHS = new Set(["/autodiscover/autodiscover.xml"]);
const MOBILECONFIG_PATH = "/apple/mobileconfig";
/** Autodiscover requests are small XML documents; anything larger is refused. */
const MAX_BODY = 16 * 1024;

export function isAutoconfigPath(url: string | undefined): boolean {
  const path = ((url ?? "/").split("?")[0] ?? "/").toLowerCase();
  return THUNDERBIRD_PATHS.has(path) || AUTODISCOVER_PATHS.has(path) || path === MOBILECONFIG_PATH;
}

function xml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!,
  );
}

const ADDRESS = /^[^\s@<>"]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/i;

function parseAddress(raw: string | null | undefined): { address: string; domain: string } | undefined {
  const address = (raw ?? "").trim();
  if (address.length > 320 || !ADDRESS.test(address)) return undefined;
  return { address, domain: address.slice(address.lastIndexOf("@") + 1).toLowerCase() };
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...extra,
  });
  res.end(body);
}

export function thunderbirdConfig(e: PublicEndpoints, domain: string, displayName: string): string {
  // %EMAILADDRESS% is Thunderbird's placeholder for what the user typed.
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${xml(domain)}">
    <domain>${xml(domain)}</domain>
    <displayName>${xml(displayName)}</displayName>
    <displayShortName>${xml(displayName)}</displayShortName>
    <incomingServer type="imap">
      <hostname>${xml(e.host)}</hostname>
      <port>${e.imapsPort}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>${xml(e.host)}</hostname>
      <port>${e.pop3sPort}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>${xml(e.host)}</hostname>
      <port>${e.submissionsPort}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>${xml(e.host)}</hostname>
      <port>${e.submissionPort}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`;
}

export function autodiscoverResponse(e: PublicEndpoints, address: string): string {
  const protocol = (type: string, port: number) => `      <Protocol>
        <Type>${type}</Type>
        <Server>${xml(e.host)}</Server>
        <Port>${port}</Port>
        <LoginName>${xml(address)}</LoginName>
        <DomainRequired>off</DomainRequired>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <AuthRequired>on</AuthRequired>
      </Protocol>`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
${protocol("IMAP", e.imapsPort)}
${protocol("POP3", e.pop3sPort)}
${protocol("SMTP", e.submissionsPort)}
    </Account>
  </Response>
</Autodiscover>
`;
}

function autodiscoverError(code: number, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response>
    <Error Time="${new Date().toISOString().slice(11, 19)}" Id="${randomUUID()}">
      <ErrorCode>${code}</ErrorCode>
      <Message>${xml(message)}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
`;
}

/** The EMailAddress of an Outlook POX request; undefined when the document is not one. */
export function parseAutodiscoverRequest(body: string): string | undefined {
  if (!/<Autodiscover\b[^>]*>[\s\S]*<\/Autodiscover>/.test(body)) return undefined;
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) return undefined; // no DTDs, no entity expansion
  const m = /<EMailAddress>\s*([^<]{1,320}?)\s*<\/EMailAddress>/.exec(body);
  return m?.[1];
}

export function mobileconfig(
  e: PublicEndpoints,
  address: string,
  domain: string,
  displayName: string,
): string {
  const reversed = domain.split(".").reverse().join(".");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountDescription</key><string>${xml(address)}</string>
      <key>EmailAccountName</key><string>${xml(address)}</string>
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>
      <key>EmailAddress</key><string>${xml(address)}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>IncomingMailServerHostName</key><string>${xml(e.host)}</string>
      <key>IncomingMailServerPortNumber</key><integer>${e.imapsPort}</integer>
      <key>IncomingMailServerUseSSL</key><true/>
      <key>IncomingMailServerUsername</key><string>${xml(address)}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>${xml(e.host)}</string>
      <key>OutgoingMailServerPortNumber</key><integer>${e.submissionsPort}</integer>
      <key>OutgoingMailServerUseSSL</key><true/>
      <key>OutgoingMailServerUsername</key><string>${xml(address)}</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadDescription</key><string>Mail account ${xml(address)}</string>
      <key>PayloadDisplayName</key><string>${xml(displayName)}</string>
      <key>PayloadIdentifier</key><string>${xml(reversed)}.mail.${xml(address)}</string>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadUUID</key><string>${randomUUID().toUpperCase()}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDisplayName</key><string>${xml(displayName)} mail</string>
  <key>PayloadIdentifier</key><string>${xml(reversed)}.mail</string>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>${randomUUID().toUpperCase()}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
`;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The handler; call only for isAutoconfigPath(req.url). Never throws. */
export function createAutoconfig(
  opts: AutoconfigOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const hosted = async (domain: string) => opts.store.accounts.isLocalDomain(domain);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://autoconfig.invalid");
    const path = url.pathname.toLowerCase();
    if (AUTODISCOVER_PATHS.has(path)) {
      const xmlType = "text/xml; charset=utf-8";
      if (req.method !== "POST")
        return send(res, 405, "text/plain", "POST an Autodiscover request\n", { allow: "POST" });
      const body = await readBody(req);
      if (body === undefined) return send(res, 413, xmlType, autodiscoverError(600, "Request too large"));
      const given = parseAutodiscoverRequest(body);
      const parsed = given === undefined ? undefined : parseAddress(given);
      if (!parsed) return send(res, 400, xmlType, autodiscoverError(600, "Invalid Request"));
      if (!(await hosted(parsed.domain)))
        return send(res, 404, xmlType, autodiscoverError(500, "The e-mail address cannot be found."));
      return send(res, 200, xmlType, autodiscoverResponse(opts.endpoints, parsed.address));
    }
    if (req.method !== "GET" && req.method !== "HEAD")
      return send(res, 405, "text/plain", "GET only\n", { allow: "GET, HEAD" });
    const given = url.searchParams.get("emailaddress");
    // autoconfig.<domain> without ?emailaddress=: the Host header names the domain.
    const hostDomain = (req.headers.host ?? "")
      .replace(/:\d+$/, "")
      .toLowerCase()
      .replace(/^autoconfig\./, "");
    const parsed = given ? parseAddress(given) : parseAddress(`user@${hostDomain}`);
    if (!parsed) return send(res, 400, "text/plain", "expected ?emailaddress=local@domain\n");
    if (!(await hosted(parsed.domain))) return send(res, 404, "text/plain", "not a domain hosted here\n");
    const name = opts.displayName ?? parsed.domain;
    if (path === MOBILECONFIG_PATH) {
      if (!given) return send(res, 400, "text/plain", "expected ?emailaddress=local@domain\n");
      return send(
        res,
        200,
        "application/x-apple-aspen-config",
        mobileconfig(opts.endpoints, parsed.address, parsed.domain, name),
        {
          "content-disposition": `attachment; filename="${parsed.domain}.mobileconfig"`,
        },
      );
    }
    return send(res, 200, "text/xml; charset=utf-8", thunderbirdConfig(opts.endpoints, parsed.domain, name));
  };
  return (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 503, "text/plain", "temporarily unavailable\n");
      else res.destroy();
    });
  };
}
