// Per-part MIME header interpretation and the BODY/BODYSTRUCTURE builder.
//
// Rules (RFC 2045, RFC 2046, RFC 3501 §7.4.2), with the reference server's
// (Dovecot) answers for the cases the RFCs leave open:
//  * Content-* fields count only in a MIME entity: a part of a multipart, or a
//    message with MIME-Version or with a Content-Type field; otherwise the
//    part is text/plain; charset=us-ascii, 7bit, with no extension data;
//  * missing Content-Type: text/plain (RFC 2045 §5.2), but message/rfc822
//    inside multipart/digest (RFC 2046 §5.1.5);
//  * of duplicated Content-* fields the first one wins;
//  * type and subtype are reported as written; an unparseable Content-Type
//    is reported as far as it could be read (possibly "" ""), without
//    parameters;
//  * past the nesting limit, multiparts and messages are opaque
//    application/octet-stream.
import { byteStringToText } from "./charset.ts";
import { decodeEncodedWords } from "./encoded-word.ts";
import { buildEnvelope } from "./envelope.ts";
import { type HeaderField, parseHeaderBlock, stripNuls } from "./header.ts";
import {
  type ContentType,
  decodeParamValue,
  findParam,
  parseContentType,
  parseDisposition,
  parseLanguage,
  parseTransferEncoding,
} from "./params.ts";
import type { BodyStructure, Disposition, Envelope } from "./serializer.ts";
import { BOUNDARY_MAX_LEN, type HeaderVerdict, PartKind, type RawPart } from "./splitter.ts";

export const FLAG_TEXT = 1;
export const FLAG_MULTIPART = 2;
export const FLAG_MESSAGE = 4;
export const FLAG_DIGEST = 8;
/** Over the nesting limit: a multipart or message reported as application/octet-stream. */
export const FLAG_TRUNCATED = 16;
/** message/global (RFC 6532 §3.5): parsed like message/rfc822, reported as a basic body. */
export const FLAG_GLOBAL = 32;

export interface PartInfo {
  contentType: ContentType | null;
  id: string | null;
  description: string | null;
  encoding: string | null;
  md5: string | null;
  disposition: Disposition | null;
  language: string[] | null;
  location: string | null;
  flags: number;
  /** Envelope, for the top-level message and encapsulated messages. */
  envelope: Envelope | null;
  /** Fields of the top-level header (kept for search); null elsewhere. */
  fields: HeaderField[] | null;
}

export function emptyPartInfo(): PartInfo {
  return {
    contentType: null,
    id: null,
    description: null,
    encoding: null,
    md5: null,
    disposition: null,
    language: null,
    location: null,
    flags: FLAG_TEXT,
    envelope: null,
    fields: null,
  };
}

function typeString(ct: ContentType): string {
  return ct.subtype === "" ? ct.type : `${ct.type}/${ct.subtype}`;
}

/** Is this part a message (top level or encapsulated), i.e. does it get an envelope? */
function isMessagePart(part: RawPart<PartInfo>): boolean {
  return part.parent === null || part.parent.kind === PartKind.Message;
}

/**
 * Interprets one part's header. `previewBytes(part, info)` says how many
 * body bytes to capture for the preview (0: none).
 */
export function analysePart(
  header: Buffer,
  part: RawPart<PartInfo>,
  canNest: boolean,
  previewBytes: (part: RawPart<PartInfo>, info: PartInfo) => number,
): HeaderVerdict<PartInfo> {
  const fields = parseHeaderBlock(header.toString("latin1"));
  const info = emptyPartInfo();
  info.flags = 0;
  let isMime = part.inMultipart;
  let seenContentType = false;
  for (const f of fields) {
    const name = f.name.toLowerCase();
    if (name === "mime-version") {
      isMime = true;
      continue;
    }
    if (!name.startsWith("content-")) continue;
    switch (name) {
      case "content-type":
        isMime = true;
        if (!seenContentType) {
          seenContentType = true;
          info.contentType = parseContentType(f.value);
        }
        break;
      case "content-transfer-encoding":
        if (info.encoding === null) info.encoding = parseTransferEncoding(f.value);
        break;
      case "content-id":
        if (info.id === null) info.id = stripNuls(f.value);
        break;
      case "content-description":
        if (info.description === null) info.description = stripNuls(f.value);
        break;
      case "content-md5":
        if (info.md5 === null) info.md5 = stripNuls(f.value);
        break;
      case "content-location":
        if (info.location === null) info.location = stripNuls(f.value);
        break;
      case "content-language":
        if (info.language === null) info.language = parseLanguage(f.value);
        break;
      case "content-disposition":
        // a later field replaces one without parameters (reference behaviour)
        if (info.disposition === null || info.disposition.params.length === 0) {
          info.disposition = parseDisposition(f.value) ?? info.disposition;
        }
        break;
    }
  }
  if (isMessagePart(part)) {
    info.envelope = buildEnvelope(fields);
    if (part.parent === null) info.fields = fields;
  }
  if (!isMime) {
    // RFC 2045 §4: without MIME-Version (or Content-Type) Content-* mean nothing
    const env = info.envelope;
    const top = info.fields;
    Object.assign(info, emptyPartInfo());
    info.envelope = env;
    info.fields = top;
    info.flags = 0;
  }
  const ct = info.contentType;
  let boundary: Buffer | undefined;
  if (ct !== null && isMime) {
    const ts = typeString(ct).toLowerCase();
    if (ts === "message/rfc822") info.flags |= FLAG_MESSAGE;
    else if (ts.startsWith("text") && (ts.length === 4 || ts[4] === "/")) info.flags |= FLAG_TEXT;
    else if (ts.startsWith("multipart/")) {
      info.flags |= FLAG_MULTIPART;
      if (ts === "multipart/digest") info.flags |= FLAG_DIGEST;
      const b = findParam(ct.params, "boundary");
      if (b !== undefined && b[0].toLowerCase() === "boundary") {
        boundary = Buffer.from(b[1].slice(0, BOUNDARY_MAX_LEN), "latin1");
      }
    } else if (ts === "message/global") {
      const enc = (info.encoding ?? "7bit").toLowerCase();
      if (enc === "7bit" || enc === "8bit" || enc === "binary") info.flags |= FLAG_GLOBAL;
    }
  } else if (part.parent !== null && (part.parent.info.flags & FLAG_DIGEST) !== 0 && part.inMultipart) {
    info.flags |= FLAG_MESSAGE; // RFC 2046 §5.1.5
  } else {
    info.flags |= FLAG_TEXT;
  }
  let kind = PartKind.Leaf;
  if (info.flags & FLAG_MULTIPART) kind = PartKind.Multipart;
  else if (info.flags & (FLAG_MESSAGE | FLAG_GLOBAL)) kind = PartKind.Message;
  if (!canNest && (info.flags & (FLAG_MULTIPART | FLAG_MESSAGE)) !== 0) {
    info.flags = (info.flags & ~(FLAG_MULTIPART | FLAG_MESSAGE | FLAG_DIGEST)) | FLAG_TRUNCATED;
  }
  if (!canNest) info.flags &= ~FLAG_GLOBAL;
  const verdict: HeaderVerdict<PartInfo> = { info, kind };
  if (boundary !== undefined) verdict.boundary = boundary;
  if (kind === PartKind.Leaf) {
    const n = previewBytes(part, info);
    if (n > 0) verdict.capture = n;
  }
  return verdict;
}

/** Effective lower-case media type of a part, as the part tree reports it. */
export function mediaType(info: PartInfo): string {
  if (info.flags & FLAG_TRUNCATED) return "application/octet-stream";
  if (info.flags & FLAG_MESSAGE) return "message/rfc822";
  const ct = info.contentType;
  if (ct === null) return "text/plain";
  return byteStringToText(typeString(ct)).toLowerCase();
}

/** Decoded charset parameter; "us-ascii" default for text without one. */
export function partCharset(info: PartInfo): string | null {
  const ct = info.contentType;
  const p = ct === null ? undefined : findParam(ct.params, "charset");
  if (p !== undefined) return decodeParamValue(p, byteStringToText).trim().toLowerCase();
  return info.flags & FLAG_TEXT ? "us-ascii" : null;
}

/** Decoded file name: Content-Disposition filename, else Content-Type name. */
export function partFilename(info: PartInfo): string | null {
  const p =
    (info.disposition === null ? undefined : findParam(info.disposition.params, "filename")) ??
    (info.contentType === null ? undefined : findParam(info.contentType.params, "name"));
  return p === undefined ? null : decodeParamValue(p, decodeEncodedWords);
}

/** Builds the BODYSTRUCTURE tree of a split message. */
export function buildBodyStructure(part: RawPart<PartInfo>): BodyStructure {
  const info = part.info;
  const ct = info.contentType;
  const bs: BodyStructure = {
    type: "text",
    subtype: "plain",
    params: ct?.params ?? [],
    id: info.id,
    description: info.description,
    encoding: info.encoding,
    size: part.bodyEnd - part.bodyStart,
    lines: part.lines,
    md5: info.md5,
    disposition: info.disposition,
    language: info.language,
    location: info.location,
  };
  if (info.flags & FLAG_MULTIPART) {
    bs.type = "multipart";
    bs.subtype = ct?.subtype ?? "mixed";
    bs.parts = part.children.map(buildBodyStructure);
    return bs;
  }
  if (info.flags & FLAG_MESSAGE) {
    bs.type = "message";
    bs.subtype = "rfc822";
    const child = part.children[0]!;
    bs.envelope = child.info.envelope ?? buildEnvelope([]);
    bs.body = buildBodyStructure(child);
    return bs;
  }
  if (info.flags & FLAG_TRUNCATED) {
    bs.type = "application";
    bs.subtype = "octet-stream";
  } else if (ct !== null) {
    bs.type = ct.type;
    bs.subtype = ct.subtype;
  }
  return bs;
}
